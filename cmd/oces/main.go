// Command oces is the OCES PKI: key ceremonies, the CA, and (as they land)
// its status, time-stamping and signing services. main only parses flags and
// configuration and wires the packages together.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/oces-pki/oces/api"
	"github.com/oces-pki/oces/internal/conf"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "oces:", err)
		os.Exit(exitCode(err))
	}
}

// Exit codes: the table in api/errors.go, shared with the HTTP status.
const (
	exitFailure  = api.ExitFailure
	exitUsage    = api.ExitUsage // bad flags or configuration
	exitNotFound = api.ExitNotFound
	exitInvalid  = api.ExitInvalid  // the request was refused as invalid
	exitConflict = api.ExitConflict // the current state forbids the request
	exitDenied   = api.ExitDenied   // authentication failed or the role may not do this
)

func exitCode(err error) int {
	var ce *conf.Error
	var ue *usageError
	if errors.As(err, &ue) || errors.As(err, &ce) {
		return exitUsage
	}
	if errors.Is(err, errNotPassed) { // oces verify: not every signature is TOTAL-PASSED
		return exitInvalid
	}
	return api.ExitCode(err)
}

// usageError is a mistake in how a command was called.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// globals are the flags every command takes.
type globals struct {
	output string // text or json
}

func newRootCommand() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "oces",
		Short:         "OCES PKI: certificates for citizens, employees, organisations and systems",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if g.output != "text" && g.output != "json" {
				return usagef("--output must be text or json, not %q", g.output)
			}
			return nil
		},
	}
	root.PersistentFlags().StringVarP(&g.output, "output", "o", "text", "output format: text or json")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err.Error()} })
	root.AddCommand(newCeremonyCommand(g), newCertCommand(g), newServeCommand(g), newTSACommand(g), newCRLCommand(g), newAuditCommand(g), newSignCommand(g), newSubjectCommand(g), newCitizenCommand(g), newVerifyCommand(g), newStoreCommand(g))
	return root
}
