//go:build reliability

package main

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The long reliability runs of issue 15 are behind the build tag
// "reliability" (make reliability): the crash loop and the soak.

// envInt is the integer in the environment variable name, or def.
func envInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// TestCrashLoop (issue 15, part 3) kills 'oces serve' with SIGKILL
// OCES_CRASH_ITERATIONS times (default 20), each time while eight clients
// issue and revoke, at a random moment after the round's tenth
// acknowledged certificate. After each kill 'oces audit verify' must pass
// on the store as the crash left it; after each restart every certificate
// acknowledged in any round must be stored byte for byte, every confirmed
// revocation recorded, no serial listed or acknowledged twice, and OCSP
// must answer for every listed serial in agreement with the store.
func TestCrashLoop(t *testing.T) {
	iterations := envInt(t, "OCES_CRASH_ITERATIONS", 20)
	e := newEnv(t, "p-256")
	rng := rand.New(rand.NewPCG(15, 3))
	all := newAcks()
	s := e.serve()
	var restarts, checks time.Duration
	for i := range iterations {
		a := newAcks()
		ctx, cancel := context.WithCancel(t.Context())
		wait := load(ctx, t, e, 8, a)
		deadline := time.Now().Add(30 * time.Second)
		for n, _ := a.count(); n < 10; n, _ = a.count() {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: fewer than 10 certificates in 30s", i)
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond)
		s.kill()
		cancel()
		wait()
		certs, revoked := a.count()
		for serial := range a.certs {
			if _, dup := all.certs[serial]; dup {
				t.Errorf("round %d: serial %s acknowledged again after an earlier round", i, serial)
			}
		}
		merge(all, a)
		if out, errOut, code := e.run("audit", "verify"); code != 0 || !strings.Contains(out, "intact") {
			t.Errorf("round %d: oces audit verify after the kill: exit %d\n%s%s", i, code, out, errOut)
		}
		start := time.Now()
		s = e.serve()
		restart := time.Since(start)
		start = time.Now()
		listed := checkAcked(t, e, s, all)
		check := time.Since(start)
		restarts += restart
		checks += check
		t.Logf("round %d: killed after %d certificates and %d revocations acknowledged (refusals %s); restart %s; %d listed in all, %d acknowledged, checked in %s",
			i, certs, revoked, a.refusals(), restart.Round(time.Millisecond), listed, len(all.certs), check.Round(time.Millisecond))
		if t.Failed() {
			break
		}
	}
	s.stop()
	if out, errOut, code := e.run("audit", "verify"); code != 0 || !strings.Contains(out, "intact") {
		t.Errorf("oces audit verify after the clean stop: exit %d\n%s%s", code, out, errOut)
	}
	c, r := all.count()
	t.Logf("%d kills: %d certificates and %d revocations acknowledged, all found; mean restart %s, mean check %s",
		iterations, c, r, (restarts / time.Duration(iterations)).Round(time.Millisecond), (checks / time.Duration(iterations)).Round(time.Millisecond))
}
