package ca_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/catest"
)

// TestIssueWithHSM issues every profile with keys in SoftHSM and has
// openssl verify each chain.
func TestIssueWithHSM(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil && os.Getenv("CI") == "" {
		t.Skip("openssl not installed")
	}
	for _, alg := range []hsm.KeyAlgorithm{hsm.RSA3072, hsm.ECP256} {
		t.Run(alg.String(), func(t *testing.T) {
			c := catest.NewHSMCA(t, alg, "http://pki.example.dk")
			rootPEM := writePEM(t, c.Dir, "root.pem", c.Root.Raw)
			issuingPEM := writePEM(t, c.Dir, "issuing.pem", c.Issuing.Raw)
			for _, tc := range profileCases {
				req := tc.req
				req.CSR = csr(t, testKey(t, "rsa-2048"))
				cert, err := c.Issue(context.Background(), req)
				if err != nil {
					t.Fatalf("%s: %v", tc.req.Profile, err)
				}
				lintClean(t, cert.DER)
				leaf := writePEM(t, c.Dir, tc.req.Profile+".pem", cert.DER)
				out, err := exec.Command(openssl, "verify", "-x509_strict", "-CAfile", rootPEM, "-untrusted", issuingPEM, leaf).CombinedOutput()
				if err != nil {
					t.Errorf("%s: openssl verify: %v\n%s", tc.req.Profile, err, out)
				}
			}
			checkPIDsThroughHSM(t, c)
		})
	}
}

// checkPIDsThroughHSM: with the registry key in the HSM, the same CPR
// number gives the same PID, match-cpr says yes for it and no for
// another number or an unknown PID, and every call succeeds.
func checkPIDsThroughHSM(t *testing.T, c *catest.HSMCA) {
	t.Helper()
	ctx := context.Background()
	pid := func(cpr string) string {
		t.Helper()
		cert, err := c.Issue(ctx, ca.IssueRequest{Profile: "poces", Name: "Jens Hansen", CPR: cpr, CSR: csr(t, testKey(t, "p-256"))})
		if err != nil {
			t.Fatalf("issuing for CPR %s: %v", cpr, err)
		}
		return cert.SubjectID
	}
	first, again, other := pid("020202-2222"), pid("0202022222"), pid("030303-3333")
	if first != again {
		t.Errorf("the same CPR number gave %s and then %s", first, again)
	}
	if first == other {
		t.Errorf("two CPR numbers gave the same PID %s", first)
	}
	for _, tc := range []struct {
		pid, cpr string
		want     bool
	}{
		{first, "020202-2222", true},
		{first, "0202022222", true},
		{first, "030303-3333", false},
		{other, "030303-3333", true},
		{"PID:9208-2002-2-000000000000", "020202-2222", false},
	} {
		got, err := c.MatchCPR(ctx, tc.pid, tc.cpr)
		if err != nil || got != tc.want {
			t.Errorf("MatchCPR(%s, %s) = %v, %v; want %v", tc.pid, tc.cpr, got, err, tc.want)
		}
	}
}

func writePEM(tb testing.TB, dir, name string, der []byte) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// BenchmarkIssuance compares issuance (CSR in, stored certificate out)
// with the raw signing rate of the same HSM key at the same number of
// workers, in the same run: the two take turns in rounds of benchRound, so
// that load from elsewhere on the machine falls on both alike. Metrics:
// certs/s, raw-signs/s, pct-of-raw, the store's commits per issuance, and
// the process's CPU time (and the kernel's part of it, sys) per
// certificate and per raw signature, whose
// quotient (pct-cpu) is the ratio that issuance would reach if nothing but
// CPU limited it: on a machine shared with other work it is the steadier
// figure, and with workers enough to keep the cores busy the wall-clock
// ratio approaches it.
func BenchmarkIssuance(b *testing.B) {
	for _, alg := range []hsm.KeyAlgorithm{hsm.RSA3072, hsm.ECP256} {
		for _, workers := range []int{2, 8} {
			b.Run(fmt.Sprintf("%s/workers=%d", alg, workers), func(b *testing.B) {
				benchIssuance(b, alg, workers)
			})
		}
	}
}

// benchRound is how many issuances, and then raw signatures, run in turn.
const benchRound = 50

func benchIssuance(b *testing.B, alg hsm.KeyAlgorithm, workers int) {
	c := catest.NewHSMCA(b, alg, "http://pki.example.dk")
	csrs := make([][]byte, 64)
	for i := range csrs {
		csrs[i] = csr(b, testKey(b, "p-256"))
	}
	var next atomic.Int64
	issue := func() error {
		i := next.Add(1)
		_, err := c.Issue(context.Background(), ca.IssueRequest{
			Profile: "moces", CSR: csrs[i%int64(len(csrs))],
			Name: "Jens Hansen", Organization: "Firma A/S", CVR: "12345678",
		})
		return err
	}
	digest := sha256.Sum256([]byte("raw signing rate"))
	sign := func() error {
		_, err := c.Signer.Sign(rand.Reader, digest[:], crypto.SHA256)
		return err
	}
	runWorkers(workers, benchRound, sign, b) // warm the session pool and caches
	runWorkers(workers, benchRound, issue, b)
	var issuing, signing, issuingCPU, signingCPU, issuingSys, signingSys time.Duration
	before := c.Store.Stats()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(benchRound, b.N-done)
		b.StopTimer()
		start, cpu, sys := time.Now(), processCPU(), processSys()
		runWorkers(workers, n, sign, b)
		signing += time.Since(start)
		signingCPU += processCPU() - cpu
		signingSys += processSys() - sys
		b.StartTimer()
		start, cpu, sys = time.Now(), processCPU(), processSys()
		runWorkers(workers, n, issue, b)
		issuing += time.Since(start)
		issuingCPU += processCPU() - cpu
		issuingSys += processSys() - sys
		done += n
	}
	b.StopTimer()
	rate := float64(b.N) / issuing.Seconds()
	raw := float64(b.N) / signing.Seconds()
	b.ReportMetric(rate, "certs/s")
	b.ReportMetric(raw, "raw-signs/s")
	b.ReportMetric(100*rate/raw, "pct-of-raw")
	b.ReportMetric(float64(c.Store.Stats().Commits-before.Commits)/float64(b.N), "commits/op")
	if issuingCPU > 0 {
		b.ReportMetric(float64(issuingCPU.Microseconds())/float64(b.N), "cpu-µs/cert")
		b.ReportMetric(float64(signingCPU.Microseconds())/float64(b.N), "cpu-µs/sign")
		b.ReportMetric(100*float64(signingCPU)/float64(issuingCPU), "pct-cpu")
		b.ReportMetric(float64(issuingSys.Microseconds())/float64(b.N), "sys-µs/cert")
		b.ReportMetric(float64(signingSys.Microseconds())/float64(b.N), "sys-µs/sign")
	}
}

// runWorkers runs fn total times spread over workers goroutines.
func runWorkers(workers, total int, fn func() error, b *testing.B) {
	var left atomic.Int64
	left.Store(int64(total))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if err := fn(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
