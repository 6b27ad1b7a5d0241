package ocsp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/store/bolt"
)

// fakeClock is real time plus an offset the test moves forward, so that
// certificates stay acceptable to openssl while renewal can be forced.
type fakeClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

type hmacHasher []byte

func (k hmacHasher) MAC(_ context.Context, data []byte) ([]byte, error) {
	m := hmac.New(sha256.New, k)
	m.Write(data)
	return m.Sum(nil), nil
}

func newP256(tb testing.TB) crypto.Signer {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// testPKI is a root, an issuing CA on a real bbolt file, and a clock.
type testPKI struct {
	root, issuing *x509.Certificate
	rootKey       crypto.Signer
	ca            *ca.CA
	db            *bolt.DB
	clock         *fakeClock
}

func newTestPKI(tb testing.TB) *testPKI {
	tb.Helper()
	p := &testPKI{clock: &fakeClock{}, rootKey: newP256(tb)}
	now := time.Now().Add(-time.Hour)
	var err error
	p.root, err = ca.CreateCACertificate(ca.CACertRequest{
		Subject:   ca.CAName{Country: "DK", Organization: "OCES PKI Test", CommonName: "OCES PKI Test Root CA"},
		PublicKey: p.rootKey.Public(), IssuerSigner: p.rootKey, NotBefore: now, Validity: 20 * 365 * 24 * time.Hour,
	})
	if err != nil {
		tb.Fatalf("root: %v", err)
	}
	ik := newP256(tb)
	p.issuing, err = ca.CreateCACertificate(ca.CACertRequest{
		Subject:   ca.CAName{Country: "DK", Organization: "OCES PKI Test", CommonName: "OCES PKI Test Issuing CA 1"},
		PublicKey: ik.Public(), Issuer: p.root, IssuerSigner: p.rootKey, IssuerName: "root",
		BaseURL: "http://pki.example.dk", NotBefore: now, Validity: 10 * 365 * 24 * time.Hour,
	})
	if err != nil {
		tb.Fatalf("issuing: %v", err)
	}
	p.db, err = bolt.Open(filepath.Join(tb.TempDir(), "oces.db"), bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.db.Close() })
	p.ca, err = ca.New(context.Background(), ca.Config{
		Issuers:      []*ca.Issuer{{Name: "issuing-1", Certificate: p.issuing, Chain: []*x509.Certificate{p.root}, Signer: ik}},
		BaseURL:      "http://pki.example.dk",
		Certificates: p.db, Registry: p.db, Hasher: hmacHasher("test registry key"), Clock: p.clock.Now,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// issue issues a citizen (poces) certificate.
func (p *testPKI) issue(tb testing.TB) *ca.Certificate {
	tb.Helper()
	key := newP256(tb)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, key)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := p.ca.Issue(context.Background(), ca.IssueRequest{Profile: "poces", CSR: csr, Name: "Theresia Kjær", CPR: "010190-1234"})
	if err != nil {
		tb.Fatalf("issuing: %v", err)
	}
	return c
}

// memKeys is an in-memory KeyStore for tests that do not exercise the HSM
// (TestOpenSSLInterop uses SoftHSM).
type memKeys struct {
	mu        sync.Mutex
	keys      map[string]crypto.Signer
	generated int
}

func (m *memKeys) Signer(_ context.Context, uri string) (crypto.Signer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k, ok := m.keys[uri]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrKeyNotFound, uri)
}

func (m *memKeys) GenerateKey(_ context.Context, uri string) (crypto.Signer, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys == nil {
		m.keys = map[string]crypto.Signer{}
	}
	m.keys[uri] = k
	m.generated++
	return k, nil
}

// hsmKeys is the responder's view of a SoftHSM token, as ocsp/ocsphsm
// gives it (which this package's tests cannot import).
type hsmKeys struct{ h *hsm.HSM }

func (k hsmKeys) Signer(ctx context.Context, uri string) (crypto.Signer, error) {
	s, err := k.h.Signer(ctx, uri)
	if errors.Is(err, hsm.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w: %w", ErrKeyNotFound, err)
	}
	return s, err
}

func (k hsmKeys) GenerateKey(ctx context.Context, uri string) (crypto.Signer, error) {
	s, err := k.h.GenerateKey(ctx, uri, hsm.ECP256)
	if errors.Is(err, hsm.ErrKeyExists) {
		return nil, fmt.Errorf("%w: %w", ErrKeyExists, err)
	}
	return s, err
}

var (
	_ KeyStore  = hsmKeys{}
	_ KeyStore  = (*memKeys)(nil)
	_ Source    = (*bolt.DB)(nil)
	_ Authority = (*ca.CA)(nil)
)

// newResponder builds a Responder on p (not yet pre-signed).
func newResponder(tb testing.TB, p *testPKI, keys KeyStore, mutate func(*Config)) *Responder {
	tb.Helper()
	if keys == nil {
		keys = &memKeys{}
	}
	cfg := Config{
		Issuers: []IssuerConfig{{Name: "issuing-1", Certificate: p.issuing, ResponderKey: "pkcs11:token=t;object=ocsp-issuing-1"}},
		Source:  p.db, Authority: p.ca, Keys: keys, Clock: p.clock.Now,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	r, err := New(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("ocsp.New: %v", err)
	}
	p.ca.Observe(r)
	return r
}

// query sends a request for serial by POST to h and parses the answer.
func query(tb testing.TB, h http.Handler, p *testPKI, serial ca.Serial, hash crypto.Hash) *xocsp.Response {
	tb.Helper()
	der := postRaw(tb, h, requestFor(tb, p, serial, hash))
	resp, err := xocsp.ParseResponse(der, p.issuing)
	if err != nil {
		tb.Fatalf("parsing response: %v", err)
	}
	if resp.SerialNumber.Cmp(serial.Big()) != 0 {
		tb.Fatalf("response for serial %x, want %s", resp.SerialNumber, serial)
	}
	return resp
}

func requestFor(tb testing.TB, p *testPKI, serial ca.Serial, hash crypto.Hash) []byte {
	tb.Helper()
	req, err := xocsp.CreateRequest(&x509.Certificate{SerialNumber: serial.Big()}, p.issuing, &xocsp.RequestOptions{Hash: hash})
	if err != nil {
		tb.Fatal(err)
	}
	return req
}

func postRaw(tb testing.TB, h http.Handler, body []byte) []byte {
	tb.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/ocsp", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/ocsp-request")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		tb.Fatalf("POST: status %d: %s", rec.Code, rec.Body)
	}
	out, _ := io.ReadAll(rec.Body)
	return out
}

func writePEM(tb testing.TB, path string, certs ...*x509.Certificate) {
	tb.Helper()
	var buf bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		tb.Fatal(err)
	}
}
