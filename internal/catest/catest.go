// Package catest builds CAs for tests: cached in-memory keys, a registry
// hasher with its key in memory, and a whole CA on a SoftHSM token and a
// bbolt file. Only tests import it.
package catest

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
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/softhsmtest"
	"github.com/oces-pki/oces/store/bolt"
)

// HMACHasher is a registry hasher with its key in memory; the HSM-backed
// one is what NewHSMCA wires.
type HMACHasher []byte

// MAC implements ca.Hasher.
func (k HMACHasher) MAC(_ context.Context, data []byte) ([]byte, error) {
	m := hmac.New(sha256.New, k)
	m.Write(data)
	return m.Sum(nil), nil
}

var keys sync.Map

// Key returns an in-memory key by name ("rsa-2048", "p-256", …), the same
// one for the whole test binary: RSA generation dominates test time.
func Key(tb testing.TB, name string) crypto.Signer {
	tb.Helper()
	if k, ok := keys.Load(name); ok {
		return k.(crypto.Signer)
	}
	var k crypto.Signer
	var err error
	switch name {
	case "rsa-1024", "rsa-2048", "rsa-3072", "rsa-4096":
		bits := map[string]int{"rsa-1024": 1024, "rsa-2048": 2048, "rsa-3072": 3072, "rsa-4096": 4096}[name]
		k, err = rsa.GenerateKey(rand.Reader, bits)
	case "p-224", "p-256", "p-384", "p-521":
		curve := map[string]elliptic.Curve{"p-224": elliptic.P224(), "p-256": elliptic.P256(), "p-384": elliptic.P384(), "p-521": elliptic.P521()}[name]
		k, err = ecdsa.GenerateKey(curve, rand.Reader)
	default:
		tb.Fatalf("catest: unknown key %s", name)
	}
	if err != nil {
		tb.Fatal(err)
	}
	actual, _ := keys.LoadOrStore(name, k)
	return actual.(crypto.Signer)
}

// Hierarchy makes a root and an issuing CA certificate the way the
// ceremonies do, with the given keys.
func Hierarchy(tb testing.TB, rootKey, issuingKey crypto.Signer, baseURL string) (root, issuing *x509.Certificate) {
	tb.Helper()
	now := time.Now()
	root, err := ca.CreateCACertificate(ca.CACertRequest{
		Subject:   ca.CAName{Country: "DK", Organization: "OCES PKI Test", CommonName: "OCES PKI Test Root CA"},
		PublicKey: rootKey.Public(), IssuerSigner: rootKey, NotBefore: now, Validity: 20 * 365 * 24 * time.Hour,
	})
	if err != nil {
		tb.Fatalf("catest: root: %v", err)
	}
	issuing, err = ca.CreateCACertificate(ca.CACertRequest{
		Subject:   ca.CAName{Country: "DK", Organization: "OCES PKI Test", CommonName: "OCES PKI Test Issuing CA 1"},
		PublicKey: issuingKey.Public(), Issuer: root, IssuerSigner: rootKey, IssuerName: "root",
		BaseURL: baseURL, NotBefore: now, Validity: 10 * 365 * 24 * time.Hour,
	})
	if err != nil {
		tb.Fatalf("catest: issuing: %v", err)
	}
	return root, issuing
}

// HSMCA is a CA whose root, issuing and registry keys are in a fresh
// SoftHSM token, on a real bbolt file.
type HSMCA struct {
	*ca.CA
	Root, Issuing *x509.Certificate
	Signer        crypto.Signer // the issuing CA's key
	RootSigner    crypto.Signer // the root's key
	Store         *bolt.DB
	Dir           string
	HSM           *hsm.HSM
	Token         *softhsmtest.Token
}

type hsmHasher struct {
	h   *hsm.HSM
	uri string
}

func (k hsmHasher) MAC(ctx context.Context, data []byte) ([]byte, error) {
	return k.h.MAC(ctx, k.uri, data)
}

// NewHSMCA builds an HSMCA with an issuing key of alg.
func NewHSMCA(tb testing.TB, alg hsm.KeyAlgorithm, baseURL string) *HSMCA {
	tb.Helper()
	tok := softhsmtest.New(tb)
	h := hsm.New(nil)
	tb.Cleanup(func() { h.Close() })
	ctx := context.Background()
	rootKey, err := h.GenerateKey(ctx, tok.KeyURI("root"), hsm.ECP384)
	if err != nil {
		tb.Fatal(err)
	}
	issuingKey, err := h.GenerateKey(ctx, tok.KeyURI("issuing"), alg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := h.GenerateSecret(ctx, tok.KeyURI("registry")); err != nil {
		tb.Fatal(err)
	}
	root, issuing := Hierarchy(tb, rootKey, issuingKey, baseURL)
	dir := tb.TempDir()
	db, err := bolt.Open(filepath.Join(dir, "oces.db"), bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	c, err := ca.New(ctx, ca.Config{
		Issuers:      []*ca.Issuer{{Name: "issuing-1", Certificate: issuing, Chain: []*x509.Certificate{root}, Signer: issuingKey}},
		BaseURL:      baseURL,
		Certificates: db, Registry: db, Hasher: hsmHasher{h, tok.KeyURI("registry")},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return &HSMCA{CA: c, Root: root, Issuing: issuing, Signer: issuingKey, RootSigner: rootKey, Store: db, Dir: dir, HSM: h, Token: tok}
}
