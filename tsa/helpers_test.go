package tsa

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

var (
	testPolicy  = asn1.ObjectIdentifier{1, 2, 208, 169, 1, 1, 1, 9, 1} // made up for tests
	testPolicy2 = asn1.ObjectIdentifier{1, 2, 208, 169, 1, 1, 1, 9, 2}
	oidKPTime   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
)

// testPKI is a throwaway root CA, issuing CA and TSA certificate.
type testPKI struct {
	root, issuing, tsa *x509.Certificate
	tsaKey             crypto.Signer
	roots              *x509.CertPool
}

var (
	pkiMu    sync.Mutex
	pkiCache = map[string]*testPKI{}
)

// newTestPKI returns a PKI whose TSA key is of kind "p256", "p384" or "rsa";
// it is cached per kind because RSA key generation is slow.
func newTestPKI(tb testing.TB, kind string) *testPKI {
	tb.Helper()
	pkiMu.Lock()
	defer pkiMu.Unlock()
	if p, ok := pkiCache[kind]; ok {
		return p
	}
	rootKey := mustECKey(tb, elliptic.P384())
	issKey := mustECKey(tb, elliptic.P256())
	var tsaKey crypto.Signer
	switch kind {
	case "p256":
		tsaKey = mustECKey(tb, elliptic.P256())
	case "p384":
		tsaKey = mustECKey(tb, elliptic.P384())
	case "rsa":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			tb.Fatal(err)
		}
		tsaKey = k
	default:
		tb.Fatalf("unknown key kind %q", kind)
	}
	p := &testPKI{tsaKey: tsaKey, roots: x509.NewCertPool()}
	p.root = mustCert(tb, caTemplate("OCES Test Root", 1), nil, rootKey.Public(), rootKey)
	p.issuing = mustCert(tb, caTemplate("OCES Test Issuing CA", 2), p.root, issKey.Public(), rootKey)
	p.tsa = mustCert(tb, tsaTemplate(tb, true, oidKPTime), p.issuing, tsaKey.Public(), issKey)
	p.roots.AddCert(p.root)
	pkiCache[kind] = p
	return p
}

func mustECKey(tb testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func caTemplate(cn string, serial int64) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{Country: []string{"DK"}, Organization: []string{"OCES Test"}, CommonName: cn},
		NotBefore:             time.Now().Add(-24 * time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
}

// tsaTemplate builds a TSA certificate template with the given EKUs in an
// extension of the given criticality.
func tsaTemplate(tb testing.TB, critical bool, ekus ...asn1.ObjectIdentifier) *x509.Certificate {
	tb.Helper()
	v, err := asn1.Marshal(ekus)
	if err != nil {
		tb.Fatal(err)
	}
	return &x509.Certificate{
		SerialNumber:    big.NewInt(1000),
		Subject:         pkix.Name{Country: []string{"DK"}, Organization: []string{"OCES Test"}, CommonName: "OCES Test TSA"},
		NotBefore:       time.Now().Add(-24 * time.Hour),
		NotAfter:        time.Now().Add(5 * 365 * 24 * time.Hour),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: oidExtKeyUsage, Critical: critical, Value: v}},
	}
}

func mustCert(tb testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, priv crypto.Signer) *x509.Certificate {
	tb.Helper()
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// memCounter is an in-memory Counter.
type memCounter struct {
	mu   sync.Mutex
	next uint64
	fail error
}

func (c *memCounter) NextCounter(_ context.Context, _ string, n uint64) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return 0, c.fail
	}
	first := c.next
	c.next += n
	return first, nil
}

// fileCounter persists its next value to a file, like a durable store would.
type fileCounter struct {
	path  string
	calls int
}

func (c *fileCounter) NextCounter(_ context.Context, _ string, n uint64) (uint64, error) {
	c.calls++
	var first uint64
	b, err := os.ReadFile(c.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return 0, err
	default:
		if first, err = strconv.ParseUint(string(b), 10, 64); err != nil {
			return 0, err
		}
	}
	tmp := c.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.FormatUint(first+n, 10)), 0o600); err != nil {
		return 0, err
	}
	return first, os.Rename(tmp, c.path)
}

// fixedClock is a Clock that returns the same instant.
func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// testNow lies inside the test certificates' validity and has sub-second digits.
var testNow = time.Now().UTC().Add(-time.Hour).Truncate(time.Second).Add(345678901)

// newTestAuthority builds an Authority over signer and p's TSA certificate,
// with edit applied to the Config first.
func newTestAuthority(tb testing.TB, p *testPKI, edit func(*Config)) *Authority {
	tb.Helper()
	cfg := Config{
		Signer:      p.tsaKey,
		Certificate: p.tsa,
		Chain:       []*x509.Certificate{p.issuing},
		Policies:    []asn1.ObjectIdentifier{testPolicy, testPolicy2},
		Serials:     NewBlockSerials(&memCounter{}, "tsa", 16),
		Clock:       fixedClock(testNow),
	}
	if edit != nil {
		edit(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// reqFields is a TimeStampReq to encode, with defaults filled by encodeReq.
type reqFields struct {
	version    int
	hashOID    asn1.ObjectIdentifier
	params     asn1.RawValue
	digest     []byte
	policy     asn1.ObjectIdentifier
	nonce      *big.Int
	certReq    bool
	extensions []pkix.Extension
}

func encodeReq(tb testing.TB, f reqFields) []byte {
	tb.Helper()
	if f.version == 0 {
		f.version = 1
	}
	if f.hashOID == nil {
		f.hashOID = oidSHA256
	}
	if f.digest == nil {
		d := sha256.Sum256([]byte("hello"))
		f.digest = d[:]
	}
	der, err := asn1.Marshal(timeStampReq{
		Version: f.version,
		MessageImprint: messageImprint{
			HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: f.hashOID, Parameters: f.params},
			HashedMessage: f.digest,
		},
		ReqPolicy:  f.policy,
		Nonce:      f.nonce,
		CertReq:    f.certReq,
		Extensions: f.extensions,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

func writePEM(tb testing.TB, path string, certs ...*x509.Certificate) {
	tb.Helper()
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		tb.Fatal(err)
	}
}

func tempPath(tb testing.TB, name string) string {
	tb.Helper()
	return filepath.Join(tb.TempDir(), name)
}
