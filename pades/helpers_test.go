package pades

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
	"fmt"
	"io"
	"math/big"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/oces-pki/oces/internal/catest"
	"github.com/oces-pki/oces/tsa"
)

// needTool returns the path of an external tool. Without it the test is
// skipped, unless OCES_REQUIRE_TOOLS is set: then it fails.
func needTool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("OCES_REQUIRE_TOOLS") != "" {
			tb.Fatalf("%s is required (OCES_REQUIRE_TOOLS is set) but not installed", name)
		}
		tb.Skipf("%s not installed", name)
	}
	return p
}

// testPKI is a root and issuing CA from catest, a signer and a TSA.
type testPKI struct {
	root, issuing *x509.Certificate
	issuingKey    crypto.Signer
	signer        crypto.Signer
	cert          *x509.Certificate
	tsaKey        crypto.Signer
	tsaCert       *x509.Certificate
}

var (
	pkiOnce sync.Once
	pki     *testPKI
)

func newPKI(tb testing.TB) *testPKI {
	tb.Helper()
	pkiOnce.Do(func() {
		rootKey, issKey := catest.Key(tb, "p-384"), catest.Key(tb, "p-256")
		root, issuing := catest.Hierarchy(tb, rootKey, issKey, "http://127.0.0.1:1")
		signer, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		p := &testPKI{root: root, issuing: issuing, issuingKey: issKey, signer: signer, tsaKey: catest.Key(tb, "rsa-2048")}
		now := time.Now()
		ee := &x509.Certificate{
			SerialNumber: big.NewInt(7001),
			Subject: pkix.Name{Country: []string{"DK"}, Organization: []string{"Ingen organisatorisk tilknytning"},
				CommonName: "Jens Hansen"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		}
		p.cert = issue(tb, ee, issuing, p.signer.Public(), issKey)
		eku, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
		if err != nil {
			tb.Fatal(err)
		}
		ts := &x509.Certificate{
			SerialNumber: big.NewInt(7002),
			Subject:      pkix.Name{Country: []string{"DK"}, Organization: []string{"OCES PKI Test"}, CommonName: "OCES Test TSA"},
			NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
			KeyUsage:        x509.KeyUsageDigitalSignature,
			ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}},
		}
		p.tsaCert = issue(tb, ts, issuing, p.tsaKey.Public(), issKey)
		pki = p
	})
	if pki == nil {
		tb.Fatal("test PKI not built")
	}
	return pki
}

func issue(tb testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	tb.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func writePEMFile(tb testing.TB, path string, certs ...*x509.Certificate) {
	tb.Helper()
	var b bytes.Buffer
	for _, c := range certs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// fixedTime is the /M of test signatures: Sign is deterministic for fixed
// options, which signPKCS7 relies on.
var fixedTime = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

// signPKCS7 signs d with a detached CMS made by digitorus/pkcs7, an
// implementation independent of this package, over the ByteRange bytes.
// pkcs7 wants the data, not a digest, so it takes two passes: the first
// writes the update with a throwaway /Contents to learn the signed bytes,
// the second (byte for byte the same outside /Contents) embeds the CMS and
// checks that the digest Sign passes is the hash of those bytes.
func signPKCS7(tb testing.TB, d *Document, opts SignatureOptions) []byte {
	tb.Helper()
	p := newPKI(tb)
	if opts.SigningTime.IsZero() {
		opts.SigningTime = fixedTime
	}
	if opts.ContentsSize == 0 {
		opts.ContentsSize = 8192
	}
	var first bytes.Buffer
	if err := d.Sign(context.Background(), &first, opts, func(context.Context, []byte) ([]byte, error) {
		return []byte{0x30, 0x00}, nil
	}); err != nil {
		tb.Fatalf("Sign (first pass): %v", err)
	}
	signed := lastSignedBytes(tb, first.Bytes())
	sd, err := pkcs7.NewSignedData(signed)
	if err != nil {
		tb.Fatal(err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSignerChain(p.cert, p.signer, []*x509.Certificate{p.issuing}, pkcs7.SignerInfoConfig{SkipSigningTime: true}); err != nil {
		tb.Fatal(err)
	}
	sd.Detach()
	der, err := sd.Finish()
	if err != nil {
		tb.Fatal(err)
	}
	want := sha256.Sum256(signed)
	var out bytes.Buffer
	if err := d.Sign(context.Background(), &out, opts, func(_ context.Context, digest []byte) ([]byte, error) {
		if !bytes.Equal(digest, want[:]) {
			return nil, fmt.Errorf("digest %x is not the SHA-256 of the ByteRange bytes %x", digest, want)
		}
		return der, nil
	}); err != nil {
		tb.Fatalf("Sign: %v", err)
	}
	if !bytes.Equal(lastSignedBytes(tb, out.Bytes()), signed) {
		tb.Fatal("the two passes of Sign differ outside /Contents")
	}
	return out.Bytes()
}

// lastSignedBytes opens data and returns the bytes its last signature signs.
func lastSignedBytes(tb testing.TB, data []byte) []byte {
	tb.Helper()
	d, err := Open(data)
	if err != nil {
		tb.Fatalf("Open of the signed file: %v", err)
	}
	sigs, err := d.Signatures()
	if err != nil || len(sigs) == 0 {
		tb.Fatalf("Signatures: %v, %d", err, len(sigs))
	}
	b, err := io.ReadAll(sigs[len(sigs)-1].SignedBytes(data))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// mustOpen opens data or fails.
func mustOpen(tb testing.TB, data []byte) *Document {
	tb.Helper()
	d, err := Open(data)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return d
}

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

// newTSA serves the repository's TSA on loopback and returns a ContentsFunc
// that gets a token for a digest from it, and the number of calls made.
func newTSA(tb testing.TB) (ContentsFunc, *int) {
	tb.Helper()
	p := newPKI(tb)
	a, err := tsa.New(tsa.Config{
		Signer: p.tsaKey, Certificate: p.tsaCert, Chain: []*x509.Certificate{p.issuing},
		Policies: []asn1.ObjectIdentifier{{1, 2, 208, 169, 1, 1, 1, 9, 1}},
		Serials:  tsa.NewBlockSerials(&memCounter{}, "tsa", 16),
	})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(a)
	tb.Cleanup(srv.Close)
	calls := new(int)
	return func(ctx context.Context, digest []byte) ([]byte, error) {
		*calls++
		tok, err := tsa.Query(ctx, srv.Client(), srv.URL, digest, crypto.SHA256, tsa.QueryOptions{})
		if err != nil {
			return nil, err
		}
		return tok.Raw, nil
	}, calls
}

// pdfsigResult is one signature as pdfsig reports it.
type pdfsigResult struct {
	field, sigType, validation, certificate string
	total                                   bool
}

var pdfsigNSS struct {
	once sync.Once
	dir  string
	err  error
}

// nssDir makes one NSS database for the test binary that trusts the test
// root, so pdfsig need not touch the user's.
func nssDir(tb testing.TB) string {
	tb.Helper()
	certutil := needTool(tb, "certutil")
	pdfsigNSS.once.Do(func() {
		dir, err := os.MkdirTemp("", "pades-nss-")
		if err != nil {
			pdfsigNSS.err = err
			return
		}
		root := filepath.Join(dir, "root.pem")
		writePEMFile(tb, root, newPKI(tb).root)
		for _, args := range [][]string{
			{"-N", "-d", "sql:" + dir, "--empty-password"},
			{"-A", "-d", "sql:" + dir, "-n", "oces-test-root", "-t", "C,C,C", "-a", "-i", root},
		} {
			if out, err := exec.Command(certutil, args...).CombinedOutput(); err != nil {
				pdfsigNSS.err = fmt.Errorf("certutil %v: %v\n%s", args, err, out)
				return
			}
		}
		pdfsigNSS.dir = dir
	})
	if pdfsigNSS.err != nil {
		tb.Fatal(pdfsigNSS.err)
	}
	return pdfsigNSS.dir
}

// TestMain removes the NSS database and the PDFBox and pdfcpu builds
// shared by the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range []string{pdfsigNSS.dir, pdfbox.dir, pdfcpuCLI.dir} {
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
	os.Exit(code)
}

var pdfsigBlock = regexp.MustCompile(`(?m)^Signature #\d+:`)

// runPdfsig runs poppler's pdfsig over data and parses its report.
func runPdfsig(tb testing.TB, data []byte) []pdfsigResult {
	tb.Helper()
	pdfsig := needTool(tb, "pdfsig")
	nss := nssDir(tb)
	path := filepath.Join(tb.TempDir(), "signed.pdf")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	out, err := exec.Command(pdfsig, "-no-ocsp", "-nssdir", "sql:"+nss, path).CombinedOutput()
	if err != nil {
		tb.Fatalf("pdfsig: %v\n%s", err, out)
	}
	text := string(out)
	locs := pdfsigBlock.FindAllStringIndex(text, -1)
	var res []pdfsigResult
	for i, loc := range locs {
		end := len(text)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		block := text[loc[0]:end]
		r := pdfsigResult{total: strings.Contains(block, "Total document signed")}
		for _, line := range strings.Split(block, "\n") {
			line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "-"))
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			v = strings.TrimSpace(v)
			switch strings.TrimSpace(k) {
			case "Signature Field Name":
				r.field = v
			case "Signature Type":
				r.sigType = v
			case "Signature Validation":
				r.validation = v
			case "Certificate Validation":
				r.certificate = v
			}
		}
		res = append(res, r)
	}
	if len(res) == 0 {
		tb.Logf("pdfsig:\n%s", text)
	}
	return res
}

// checkPdfsig asserts that pdfsig finds want signatures, each signature
// (not document time-stamp: poppler 22 does not check those) valid and of
// a PDF signature type, and that it agrees with Signatures on which one
// covers the whole file. The certificate verdict is logged, not judged: it
// depends on NSS and OCSP settings, not on the file.
func checkPdfsig(tb testing.TB, data []byte, want int) []pdfsigResult {
	tb.Helper()
	ours := mustSignatures(tb, data)
	res := runPdfsig(tb, data)
	if len(res) != want || len(ours) != want {
		tb.Fatalf("pdfsig found %d signatures, Signatures %d, want %d: %+v", len(res), len(ours), want, res)
	}
	for i, r := range res {
		tb.Logf("pdfsig #%d %s (%s): %s; %s", i+1, r.field, r.sigType, r.validation, r.certificate)
		if r.field != ours[i].FieldName {
			tb.Errorf("pdfsig: signature #%d is field %q, Signatures says %q", i+1, r.field, ours[i].FieldName)
		}
		if r.total != ours[i].CoversWholeFile {
			tb.Errorf("pdfsig: signature #%d covers the whole file: %v, Signatures says %v", i+1, r.total, ours[i].CoversWholeFile)
		}
		if ours[i].Type == "DocTimeStamp" {
			continue
		}
		if r.validation != "Signature is Valid." {
			tb.Errorf("pdfsig: signature #%d (%s, %s): %q", i+1, r.field, r.sigType, r.validation)
		}
		if r.sigType != ours[i].SubFilter {
			tb.Errorf("pdfsig: signature #%d type %q, Signatures says %q", i+1, r.sigType, ours[i].SubFilter)
		}
	}
	return res
}

// qpdfCheck asserts that qpdf --check finds no error or warning.
func qpdfCheck(tb testing.TB, data []byte) {
	tb.Helper()
	qpdf := needTool(tb, "qpdf")
	path := filepath.Join(tb.TempDir(), "check.pdf")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	out, err := exec.Command(qpdf, "--check", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "No syntax or stream encoding errors found") {
		tb.Errorf("qpdf --check: %v\n%s", err, out)
	}
}
