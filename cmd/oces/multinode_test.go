package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oces-pki/oces/api"
	"github.com/oces-pki/oces/internal/pgtest"
)

// usePostgres moves e's store into a fresh PostgreSQL database with 'oces
// store copy' and points oces.yaml at it.
func (e *env) usePostgres() string {
	e.tb.Helper()
	dsn := pgtest.New(e.tb)
	e.ok("store", "copy", "--from", e.path("oces.db"), "--to", dsn)
	cfg, err := os.ReadFile(e.path("oces.yaml"))
	if err != nil {
		e.tb.Fatal(err)
	}
	const bolt = "store: {path: oces.db}\n"
	if !strings.Contains(string(cfg), bolt) {
		e.tb.Fatalf("oces.yaml has no %q", bolt)
	}
	pg := fmt.Sprintf("store: {driver: postgres, dsn: %q, follow_interval: 500ms}\n", dsn)
	if err := os.WriteFile(e.path("oces.yaml"), []byte(strings.Replace(string(cfg), bolt, pg, 1)), 0o600); err != nil {
		e.tb.Fatal(err)
	}
	return dsn
}

// serveOnly starts 'oces serve --only roles' and waits until it is ready.
func (e *env) serveOnly(roles string) *served {
	e.tb.Helper()
	for attempt := 1; ; attempt++ {
		s := &served{tb: e.tb, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
		s.cmd = exec.Command(ocesBinary(e.tb), "serve", "--config", e.path("oces.yaml"), "--only", roles)
		s.cmd.Dir = e.dir
		s.cmd.Env = append(os.Environ(), e.tok.Env()...)
		s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
		if err := s.cmd.Start(); err != nil {
			e.tb.Fatal(err)
		}
		go func() {
			_ = s.cmd.Wait()
			close(s.done)
		}()
		e.tb.Cleanup(func() {
			if !s.exited() {
				_ = s.cmd.Process.Kill()
				<-s.done
			}
			if e.tb.Failed() {
				e.tb.Logf("oces serve --only %s (pid %d) standard error, last 3 KiB:\n%s", roles, s.cmd.Process.Pid, tail(s.stderr.String(), 3072))
			}
		})
		deadline := time.Now().Add(60 * time.Second)
		for !strings.Contains(s.stdout.String(), "\nready;") && !s.exited() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if s.exited() && attempt < 3 && hsmInitFailed(s.stderr.String()) {
			continue
		}
		if !strings.Contains(s.stdout.String(), "\nready;") {
			e.tb.Fatalf("oces serve --only %s not ready (exited: %v):\n%s", roles, s.exited(), tail(s.stderr.String(), 3072))
		}
		for _, m := range listenLine.FindAllStringSubmatch(s.stdout.String(), -1) {
			if m[1] == "public" {
				s.public = m[3]
			} else {
				s.admin = m[3]
			}
		}
		return s
	}
}

// ocspStatus asks a responder with openssl, verifying the answer against
// the root, and returns "good", "revoked" or openssl's output.
func (e *env) ocspStatus(public, serial string) string {
	out, err := exec.Command("openssl", "ocsp", "-issuer", e.path("ca/issuing-1.pem"), "-serial", "0x"+serial,
		"-url", "http://"+public+"/ocsp", "-CAfile", e.path("ca/root.pem"), "-no_nonce").CombinedOutput()
	s := string(out)
	switch {
	case err != nil || !strings.Contains(s, "Response verify OK"):
		return fmt.Sprintf("error %v: %s", err, s)
	case strings.Contains(s, ": revoked"):
		return "revoked"
	case strings.Contains(s, ": good"):
		return "good"
	}
	return s
}

// TestMultiProcess runs the deployment of docs/deployment.md on one
// PostgreSQL: two CA processes (--only ca,admin) and two OCSP responders
// (--only ocsp). Eight clients issue and revoke through both CA
// processes; one CA process is killed with SIGKILL during the load.
// Afterwards no serial is duplicated, oces audit verify passes, every
// acknowledged certificate is stored, and every revocation is seen by both
// responders (asked with openssl ocsp) within 2 seconds of its
// acknowledgement.
func TestMultiProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four servers")
	}
	needOpenSSL(t)
	t.Parallel()
	e := newEnv(t, "p-256")
	e.usePostgres()
	cas := []*served{e.serveOnly("ca,admin"), e.serveOnly("ca,admin")}
	responders := []*served{e.serveOnly("ocsp"), e.serveOnly("ocsp")}
	for _, s := range cas {
		if s.public != "" || s.admin == "" {
			t.Fatalf("--only ca,admin listens on public %q admin %q", s.public, s.admin)
		}
	}
	for _, s := range responders {
		if s.public == "" || s.admin != "" {
			t.Fatalf("--only ocsp listens on public %q admin %q", s.public, s.admin)
		}
	}
	pair := e.pair(e.officer)
	clients := []*api.Client{
		api.NewClient("https://"+cas[0].admin, pair, e.roots(), 20*time.Second),
		api.NewClient("https://"+cas[1].admin, pair, e.roots(), 20*time.Second),
	}
	const workers, each = 8, 6
	ctx := context.Background()
	var (
		mu        sync.Mutex
		acked     = map[string]bool{}
		revoked   = map[string]bool{}
		lag       []time.Duration
		failures  []string
		killed    = make(chan struct{})
		killOnce  sync.Once
		checkers  sync.WaitGroup
		issuedAll sync.WaitGroup
	)
	csrs := make([]string, workers)
	for i := range csrs {
		csrs[i] = csrPEM(t)
	}
	// Each revocation is polled at both responders until they answer
	// revoked; the time from the acknowledgement is its lag.
	watch := func(serial string, at time.Time) {
		defer checkers.Done()
		for _, r := range responders {
			for {
				st := e.ocspStatus(r.public, serial)
				if st == "revoked" {
					mu.Lock()
					lag = append(lag, time.Since(at))
					mu.Unlock()
					break
				}
				if time.Since(at) > 5*time.Second {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s at %s after 5s: %s", serial, r.public, st))
					mu.Unlock()
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	for w := range workers {
		issuedAll.Go(func() {
			for i := range each {
				cl := clients[(w+i)%2]
				select {
				case <-killed:
					cl = clients[0]
				default:
				}
				c, err := cl.Issue(ctx, api.IssueRequest{Profile: "voces", CSR: csrs[w], Organization: "Firma A/S", CVR: "12345678"})
				if err != nil {
					// Only requests to the killed process may fail.
					if cl != clients[1] {
						t.Errorf("issue through the surviving CA process: %v", err)
					}
					continue
				}
				mu.Lock()
				acked[c.Serial] = true
				n := len(acked)
				mu.Unlock()
				if n == workers*each/2 {
					killOnce.Do(func() {
						cas[1].kill()
						close(killed)
					})
				}
				if i%2 == 0 {
					// Both responders answer good first, so each holds a
					// pre-signed response that only the change feed can
					// replace (an unknown serial is looked up afresh).
					for _, r := range responders {
						if st := e.ocspStatus(r.public, c.Serial); st != "good" {
							t.Errorf("%s at %s before the revocation: %s", c.Serial, r.public, st)
						}
					}
					if _, err := clients[0].Revoke(ctx, c.Serial, api.RevokeRequest{Reason: "keyCompromise"}); err != nil {
						t.Errorf("revoke %s: %v", c.Serial, err)
						continue
					}
					at := time.Now()
					mu.Lock()
					revoked[c.Serial] = true
					mu.Unlock()
					checkers.Add(1)
					go watch(c.Serial, at)
				}
			}
		})
	}
	issuedAll.Wait()
	checkers.Wait()
	for _, f := range failures {
		t.Error("not revoked at a responder: " + f)
	}
	var worst time.Duration
	for _, d := range lag {
		worst = max(worst, d)
	}
	t.Logf("%d acknowledged, %d revoked; worst time to revoked at a responder %s", len(acked), len(revoked), worst)
	if worst > 2*time.Second {
		t.Errorf("a revocation took %s to reach a responder, want at most 2s", worst)
	}

	// Every acknowledged certificate is stored, with its status, once.
	seen := map[string]int{}
	var list api.CertificateList
	for page := ""; ; {
		q := map[string][]string{"limit": {"1000"}, "profile": {"voces"}}
		if page != "" {
			q["after"] = []string{page}
		}
		l, err := clients[0].List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		list.Certificates = append(list.Certificates, l.Certificates...)
		if l.Next == "" {
			break
		}
		page = l.Next
	}
	for _, c := range list.Certificates {
		seen[c.Serial]++
		if seen[c.Serial] > 1 {
			t.Errorf("serial %s listed twice", c.Serial)
		}
		if revoked[c.Serial] && c.Status != "revoked" {
			t.Errorf("%s acknowledged as revoked is %s", c.Serial, c.Status)
		}
	}
	for s := range acked {
		if seen[s] == 0 {
			t.Errorf("acknowledged certificate %s is not stored", s)
		}
	}
	for _, s := range append(cas[:1], responders...) {
		s.stop()
	}
	if out, errOut, code := e.run("audit", "verify", "--config", e.path("oces.yaml")); code != 0 || !strings.Contains(out, "intact") {
		t.Errorf("oces audit verify exited %d:\n%s\n%s", code, out, errOut)
	}
}
