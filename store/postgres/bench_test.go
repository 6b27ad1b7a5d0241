package postgres

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/catest"

	"github.com/oces-pki/oces/store/storetest"
)

// BenchmarkIssuance measures full issuance (CSR in, stored certificate
// out, keys in SoftHSM) by one CA on PostgreSQL, synchronous_commit on,
// next to the same CA's keys on bbolt, in the same run: the two take turns
// in rounds of 50 issuances, so that load from elsewhere on the machine
// falls on both alike. Metrics: certs/s on
// PostgreSQL, bolt-certs/s, and pct-of-bolt (issue 13's target: 80 %).
//
//	go test -run '^$' -bench BenchmarkIssuance -benchtime 1000x ./store/postgres
func BenchmarkIssuance(b *testing.B) {
	for _, alg := range []hsm.KeyAlgorithm{hsm.RSA3072, hsm.ECP256} {
		for _, workers := range []int{2, 8} {
			b.Run(fmt.Sprintf("%s/workers=%d", alg, workers), func(b *testing.B) {
				local := catest.NewHSMCA(b, alg, "http://pki.example.dk")
				db := openTest(b)
				pg, err := ca.New(context.Background(), ca.Config{
					Issuers: []*ca.Issuer{{Name: "issuing-1", Certificate: local.Issuing, Chain: []*x509.Certificate{local.Root}, Signer: local.Signer}},
					BaseURL: "http://pki.example.dk", Certificates: db, Registry: db, Hasher: catest.HMACHasher("bench"),
				})
				if err != nil {
					b.Fatal(err)
				}
				csrs := benchCSRs(b, 64)
				issue := func(c *ca.CA) func(i int64) error {
					return func(i int64) error {
						_, err := c.Issue(context.Background(), ca.IssueRequest{Profile: "moces", CSR: csrs[i%int64(len(csrs))],
							Name: "Jens Hansen", Organization: "Firma A/S", CVR: "12345678"})
						return err
					}
				}
				b.ResetTimer()
				boltRate, pgRate := interleaved(b, workers, b.N, issue(local.CA), issue(pg))
				b.ReportMetric(pgRate, "certs/s")
				b.ReportMetric(boltRate, "bolt-certs/s")
				b.ReportMetric(100*pgRate/boltRate, "pct-of-bolt")
				st := db.Stats()
				b.ReportMetric(float64(st.Commits)/float64(st.Writes), "commits/write")
			})
		}
	}
}

// BenchmarkReserveComplete is store/bolt's benchmark of the same name on
// PostgreSQL: issuance's two durable writes of a ~1.5 KB certificate from
// concurrent writers, with no HSM in the way.
func BenchmarkReserveComplete(b *testing.B) {
	for _, workers := range []int{2, 8} {
		b.Run(fmt.Sprintf("writers=%d", workers), func(b *testing.B) {
			db := openTest(b)
			ctx := context.Background()
			b.ResetTimer()
			r := rate(b, workers, b.N, func(int64) error {
				p, der := storetest.Prepared(b, "issuing-1", "poces")
				if err := db.Reserve(ctx, p); err != nil {
					return err
				}
				_, err := db.Complete(ctx, p.Serial, der, time.Now())
				return err
			})
			st := db.Stats()
			b.ReportMetric(r, "ops/s")
			b.ReportMetric(float64(st.Commits)/float64(b.N), "commits/op")
		})
	}
}

// interleaved runs n calls of a and n of b in alternating rounds and
// returns the rate of each.
func interleaved(tb *testing.B, workers, n int, a, b func(i int64) error) (rateA, rateB float64) {
	const round = 50
	var da, db time.Duration
	for done := 0; done < n; done += round {
		k := min(round, n-done)
		start := time.Now()
		rate(tb, workers, k, a)
		da += time.Since(start)
		start = time.Now()
		rate(tb, workers, k, b)
		db += time.Since(start)
	}
	return float64(n) / da.Seconds(), float64(n) / db.Seconds()
}

// rate runs n calls of fn on workers goroutines and returns calls per second.
func rate(b *testing.B, workers, n int, fn func(i int64) error) float64 {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if err := fn(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

func benchCSRs(b *testing.B, n int) [][]byte {
	b.Helper()
	out := make([][]byte, n)
	for i := range out {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		out[i], err = x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, k)
		if err != nil {
			b.Fatal(err)
		}
	}
	return out
}
