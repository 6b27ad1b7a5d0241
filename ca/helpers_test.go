package ca_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"path/filepath"
	"testing"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/internal/catest"
	"github.com/oces-pki/oces/store/bolt"
)

func testKey(tb testing.TB, name string) crypto.Signer { return catest.Key(tb, name) }

// hierarchy is a root and an issuing CA made the way the ceremony makes them.
type hierarchy struct {
	root, issuing *x509.Certificate
	issuingKey    crypto.Signer
}

func newHierarchy(tb testing.TB, rootKey, issuingKey string) *hierarchy {
	tb.Helper()
	ik := testKey(tb, issuingKey)
	root, issuing := catest.Hierarchy(tb, testKey(tb, rootKey), ik, "http://pki.example.dk")
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
		Certificates: db, Registry: db, Hasher: catest.HMACHasher("test registry key"),
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
