package cades

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/oces-pki/oces/internal/catest"
	"github.com/oces-pki/oces/tsa"
)

var testPolicy = asn1.ObjectIdentifier{1, 2, 208, 169, 1, 1, 1, 9, 1} // made up for tests

// fixture is a test PKI: root and issuing CA, end-entity signers of each
// key kind, and a real RFC 3161 TSA (the repository's tsa package) served
// over HTTP on loopback.
type fixture struct {
	root, issuing *x509.Certificate
	issuingKey    crypto.Signer
	signers       map[string]signer // by kind: "rsa", "p256", "p384"
	tsaCert       *x509.Certificate
	tsaKey        crypto.Signer
	ts            *tsaClient
}

type signer struct {
	key  crypto.Signer
	cert *x509.Certificate
}

var (
	fixtureOnce sync.Once
	theFixture  *fixture
)

// newFixture returns the process-wide fixture; its TSA server lives as long
// as the test binary.
func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	fixtureOnce.Do(func() { theFixture = buildFixture(tb) })
	if theFixture == nil {
		tb.Fatal("fixture set-up failed in an earlier test")
	}
	return theFixture
}

func buildFixture(tb testing.TB) *fixture {
	rootKey, issuingKey := catest.Key(tb, "p-384"), catest.Key(tb, "p-256")
	root, issuing := catest.Hierarchy(tb, rootKey, issuingKey, "http://oces.test")
	f := &fixture{root: root, issuing: issuing, issuingKey: issuingKey, signers: map[string]signer{}}
	for kind, k := range map[string]crypto.Signer{
		"rsa": catest.Key(tb, "rsa-2048"), "p256": mustECKey(tb, elliptic.P256()), "p384": mustECKey(tb, elliptic.P384()),
	} {
		f.signers[kind] = signer{k, f.issue(tb, k.Public(), "OCES test signer "+kind, x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment, nil)}
	}
	f.tsaKey = mustECKey(tb, elliptic.P256())
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	f.tsaCert = f.issue(tb, f.tsaKey.Public(), "OCES test TSA", x509.KeyUsageDigitalSignature,
		[]pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}})
	f.ts = f.newTSA(tb, nil)
	return f
}

// newTSA serves a TSA with the fixture's TSA key on loopback; clock nil is
// the real clock. The server lives as long as the test binary when made by
// buildFixture, otherwise as long as tb.
func (f *fixture) newTSA(tb testing.TB, clock func() time.Time) *tsaClient {
	auth, err := tsa.New(tsa.Config{
		Signer: f.tsaKey, Certificate: f.tsaCert, Chain: []*x509.Certificate{f.issuing},
		Policies: []asn1.ObjectIdentifier{testPolicy}, Serials: tsa.NewBlockSerials(&memCounter{}, "tsa", 64),
		Accuracy: time.Millisecond, // sub-second genTime
		Clock:    clock,
	})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(auth)
	if clock != nil {
		tb.Cleanup(srv.Close)
	}
	return &tsaClient{url: srv.URL, client: srv.Client()}
}

// issue makes an end-entity certificate signed by the issuing CA.
func (f *fixture) issue(tb testing.TB, pub crypto.PublicKey, cn string, ku x509.KeyUsage, exts []pkix.Extension) *x509.Certificate {
	tb.Helper()
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{
		SerialNumber:    serial,
		Subject:         pkix.Name{Country: []string{"DK"}, Organization: []string{"OCES PKI Test"}, CommonName: cn},
		NotBefore:       time.Now().Add(-time.Hour),
		NotAfter:        time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:        ku,
		ExtraExtensions: exts,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, f.issuing, pub, f.issuingKey)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// crl is a CRL of the issuing CA revoking nothing.
func (f *fixture) crl(tb testing.TB) []byte {
	tb.Helper()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(time.Now().UnixNano()), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour),
	}, f.issuing, f.issuingKey)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

// ocspResponse is a good OCSP response for cert, signed by the issuing CA.
func (f *fixture) ocspResponse(tb testing.TB, cert *x509.Certificate) []byte {
	tb.Helper()
	der, err := ocsp.CreateResponse(f.issuing, f.issuing, ocsp.Response{
		Status: ocsp.Good, SerialNumber: cert.SerialNumber, ThisUpdate: time.Now().Add(-time.Minute),
		NextUpdate: time.Now().Add(time.Hour),
	}, f.issuingKey)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

// validationData is what B-LT needs for signer s and the TSA.
func (f *fixture) validationData(tb testing.TB, s signer) ValidationData {
	return ValidationData{
		Certificates:  []*x509.Certificate{s.cert, f.issuing, f.root, f.tsaCert},
		CRLs:          [][]byte{f.crl(tb)},
		OCSPResponses: [][]byte{f.ocspResponse(tb, s.cert), f.ocspResponse(tb, f.tsaCert)},
	}
}

// tsaClient implements Timestamper over tsa.Query, as the signing service
// does.
type tsaClient struct {
	url    string
	client *http.Client
	calls  int
	mu     sync.Mutex
}

func (c *tsaClient) Timestamp(ctx context.Context, digest []byte, hash crypto.Hash) ([]byte, error) {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	tok, err := tsa.Query(ctx, c.client, c.url, digest, hash, tsa.QueryOptions{})
	if err != nil {
		return nil, err
	}
	return tok.Raw, nil
}

var _ Timestamper = (*tsaClient)(nil)

// memCounter is an in-memory tsa.Counter.
type memCounter struct {
	mu   sync.Mutex
	next uint64
}

func (c *memCounter) NextCounter(_ context.Context, _ string, n uint64) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	first := c.next
	c.next += n
	return first, nil
}

func mustECKey(tb testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

var testContent = []byte("Hej OCES. Dette dokument er underskrevet.\n")

// signB signs testContent at B-B.
func signB(tb testing.TB, f *fixture, kind string, h crypto.Hash, pss bool) []byte {
	tb.Helper()
	s := f.signers[kind]
	out, err := Sign(context.Background(), s.key, bytes.NewReader(testContent), SignOptions{
		Hash: h, PSS: pss, Certificates: []*x509.Certificate{s.cert, f.issuing},
		SigningTime: time.Now(),
	})
	if err != nil {
		tb.Fatalf("Sign(%s, %v, pss=%v): %v", kind, h, pss, err)
	}
	return out
}

// levels takes a B-B signature through B-T, B-LT and B-LTA and returns all
// four.
func levels(tb testing.TB, f *fixture, kind string, bb []byte, h crypto.Hash) map[Level][]byte {
	tb.Helper()
	ctx := context.Background()
	bt, err := AddSignatureTimeStamp(ctx, bb, f.ts, h)
	if err != nil {
		tb.Fatalf("AddSignatureTimeStamp: %v", err)
	}
	blt, err := AddValidationData(bt, f.validationData(tb, f.signers[kind]))
	if err != nil {
		tb.Fatalf("AddValidationData: %v", err)
	}
	blta, err := AddArchiveTimeStamp(ctx, blt, bytes.NewReader(testContent), f.ts, h)
	if err != nil {
		tb.Fatalf("AddArchiveTimeStamp: %v", err)
	}
	return map[Level][]byte{LevelBB: bb, LevelBT: bt, LevelBLT: blt, LevelBLTA: blta}
}

func mustParse(tb testing.TB, der []byte) *SignedData {
	tb.Helper()
	sd, err := Parse(der)
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return sd
}

// tool finds an external program: a missing one skips the test unless
// OCES_REQUIRE_TOOLS is set, which makes it fail.
func tool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("OCES_REQUIRE_TOOLS") != "" {
			tb.Fatalf("%s not installed and OCES_REQUIRE_TOOLS is set", name)
		}
		tb.Skipf("%s not installed (set OCES_REQUIRE_TOOLS to make this a failure)", name)
	}
	return p
}

func writePEM(tb testing.TB, path, typ string, ders ...[]byte) {
	tb.Helper()
	var out []byte
	for _, d := range ders {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: d})...)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		tb.Fatal(err)
	}
}

func writeFile(tb testing.TB, dir, name string, data []byte) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

func sha256Of(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
