package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oces-pki/oces/api"
	"github.com/oces-pki/oces/internal/p11shim"
)

// TestHSMFaultsUnderLoad (issue 15, part 4) runs 'oces serve' on a PKCS#11
// shim over SoftHSM and, while four clients issue and revoke, makes the
// HSM misbehave: CKR_DEVICE_ERROR and CKR_SESSION_HANDLE_INVALID on a few
// calls and for a whole second, every session closed under the server, and
// the token's files replaced by a copy. Each time the server must come
// back without a restart, a request it could not serve must get 503, and
// afterwards every acknowledged certificate is stored byte for byte, OCSP
// agrees with the store and the audit chain verifies.
func TestHSMFaultsUnderLoad(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "p-256")
	shim := p11shim.Build(t)
	cfg, err := os.ReadFile(e.path("oces.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	e.write("oces.yaml", strings.ReplaceAll(string(cfg), "module-path="+e.tok.Module(), "module-path="+shim.Path))
	s := e.serve()
	pid := s.cmd.Process.Pid

	tokenDir := softhsmTokenDir(t, e)
	faults := []struct {
		name   string
		inject func()
	}{
		{"CKR_DEVICE_ERROR on 3 calls", func() { shim.Inject(t, p11shim.DeviceError, 3) }},
		{"CKR_SESSION_HANDLE_INVALID on 3 calls", func() { shim.Inject(t, p11shim.SessionInvalid, 3) }},
		{"every session closed", func() { shim.Inject(t, p11shim.CloseSessions, 0) }},
		{"CKR_DEVICE_ERROR for 1s", func() {
			shim.Inject(t, p11shim.DeviceError, p11shim.Forever)
			time.Sleep(time.Second)
			shim.Inject(t, p11shim.Off, 0)
		}},
		{"CKR_SESSION_HANDLE_INVALID for 1s", func() {
			shim.Inject(t, p11shim.SessionInvalid, p11shim.Forever)
			time.Sleep(time.Second)
			shim.Inject(t, p11shim.Off, 0)
		}},
		{"token files replaced by a copy", func() { replaceDir(t, tokenDir) }},
	}
	all := newAcks()
	for _, f := range faults {
		waitReady(t, e, s, f.name)
		recoveries := strings.Count(s.stderr.String(), "recovered PKCS#11 token")
		a := newAcks()
		ctx, cancel := context.WithCancel(t.Context())
		wait := load(ctx, t, e, 4, a)
		time.Sleep(400 * time.Millisecond)
		before, _ := a.count()
		injectedBefore := shim.Injected(t)
		f.inject()
		at := time.Now()
		recovered := waitForSuccess(a, at, 20*time.Second)
		time.Sleep(300 * time.Millisecond)
		cancel()
		wait()
		certs, revoked := a.count()
		t.Logf("%s: %d faults injected, %d recoveries logged; %d certificates and %d revocations acknowledged (%d before the fault); first success %s after the fault (its end, for the 1s ones); refusals: %s",
			f.name, shim.Injected(t)-injectedBefore, strings.Count(s.stderr.String(), "recovered PKCS#11 token")-recoveries,
			certs, revoked, before, recovered.Round(time.Millisecond), a.refusals())
		if recovered < 0 {
			t.Errorf("%s: no issuance succeeded within 20s of the fault", f.name)
		}
		if !a.only(http.StatusServiceUnavailable) {
			t.Errorf("%s: refusals other than 503: %s; the server logged:\n%s", f.name, a.refusals(), firstLines(grepLines(s.stderr.String(), "level=ERROR"), 3))
		}
		if code, body, err := quickGet("http://" + s.public + "/readyz"); code != http.StatusOK {
			t.Errorf("%s: /readyz after recovery: %d %q %v", f.name, code, body, err)
		}
		if s.exited() || s.cmd.Process.Pid != pid {
			t.Fatalf("%s: the server is not the one started (exited: %v)", f.name, s.exited())
		}
		merge(all, a)
	}
	n := checkAcked(t, e, s, all)
	t.Logf("after all faults: %d certificates listed, every acknowledged one byte for byte, OCSP agrees", n)
	s.stop()
	if out, errOut, code := e.run("audit", "verify"); code != 0 || !strings.Contains(out, "intact") {
		t.Errorf("oces audit verify after the faults: exit %d\n%s%s", code, out, errOut)
	}
}

// waitReady waits until /readyz answers 200 and an issuance succeeds, so
// that each fault starts on a healthy server.
func waitReady(tb testing.TB, e *env, s *served, phase string) {
	tb.Helper()
	cl := e.client(e.officer)
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _, _ := quickGet("http://" + s.public + "/readyz")
		if code == http.StatusOK {
			if _, err := cl.Issue(tb.Context(), api.IssueRequest{Profile: "voces", CSR: csrPEM(tb), CVR: "12345678", Organization: "Firma A/S"}); err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("before %s: the server is not ready after 30s (/readyz %d)", phase, code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// waitForSuccess waits until a success is recorded after at and returns
// how long after at it came, or -1 after d.
func waitForSuccess(a *acks, at time.Time, d time.Duration) time.Duration {
	for deadline := at.Add(d); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		a.mu.Lock()
		last := a.last
		a.mu.Unlock()
		if last.After(at) {
			return last.Sub(at)
		}
	}
	return -1
}

func merge(into, from *acks) {
	from.mu.Lock()
	defer from.mu.Unlock()
	into.mu.Lock()
	defer into.mu.Unlock()
	for k, v := range from.certs {
		into.certs[k] = v
	}
	for k := range from.revoked {
		into.revoked[k] = true
	}
	for k, v := range from.refused {
		into.refused[k] += v
	}
}

// softhsmTokenDir is the directory of e's token inside SoftHSM's token
// directory: the one whose token.object names its label.
func softhsmTokenDir(tb testing.TB, e *env) string {
	tb.Helper()
	conf, err := os.ReadFile(e.tok.ConfPath())
	if err != nil {
		tb.Fatal(err)
	}
	var root string
	for _, line := range strings.Split(string(conf), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == "directories.tokendir" {
			root = strings.TrimSpace(v)
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(root, "*", "token.object"))
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(b), e.tok.Label()) {
			return filepath.Dir(f)
		}
	}
	tb.Fatalf("no token directory under %q holds token %q", root, e.tok.Label())
	return ""
}

// replaceDir replaces dir by a copy of itself, as a restore from backup
// does: the same contents in new files.
func replaceDir(tb testing.TB, dir string) {
	tb.Helper()
	tmp := dir + ".copy"
	if out, err := exec.Command("cp", "-a", dir, tmp).CombinedOutput(); err != nil {
		tb.Fatalf("cp: %v %s", err, out)
	}
	old := dir + ".old"
	if err := os.Rename(dir, old); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		tb.Fatal(err)
	}
	// The running SoftHSM may still create files in the old directory
	// while it is removed; what is left goes with the token's temporary
	// directory at the end of the test.
	_ = os.RemoveAll(old)
}
