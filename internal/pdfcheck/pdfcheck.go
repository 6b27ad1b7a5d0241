// Package pdfcheck runs independent PDF and CMS implementations on files
// the project writes and returns what they said, for tests: poppler's
// pdfsig, qpdf --check, pdfcpu validate and signatures validate, Apache
// PDFBox with Bouncy Castle (through a small Java program compiled once per
// test binary), and openssl cms and ts. Signatures are those of ISO 32000-1
// clause 12.8 and ETSI EN 319 142-1 (PAdES: ETSI.CAdES.detached, and
// ETSI.RFC3161 document time-stamps), CMS that of RFC 5652, time-stamp
// tokens those of RFC 3161.
//
// A helper whose tool is missing skips the test, or fails it when Require
// says so. Helpers named ...Err return the tool's verdict as an error
// instead of failing, for tests that expect a rejection. Only _test.go
// files import this package.
package pdfcheck

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Require reports whether missing tools fail (OCES_REQUIRE_TOOLS=1 or
// CI=true) or skip the test.
func Require() bool {
	return os.Getenv("OCES_REQUIRE_TOOLS") == "1" || os.Getenv("CI") == "true"
}

// missing skips or fails tb because a tool is not installed.
func missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...) + "; install it with scripts/deps.sh --test"
	if Require() {
		tb.Fatalf("pdfcheck: %s", msg)
	}
	tb.Skipf("pdfcheck: %s", msg)
}

// lookPath finds name on PATH or skips or fails tb.
func lookPath(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(tb, "%s not found in PATH", name)
	}
	return p
}

// moduleRoot is the directory of the go.mod above the working directory
// (a test's working directory is its package's).
var moduleRoot = sync.OnceValue(func() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
})

// toolTimeout bounds every tool run; a hung tool fails the test instead of
// the whole test binary's timeout.
const toolTimeout = 2 * time.Minute

// result is one finished tool run.
type result struct {
	stdout, stderr string
	code           int // exit code; -1 if the tool did not run to an exit
}

func (r result) combined() string {
	if r.stderr == "" {
		return r.stdout
	}
	return r.stdout + r.stderr
}

// run runs a tool with env added to the environment; it fails tb only if
// the tool could not be started or timed out, never for an exit code.
func run(tb testing.TB, env []string, name string, args ...string) result {
	tb.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		tb.Fatalf("pdfcheck: starting %s: %v", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(toolTimeout):
		_ = cmd.Process.Kill()
		<-done
		tb.Fatalf("pdfcheck: %s %s did not finish within %v", name, strings.Join(args, " "), toolTimeout)
	}
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		tb.Fatalf("pdfcheck: running %s: %v", name, err)
	}
	return r
}

// writeTemp writes data into a new file in tb's temporary directory.
func writeTemp(tb testing.TB, name string, data []byte) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		tb.Fatalf("pdfcheck: %v", err)
	}
	return p
}
