package ocsp

import (
	"context"
	"crypto"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"

	"github.com/oces-pki/oces/ocsp/internal/synth"
)

// benchCerts is how many synthetic certificates the benchmarks use:
// OCES_OCSP_BENCH_CERTS, or a million.
func benchCerts(tb testing.TB) int {
	if s := os.Getenv("OCES_OCSP_BENCH_CERTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			tb.Fatalf("OCES_OCSP_BENCH_CERTS=%q", s)
		}
		return n
	}
	return 1_000_000
}

func benchResponder(b *testing.B, src *synth.Source) (*Responder, *testPKI) {
	b.Helper()
	p := newTestPKI(b)
	r, err := New(context.Background(), Config{
		Issuers: []IssuerConfig{{Name: src.CA, Certificate: p.issuing, ResponderKey: "pkcs11:object=bench"}},
		Source:  src, Authority: p.ca, Keys: &memKeys{},
	})
	if err != nil {
		b.Fatal(err)
	}
	return r, p
}

// BenchmarkPresign signs a response for each of benchCerts certificates
// (run with -benchtime 1x) and reports responses/s.
func BenchmarkPresign(b *testing.B) {
	src := synth.NewSource("issuing-1", benchCerts(b), 1)
	r, _ := benchResponder(b, src)
	b.ResetTimer()
	for range b.N {
		if err := r.Presign(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*src.Len())/b.Elapsed().Seconds(), "responses/s")
}

// BenchmarkServeGET answers pre-signed GETs in process (no network): the
// responder's own cost per request.
func BenchmarkServeGET(b *testing.B) {
	src := synth.NewSource("issuing-1", 10000, 1)
	r, p := benchResponder(b, src)
	if err := r.Presign(context.Background()); err != nil {
		b.Fatal(err)
	}
	reqs := make([]*http.Request, 1000)
	for i := range reqs {
		der := requestFor(b, p, src.Record(i).Serial, crypto.SHA1)
		reqs[i] = httptest.NewRequest(http.MethodGet, "/ocsp/"+base64.StdEncoding.EncodeToString(der), nil)
	}
	h := r.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		h.ServeHTTP(discard{header: http.Header{}}, reqs[i%len(reqs)])
	}
}

type discard struct{ header http.Header }

func (d discard) Header() http.Header         { return d.header }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}
