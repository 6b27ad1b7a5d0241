package crl_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/crl"
	"github.com/oces-pki/oces/internal/catest"
	"github.com/oces-pki/oces/store/bolt"
)

const baseURL = "http://pki.example.dk"

var _ crl.Source = (*bolt.DB)(nil)

func testKey(tb testing.TB, name string) crypto.Signer { return catest.Key(tb, name) }

// clock is a settable clock shared by the CA and the CRL generator. It
// starts an hour in the past, so that openssl, which checks against the
// real time, finds every CRL already valid.
type clock struct{ t atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.t.Store(time.Now().Add(-time.Hour).Truncate(time.Second).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *clock) Advance(d time.Duration) { c.t.Add(int64(d)) }
func (c *clock) Set(t time.Time)         { c.t.Store(t.UnixNano()) }

// hierarchy is a root and an issuing CA made as the ceremony makes them.
type hierarchy struct {
	root, issuing       *x509.Certificate
	rootKey, issuingKey crypto.Signer
}

func newHierarchy(tb testing.TB, rootKey, issuingKey string) *hierarchy {
	tb.Helper()
	rk, ik := testKey(tb, rootKey), testKey(tb, issuingKey)
	nb := time.Now().Add(-48 * time.Hour)
	root, err := ca.CreateCACertificate(ca.CACertRequest{
		Subject:   ca.CAName{Country: "DK", Organization: "OCES PKI Test", CommonName: "OCES PKI Test Root CA"},
		PublicKey: rk.Public(), IssuerSigner: rk, NotBefore: nb, Validity: 20 * 365 * 24 * time.Hour,
	})
	if err != nil {
		tb.Fatalf("root: %v", err)
	}
	issuing, err := ca.CreateCACertificate(ca.CACertRequest{
		Subject:   ca.CAName{Country: "DK", Organization: "OCES PKI Test", CommonName: "OCES PKI Test Issuing CA 1"},
		PublicKey: ik.Public(), Issuer: root, IssuerSigner: rk, IssuerName: "root",
		BaseURL: baseURL, NotBefore: nb, Validity: 10 * 365 * 24 * time.Hour,
	})
	if err != nil {
		tb.Fatalf("issuing: %v", err)
	}
	return &hierarchy{root: root, issuing: issuing, rootKey: rk, issuingKey: ik}
}

// env is a CA and a CRL publisher over one bbolt file.
type env struct {
	h     *hierarchy
	ca    *ca.CA
	iss   *ca.Issuer
	db    *bolt.DB
	path  string
	dir   string
	clock *clock
	pub   *crl.Publisher
}

func newEnv(tb testing.TB, h *hierarchy, partitionSize int, cfg crl.Config) *env {
	tb.Helper()
	e := &env{h: h, path: filepath.Join(tb.TempDir(), "oces.db"), dir: tb.TempDir(), clock: newClock()}
	e.open(tb, partitionSize, cfg)
	return e
}

// open (re)opens the store and builds the CA and the publisher on it.
func (e *env) open(tb testing.TB, partitionSize int, cfg crl.Config) {
	tb.Helper()
	db, err := bolt.Open(e.path, bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	e.db = db
	e.iss = &ca.Issuer{Name: "issuing-1", Certificate: e.h.issuing, Chain: []*x509.Certificate{e.h.root},
		Signer: e.h.issuingKey, PartitionSize: partitionSize}
	e.ca, err = ca.New(context.Background(), ca.Config{
		Issuers: []*ca.Issuer{e.iss}, BaseURL: baseURL, Certificates: db, Registry: db,
		Hasher: catest.HMACHasher("test registry key"), Clock: e.clock.Now,
	})
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Source, cfg.Issuers, cfg.BaseURL, cfg.Dir = db, []*ca.Issuer{e.iss}, baseURL, e.dir
	if cfg.Clock == nil {
		cfg.Clock = e.clock.Now
	}
	if e.pub, err = crl.New(cfg); err != nil {
		tb.Fatal(err)
	}
	e.ca.Observe(e.pub)
}

// issue issues a moces certificate.
func (e *env) issue(tb testing.TB) *ca.Certificate {
	tb.Helper()
	key := testKey(tb, "p-256")
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, key)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := e.ca.Issue(context.Background(), ca.IssueRequest{Profile: "moces", CSR: csr,
		Name: "Jens Hansen", Organization: "Firma A/S", CVR: "12345678"})
	if err != nil {
		tb.Fatalf("Issue: %v", err)
	}
	return c
}

// file returns a published CRL from the directory.
func (e *env) file(tb testing.TB, rel string) []byte {
	tb.Helper()
	der, err := os.ReadFile(filepath.Join(e.dir, rel))
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

// writePEM writes DER blocks of the type to a file in dir.
func writePEM(tb testing.TB, dir, name, typ string, ders ...[]byte) string {
	tb.Helper()
	var buf bytes.Buffer
	for _, d := range ders {
		if err := pem.Encode(&buf, &pem.Block{Type: typ, Bytes: d}); err != nil {
			tb.Fatal(err)
		}
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// openssl runs openssl and returns its combined output and whether it
// succeeded; the test is skipped when openssl is not installed.
func openssl(tb testing.TB, args ...string) (string, bool) {
	tb.Helper()
	if !haveOpenSSL(tb) {
		tb.Skip("openssl not installed")
	}
	out, err := exec.Command("openssl", args...).CombinedOutput()
	return string(out), err == nil
}

// haveOpenSSL tells whether openssl is installed; in CI (CI set) it must be.
func haveOpenSSL(tb testing.TB) bool {
	tb.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatal("openssl not installed, and CI needs its checks")
		}
		tb.Log("openssl not installed: its checks are left out")
		return false
	}
	return true
}

// verifyCRL checks a CRL's signature with crypto/x509, our own check that
// needs no openssl.
func verifyCRL(der []byte, issuer *x509.Certificate) error {
	rl, err := x509.ParseRevocationList(der)
	if err != nil {
		return err
	}
	return rl.CheckSignatureFrom(issuer)
}

var (
	lintOnce sync.Once
	lintReg  lint.Registry
	lintErr  error
)

// lintCRL runs zlint's RFC 5280 lints on a CRL and fails on any error or
// warning.
func lintCRL(tb testing.TB, name string, der []byte) {
	tb.Helper()
	lintOnce.Do(func() {
		lintReg, lintErr = lint.GlobalRegistry().Filter(lint.FilterOptions{IncludeSources: lint.SourceList{lint.RFC5280}})
	})
	if lintErr != nil {
		tb.Fatal(lintErr)
	}
	rl, err := zx509.ParseRevocationList(der)
	if err != nil {
		tb.Fatalf("%s: zcrypto cannot parse the CRL: %v", name, err)
	}
	res := zlint.LintRevocationListEx(rl, lintReg)
	for lname, r := range res.Results {
		if r.Status >= lint.Warn {
			tb.Errorf("%s: zlint %s: %s %s", name, lname, r.Status, r.Details)
		}
	}
	if len(res.Results) == 0 {
		tb.Errorf("%s: zlint ran no lints", name)
	}
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
