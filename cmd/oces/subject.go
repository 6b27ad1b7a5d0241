package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/oces-pki/oces/api"
	"github.com/oces-pki/oces/internal/conf"
)

// MatchCPRConfig lets relying parties ask the PID-CPR match
// (POST /api/v1/subjects/match-cpr; docs/api.md).
type MatchCPRConfig struct {
	// RelyingParties are the service providers allowed: "sha256:<hex>" of
	// their VOCES/FOCES (or OCES3 organisation/system) certificate, or its
	// subject serialNumber ("CVR:12345678-UID:…").
	RelyingParties []string `yaml:"relying_parties"`
	Rate           float64  `yaml:"rate"`  // questions a second per certificate; default 1
	Burst          int      `yaml:"burst"` // at once; default 10
}

func (m *MatchCPRConfig) validate() error {
	for i, c := range m.RelyingParties {
		f := fmt.Sprintf("match_cpr.relying_parties[%d]", i)
		if hexFP, ok := strings.CutPrefix(c, "sha256:"); ok {
			if len(hexFP) != 64 || strings.Trim(hexFP, "0123456789abcdef") != "" {
				return conf.Errorf(f, "sha256: must be followed by 64 lower-case hexadecimal digits")
			}
			continue
		}
		if !strings.HasPrefix(c, "CVR:") && !strings.HasPrefix(c, "UI:") {
			return conf.Errorf(f, "must be sha256:<fingerprint> or a certificate's serialNumber (CVR:…-UID:…, CVR:…-FID:…, UI:DK-O:…); a whole CVR number is not accepted")
		}
	}
	switch {
	case m.Rate < 0 || m.Rate > 1000:
		return conf.Errorf("match_cpr.rate", "must be between 0 (default 1 a second) and 1000")
	case m.Burst < 0 || m.Burst > 10000:
		return conf.Errorf("match_cpr.burst", "must be between 0 (default 10) and 10000")
	}
	return nil
}

// access is the API's view, or nil when no relying party is configured.
func (m *MatchCPRConfig) access() *api.RelyingPartyAccess {
	if len(m.RelyingParties) == 0 {
		return nil
	}
	return &api.RelyingPartyAccess{Clients: m.RelyingParties, Rate: m.Rate, Burst: m.Burst}
}

func newSubjectCommand(g *globals) *cobra.Command {
	cc := &certCommand{g: g}
	cmd := &cobra.Command{
		Use:   "subject",
		Short: "The subject registry through the admin API: look-ups and the PID-CPR match",
		Long: `The subject commands are clients of the admin API of 'oces serve', as CA officer or,
for match-cpr, as a relying party on the allow-list (match_cpr.relying_parties) with
its organisation or system certificate in --cert and --key.`,
	}
	cc.addFlags(cmd.PersistentFlags())
	var cprFile string
	match := &cobra.Command{
		Use:   "match-cpr PID",
		Short: "Ask whether a PID belongs to a CPR number (read from standard input); yes or no",
		Long: `Reads the CPR number from standard input (or --cpr-file, or a prompt on the
terminal), never from a flag, and prints yes or no. The question is in the audit
chain with the PID, never the CPR number.`,
		Example: `  echo 010190-1234 | oces subject match-cpr PID:9208-2002-2-123456789012`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cpr, err := readPrivate(cmd, cprFile, "CPR number")
			if err != nil {
				return err
			}
			return cc.call(cmd, func(cl *api.Client) error {
				ok, err := cl.MatchCPR(cmd.Context(), args[0], cpr)
				if err != nil {
					return err
				}
				return g.printer(cmd.OutOrStdout()).print(api.MatchCPRResponse{Match: ok}, func(w io.Writer) error {
					answer := "no"
					if ok {
						answer = "yes"
					}
					_, err := fmt.Fprintln(w, answer)
					return err
				})
			})
		},
	}
	match.Flags().StringVar(&cprFile, "cpr-file", "-", "read the CPR number from this file (- : standard input or a prompt)")
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a registry entry (never a CPR number or key)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cc.call(cmd, func(cl *api.Client) error {
				s, err := cl.Subject(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return g.printer(cmd.OutOrStdout()).print(s, func(w io.Writer) error {
					return fields(w, "id", s.ID, "kind", string(s.Kind), "cvr", s.CVR, "name", s.Name, "created", s.Created.Format(time.RFC3339))
				})
			})
		},
	}
	cmd.AddCommand(match, show)
	return cmd
}
