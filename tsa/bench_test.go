package tsa

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// benchClients is the number of concurrent HTTP clients.
const benchClients = 4

var benchKinds = []string{"p256", "p384", "rsa"}

// Run with: go test ./tsa -run '^$' -bench . -cpu 2
// To measure an HSM, call benchTimestampHTTP and benchRawSign with the
// hsm package's crypto.Signer and its certificate.
func BenchmarkTimestampHTTP(b *testing.B) {
	for _, kind := range benchKinds {
		b.Run(kind, func(b *testing.B) {
			p := newTestPKI(b, kind)
			benchTimestampHTTP(b, p.tsaKey, p.tsa, []*x509.Certificate{p.issuing})
		})
	}
}

func BenchmarkRawSign(b *testing.B) {
	for _, kind := range benchKinds {
		b.Run(kind, func(b *testing.B) {
			benchRawSign(b, newTestPKI(b, kind).tsaKey)
		})
	}
}

// benchTimestampHTTP measures time-stamps per second over real HTTP on
// loopback with benchClients concurrent clients, certReq set.
func benchTimestampHTTP(b *testing.B, signer crypto.Signer, cert *x509.Certificate, chain []*x509.Certificate) {
	a, err := New(Config{
		Signer: signer, Certificate: cert, Chain: chain,
		Policies: []asn1.ObjectIdentifier{testPolicy},
		Serials:  NewBlockSerials(&memCounter{}, "tsa", 0),
	})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(a)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchClients}}
	digest := sha256.Sum256([]byte("benchmark"))
	req := encodeReq(b, reqFields{digest: digest[:], nonce: big.NewInt(0x5eed), certReq: true})
	runConcurrently(b, func() error {
		resp, err := client.Post(srv.URL, ContentTypeQuery, bytes.NewReader(req))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return &RejectionError{Text: resp.Status}
		}
		return nil
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// benchRawSign measures bare signatures per second of signer with the same
// concurrency, as the ceiling for benchTimestampHTTP.
func benchRawSign(b *testing.B, signer crypto.Signer) {
	hash, err := signatureHash(signer.Public())
	if err != nil {
		b.Fatal(err)
	}
	h := hash.New()
	h.Write([]byte("benchmark"))
	digest := h.Sum(nil)
	runConcurrently(b, func() error {
		_, err := signer.Sign(rand.Reader, digest, hash)
		return err
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signs/s")
}

// runConcurrently calls op b.N times from benchClients goroutines.
func runConcurrently(b *testing.B, op func() error) {
	b.ReportAllocs()
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range benchClients {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := op(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
}
