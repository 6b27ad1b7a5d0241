package citizen_test

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/cades"
	"github.com/oces-pki/oces/citizen"
	"github.com/oces-pki/oces/internal/pdfcheck"
	"github.com/oces-pki/oces/internal/pkitest"
	"github.com/oces-pki/oces/pades/testdata/corpus"
	"github.com/oces-pki/oces/revocation"
	"github.com/oces-pki/oces/signer"
)

// withRSAPool wires e's signing again, as newSigningEnv does, with an
// RSA-3072 pool whose keys m makes in e's token.
func withRSAPool(t testing.TB, e *env, m *rsaMaker, size int) *citizen.KeyPool {
	t.Helper()
	return withRSAPoolAt(t, e, m, citizen.PoolConfig{Size: size, Wait: 100 * time.Millisecond}, 0, -1)
}

// withRSAPoolAt is withRSAPool with the pool's configuration, the level
// of the signatures and how long status answers are cached.
func withRSAPoolAt(t testing.TB, e *env, m *rsaMaker, pc citizen.PoolConfig, level cades.Level, maxAge time.Duration) *citizen.KeyPool {
	t.Helper()
	m.h, m.token = e.HSM, e.Token.TokenURI()
	if pc.New == nil {
		pc.New = m.New
	}
	pool, err := citizen.NewKeyPool(pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pool.Close() })
	fetcher := revocation.New(revocation.Config{MaxAge: maxAge})
	sg, err := signer.New(signer.Config{
		TSA:        &signer.TSAClient{URL: e.pki.TSAURL, Roots: e.pki.Roots(), Revocation: fetcher},
		Revocation: fetcher, Audit: e.pki.Store,
	})
	if err != nil {
		t.Fatal(err)
	}
	err = e.svc.SetSigning(citizen.Signing{Signer: sg, CA: e.pki.CA, RSAKeys: pool, Level: level,
		NewKey: func(ctx context.Context) (citizen.OneTimeKey, error) {
			return e.HSM.GenerateSessionKey(ctx, e.Token.TokenURI())
		}})
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

// TestSignDocumentRSA signs in the MitID model with RSA-3072 keys from the
// pool: a PAdES signature that pdfsig accepts and a detached CAdES
// RSASSA-PSS signature that openssl cms verifies, each under a
// qualified-signing certificate that zlint passes, each key gone after its
// signature; an empty pool refuses in bounded time and keeps the SAD.
func TestSignDocumentRSA(t *testing.T) {
	t.Parallel()
	e := newSigningEnv(t)
	m := &rsaMaker{allow: make(chan struct{}, 10)}
	m.open(2)
	pool := withRSAPool(t, e, m, 2)
	ctx := context.Background()
	en := e.enrol(t, "karen.j", cpr, password)
	authorize := func(doc []byte) string {
		t.Helper()
		d := sha256.Sum256(doc)
		ch, err := e.svc.Challenge(ctx, "karen.j")
		if err != nil {
			t.Fatal(err)
		}
		sad, err := e.svc.Authorize(ctx, citizen.AuthorizeRequest{UserID: "karen.j", Password: password, Code: code(t, en.Card, ch), Hashes: [][]byte{d[:]}})
		if err != nil {
			t.Fatal(err)
		}
		return sad.Token
	}
	waitLen(t, pool, 2)

	pdf := corpus.Read(t, "v17-fonts.pdf")
	signed, err := e.svc.SignDocument(ctx, citizen.DocumentRequest{UserID: "karen.j", SAD: authorize(pdf), Document: pdf, PDF: true, Key: citizen.KeyRSA3072})
	if err != nil {
		t.Fatal(err)
	}
	checkRSACertificate(t, signed)
	path := filepath.Join(t.TempDir(), "signed.pdf")
	if err := os.WriteFile(path, signed.Data, 0o600); err != nil {
		t.Fatal(err)
	}
	if sigs := pdfcheck.Pdfsig(t, path, ""); len(sigs) != 2 || !sigs[0].SignatureValid || sigs[0].SignerCommonName != "Karen Jensen" {
		t.Fatalf("pdfsig: %+v", sigs)
	}

	text := []byte("Aftale om køb af bolig.\n")
	signed, err = e.svc.SignDocument(ctx, citizen.DocumentRequest{UserID: "karen.j", SAD: authorize(text), Document: text, Key: citizen.KeyRSA3072, PSS: true})
	if err != nil {
		t.Fatal(err)
	}
	checkRSACertificate(t, signed)
	sd, err := cades.Parse(signed.Data)
	if err != nil {
		t.Fatal(err)
	}
	if sd.Level() != cades.LevelBLTA {
		t.Fatalf("level %s", sd.Level())
	}
	caFile := pkitest.WriteChain(t, t.TempDir(), "ca.pem", e.pki.Root, e.pki.Issuing)
	pdfcheck.OpenSSLCMSVerify(t, text, signed.Data, caFile)

	// Both keys are gone: from the token as this process sees it, and
	// pkcs11-tool lists no one-time key.
	if live := m.live(t); len(live) != 0 {
		t.Fatalf("one-time keys left in the token: %v", live)
	}
	if out := pkcs11List(t, e); strings.Contains(out, "session-") {
		t.Fatalf("pkcs11-tool lists a one-time key:\n%s", out)
	}

	// The pool is empty and not refilling: the request is refused in
	// bounded time as unavailable, and its SAD still works once a key
	// is there.
	sad := authorize(text)
	start := time.Now()
	if _, err := e.svc.SignDocument(ctx, citizen.DocumentRequest{UserID: "karen.j", SAD: sad, Document: text, Key: citizen.KeyRSA3072}); !errors.Is(err, citizen.ErrUnavailable) {
		t.Fatalf("an empty pool: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("refused after %s", d)
	}
	m.open(1)
	waitLen(t, pool, 1)
	if _, err := e.svc.SignDocument(ctx, citizen.DocumentRequest{UserID: "karen.j", SAD: sad, Document: text, Key: citizen.KeyRSA3072}); err != nil {
		t.Fatalf("the SAD kept for a retry: %v", err)
	}
	// A SAD for another document takes no key from the pool.
	m.open(1)
	waitLen(t, pool, 1)
	if _, err := e.svc.SignDocument(ctx, citizen.DocumentRequest{UserID: "karen.j", SAD: authorize(pdf), Document: text, Key: citizen.KeyRSA3072}); !errors.Is(err, citizen.ErrSAD) {
		t.Fatalf("a SAD for another document: %v", err)
	}
	if pool.Len() != 1 {
		t.Fatal("a request with a bad SAD took a key")
	}
	for _, bad := range []citizen.DocumentRequest{
		{Key: "RSA-2048"},
		{Key: citizen.KeyP256, PSS: true},
		{Key: citizen.KeyRSA3072, LongTerm: true},
	} {
		bad.UserID, bad.SAD, bad.Document = "karen.j", "x", text
		if _, err := e.svc.SignDocument(ctx, bad); !errors.Is(err, citizen.ErrInvalidRequest) {
			t.Errorf("%+v: %v, want ErrInvalidRequest", bad, err)
		}
	}
	assertAudited(t, e, map[string]int{citizen.ActionKeyDestroy: 3, signer.ActionSignBefore: 3, signer.ActionSignAfter: 3})
}

// checkRSACertificate checks the one-time certificate: RSA-3072, the
// qualified-signing profile's statements, and zlint's RFC 5280 and ETSI
// lints without an error or a warning.
func checkRSACertificate(t *testing.T, s *citizen.Signed) {
	t.Helper()
	pub, ok := s.Certificate.PublicKey.(*rsa.PublicKey)
	if !ok || pub.N.BitLen() != 3072 {
		t.Fatalf("certificate key %T", s.Certificate.PublicKey)
	}
	if !strings.HasPrefix(s.Certificate.Subject.SerialNumber, "UI:DK-P:G:") {
		t.Fatalf("subject %s", s.Certificate.Subject)
	}
	qc := false
	for _, ext := range s.Certificate.Extensions {
		qc = qc || ext.Id.String() == "1.3.6.1.5.5.7.1.3"
	}
	if !qc {
		t.Fatal("no qcStatements")
	}
	reg, err := lint.GlobalRegistry().Filter(lint.FilterOptions{IncludeSources: ca.LintSources})
	if err != nil {
		t.Fatal(err)
	}
	zc, err := zx509.ParseCertificate(s.Certificate.Raw)
	if err != nil {
		t.Fatal(err)
	}
	res := zlint.LintCertificateEx(zc, reg)
	for name, r := range res.Results {
		if r.Status >= lint.Warn {
			t.Errorf("zlint %s: %s %s", name, r.Status, r.Details)
		}
	}
	if len(res.Results) < 50 {
		t.Fatalf("zlint ran only %d lints", len(res.Results))
	}
}
