package main

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oces-pki/oces/api"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/catest"
)

// BenchmarkAPIIssuance measures issuance through the admin API (4
// concurrent api.Clients over HTTPS with client certificates to a real
// 'oces serve' subprocess) next to in-process issuance by the same kind of
// CA (ca.New over bbolt with its keys in SoftHSM, 4 goroutines, its own
// store and token), measured in the same run just before. Metrics: certs/s
// through the API, inprocess-certs/s, and pct-of-inprocess, the share of
// the CA's own rate the API keeps. Run with a fixed count, e.g.
//
//	go test -run '^$' -bench BenchmarkAPIIssuance -benchtime 300x ./cmd/oces
func BenchmarkAPIIssuance(b *testing.B) {
	for _, alg := range []string{"rsa-3072", "p-256"} {
		b.Run(alg, func(b *testing.B) {
			// Set up once: the sub-benchmark below is run more than once.
			e := newEnv(b, alg)
			s := e.serve()
			b.Cleanup(s.stop)
			keyAlg, err := hsm.ParseKeyAlgorithm(alg)
			if err != nil {
				b.Fatal(err)
			}
			local := catest.NewHSMCA(b, keyAlg, "http://127.0.0.1:8080")
			csrs := make([]string, 64)
			for i := range csrs {
				csrs[i] = csrPEM(b)
			}
			const clients = 4
			var cls []*api.Client
			for range clients {
				cl := e.client(e.officer)
				if _, err := cl.WhoAmI(b.Context()); err != nil { // handshake outside the timing
					b.Fatal(err)
				}
				cls = append(cls, cl)
			}
			req := func(i int64) api.IssueRequest {
				return api.IssueRequest{Profile: "moces", CSR: csrs[i%int64(len(csrs))],
					CVR: "12345678", Organization: "Firma A/S", Name: "Jens Hansen"}
			}
			b.Run("clients=4", func(b *testing.B) {
				ctx := context.Background()
				inproc := issueRate(b, clients, b.N, func(_ int, i int64) error {
					r := req(i)
					_, err := local.Issue(ctx, ca.IssueRequest{Profile: r.Profile, CSR: []byte(r.CSR),
						CVR: r.CVR, Organization: r.Organization, Name: r.Name})
					return err
				})
				b.ResetTimer()
				rate := issueRate(b, clients, b.N, func(w int, i int64) error {
					_, err := cls[w].Issue(ctx, req(i))
					return err
				})
				b.StopTimer()
				b.ReportMetric(rate, "certs/s")
				b.ReportMetric(inproc, "inprocess-certs/s")
				b.ReportMetric(100*rate/inproc, "pct-of-inprocess")
			})
		})
	}
}

// issueRate runs fn total times over workers goroutines (worker index and
// a global sequence number) and returns calls per second.
func issueRate(b *testing.B, workers, total int, fn func(w int, i int64) error) float64 {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(total) {
					return
				}
				if err := fn(w, i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return float64(total) / time.Since(start).Seconds()
}
