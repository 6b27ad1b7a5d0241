// Package p11shim builds and drives a PKCS#11 fault-injection module for
// tests: c/shim.c wraps SoftHSM2's function list (PKCS#11 v2.40 section 5.2,
// C_GetFunctionList) and, on command, makes the session functions return
// CKR_DEVICE_ERROR or CKR_SESSION_HANDLE_INVALID, or closes every session
// of the token under its user, as a failing or restarted HSM does.
//
// The module is compiled with gcc at test time (one copy per test, each with
// its own control file) against the PKCS#11 headers that ship with
// github.com/miekg/pkcs11. Point a key URI's module-path at Path; the real
// module is SoftHSM2's, or the one named by OCES_P11SHIM_MODULE in the
// environment of the process that loads the shim.
package p11shim

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

//go:embed c/shim.c
var source []byte

// Commands the shim understands.
const (
	DeviceError    = "device_error"    // the next n session calls fail with CKR_DEVICE_ERROR
	SessionInvalid = "session_invalid" // the next n fail with CKR_SESSION_HANDLE_INVALID
	CloseSessions  = "close_sessions"  // every session of every token is closed, once
	Off            = "off"             // no more faults
)

// Forever, as the count of DeviceError or SessionInvalid, injects the fault
// into every call until the next command.
const Forever = -1

// Shim is one compiled copy of the module.
type Shim struct {
	Path string // the shared library, for module-path
	mu   sync.Mutex
	seq  int
}

// Build compiles the shim into a temporary directory of tb. It skips the
// test if gcc is missing, unless OCES_REQUIRE_SOFTHSM=1 (make test), where
// it fails.
func Build(tb testing.TB) *Shim {
	tb.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		if os.Getenv("OCES_REQUIRE_SOFTHSM") == "1" {
			tb.Fatal("p11shim: gcc not installed; scripts/deps.sh installs it")
		}
		tb.Skip("p11shim: gcc not installed")
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/miekg/pkcs11").Output()
	if err != nil {
		tb.Fatalf("p11shim: finding the PKCS#11 headers of github.com/miekg/pkcs11: %v", err)
	}
	headers := strings.TrimSpace(string(out))
	dir := tb.TempDir()
	src := filepath.Join(dir, "shim.c")
	if err := os.WriteFile(src, source, 0o644); err != nil {
		tb.Fatal(err)
	}
	s := &Shim{Path: filepath.Join(dir, "p11shim.so")}
	cmd := exec.Command(gcc, "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-I", headers, "-o", s.Path, src, "-ldl", "-lpthread")
	if msg, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("p11shim: gcc: %v\n%s", err, msg)
	}
	return s
}

// Inject sends a command to every process that has the shim loaded; it
// takes effect at their next session call.
func (s *Shim) Inject(tb testing.TB, command string, n int) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	tmp := s.Path + ".control.tmp"
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d %s %d\n", s.seq, command, n), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, s.Path+".control"); err != nil { // atomic: a reader sees the old line or the new
		tb.Fatal(err)
	}
}

// Injected is the number of faults the shim has returned so far (in the
// last process that injected one).
func (s *Shim) Injected(tb testing.TB) int {
	tb.Helper()
	b, err := os.ReadFile(s.Path + ".count")
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		tb.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		tb.Fatalf("p11shim: count file: %v", err)
	}
	return n
}
