package tsa

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/softhsmtest"
)

// BenchmarkHSM is the figure the TSA is judged by: time-stamps per second
// over HTTP with 4 clients, next to the raw signing rate of the same
// SoftHSM key measured in the same run with the same concurrency.
func BenchmarkHSM(b *testing.B) {
	for _, alg := range []hsm.KeyAlgorithm{hsm.ECP256, hsm.RSA3072} {
		b.Run(alg.String(), func(b *testing.B) {
			key, cert, root := benchTSAKey(b, alg)
			raw := rawSignRate(b, key, benchClients, time.Second)
			b.ResetTimer()
			benchTimestampHTTP(b, key, cert, []*x509.Certificate{root})
			b.ReportMetric(raw, "raw-signs/s")
			b.ReportMetric(100*float64(b.N)/b.Elapsed().Seconds()/raw, "pct-of-raw")
		})
	}
}

// benchTSAKey makes a time-stamping key of alg in a fresh SoftHSM token
// and a certificate for it under a throwaway root.
func benchTSAKey(b *testing.B, alg hsm.KeyAlgorithm) (crypto.Signer, *x509.Certificate, *x509.Certificate) {
	b.Helper()
	tok := softhsmtest.New(b)
	h := hsm.New(nil)
	b.Cleanup(func() { h.Close() })
	key, err := h.GenerateKey(context.Background(), tok.KeyURI("tsa"), alg)
	if err != nil {
		b.Fatal(err)
	}
	caKey := mustECKey(b, elliptic.P256())
	root := mustCert(b, caTemplate("OCES Bench Root", 1), nil, caKey.Public(), caKey)
	cert := mustCert(b, tsaTemplate(b, true, oidKPTime), root, key.Public(), caKey)
	return key, cert, root
}

// rawSignRate signs from workers goroutines for d and returns signatures
// per second.
func rawSignRate(b *testing.B, signer crypto.Signer, workers int, d time.Duration) float64 {
	digest := sha256.Sum256([]byte("raw"))
	var n atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for time.Since(start) < d {
				if _, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
					b.Error(err)
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}
