package ca_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/store/bolt"
)

// hmacHasher is the registry hasher with the key in memory; the HSM-backed
// one is exercised by the SoftHSM integration tests.
type hmacHasher []byte

func (k hmacHasher) MAC(_ context.Context, data []byte) ([]byte, error) {
	m := hmac.New(sha256.New, k)
	m.Write(data)
	return m.Sum(nil), nil
}

// testKeys caches generated keys: RSA generation dominates test time.
var testKeys sync.Map

func testKey(tb testing.TB, name string) crypto.Signer {
	tb.Helper()
	if k, ok := testKeys.Load(name); ok {
		return k.(crypto.Signer)
	}
	var k crypto.Signer
	var err error
	switch name {
	case "rsa-1024", "rsa-2048", "rsa-3072", "rsa-4096":
		bits := map[string]int{"rsa-1024": 1024, "rsa-2048": 2048, "rsa-3072": 3072, "rsa-4096": 4096}[name]
		k, err = rsa.GenerateKey(rand.Reader, bits)
	case "p-224":
		k, err = ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	case "p-256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "p-384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "p-521":
		k, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	default:
		tb.Fatalf("unknown key %s", name)
	}
	if err != nil {
		tb.Fatal(err)
	}
	actual, _ := testKeys.LoadOrStore(name, k)
	return actual.(crypto.Signer)
}

// hierarchy is a root and an issuing CA made the way the ceremony makes them.
type hierarchy struct {
	root, issuing *x509.Certificate
	issuingKey    crypto.Signer
}

func newHierarchy(tb testing.TB, rootKey, issuingKey string) *hierarchy {
	tb.Helper()
	rk := testKey(tb, rootKey)
	now := time.Now()
	root, err := ca.CreateCACertificate(ca.CACertRequest{
		Subject:   ca.CAName{Country: "DK", Organization: "OCES PKI Test", CommonName: "OCES PKI Test Root CA"},
		PublicKey: rk.Public(), IssuerSigner: rk, NotBefore: now, Validity: 20 * 365 * 24 * time.Hour,
	})
	if err != nil {
		tb.Fatalf("root: %v", err)
	}
	ik := testKey(tb, issuingKey)
	issuing, err := ca.CreateCACertificate(ca.CACertRequest{
		Subject:   ca.CAName{Country: "DK", Organization: "OCES PKI Test", CommonName: "OCES PKI Test Issuing CA 1"},
		PublicKey: ik.Public(), Issuer: root, IssuerSigner: rk, IssuerName: "root",
		BaseURL: "http://pki.example.dk", NotBefore: now, Validity: 10 * 365 * 24 * time.Hour,
	})
	if err != nil {
		tb.Fatalf("issuing: %v", err)
	}
	return &hierarchy{root: root, issuing: issuing, issuingKey: ik}
}

// testCA is a CA on a real bbolt file in a temporary directory.
type testCA struct {
	*ca.CA
	h     *hierarchy
	store *bolt.DB
	path  string
}

func newTestCA(tb testing.TB, h *hierarchy, partitionSize int) *testCA {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "oces.db")
	db, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	c, err := ca.New(context.Background(), ca.Config{
		Issuers: []*ca.Issuer{{Name: "issuing-1", Certificate: h.issuing, Chain: []*x509.Certificate{h.root},
			Signer: h.issuingKey, PartitionSize: partitionSize}},
		BaseURL:      "http://pki.example.dk",
		Certificates: db, Registry: db, Hasher: hmacHasher("test registry key"),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return &testCA{CA: c, h: h, store: db, path: path}
}

// csr makes a PKCS#10 request for key.
func csr(tb testing.TB, key crypto.Signer) []byte {
	tb.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "whatever the applicant asks for"},
	}, key)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}
