package validate_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/cades"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/pkitest"
	"github.com/oces-pki/oces/pades"
	"github.com/oces-pki/oces/pades/testdata/corpus"
	"github.com/oces-pki/oces/revocation"
	"github.com/oces-pki/oces/signer"
	"github.com/oces-pki/oces/validate"
	"github.com/oces-pki/oces/validate/testdata/attacks"
)

// fixture is a running PKI, the signing service and a seal.
type fixture struct {
	pki  *pkitest.PKI
	seal *pkitest.Seal
	svc  *signer.Service
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	p := pkitest.New(t, hsm.ECP256)
	f := &fixture{pki: p}
	f.seal = p.NewSeal(t, "voces", hsm.ECP256)
	fetcher := revocation.New(revocation.Config{MaxAge: -1})
	svc, err := signer.New(signer.Config{
		TSA:        &signer.TSAClient{URL: p.TSAURL, Roots: p.Roots(), Revocation: fetcher},
		Revocation: fetcher, Audit: p.Store,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

func (f *fixture) request(seal *pkitest.Seal, level cades.Level) signer.Request {
	return signer.Request{Seal: &signer.Seal{Name: "firma", Key: seal.Key, Chain: seal.Chain}, Level: level,
		Actor: audit.Actor{Subject: "CN=test"}}
}

// validator trusts the fixture's root; live is whether it may fetch OCSP
// and CRLs; now, when set, is the validation time.
func (f *fixture) validator(t *testing.T, live bool, now time.Time) *validate.Validator {
	t.Helper()
	cfg := validate.Config{TrustAnchors: []*x509.Certificate{f.pki.Root}}
	if live {
		cfg.Revocation = revocation.New(revocation.Config{MaxAge: -1})
	}
	if !now.IsZero() {
		cfg.Now = func() time.Time { return now }
	}
	v, err := validate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (f *fixture) signPDF(t testing.TB, seal *pkitest.Seal, level cades.Level, pdf []byte) []byte {
	t.Helper()
	out, err := f.svc.SignPDF(context.Background(), f.request(seal, level), pdf)
	if err != nil {
		t.Fatalf("signing at %s: %v", level, err)
	}
	return out
}

// expect checks the one signature entry of kind typ in r (the first).
func expect(t *testing.T, r *validate.Report, typ string, ind validate.Indication, sub validate.SubIndication) validate.SignatureReport {
	t.Helper()
	for _, s := range r.Signatures {
		if s.Type != typ {
			continue
		}
		if s.Indication != ind || s.SubIndication != sub {
			t.Fatalf("%s %q: got %s %s (%s), want %s %s\nwarnings: %v\nchanges: %v", typ, s.ID, s.Indication, s.SubIndication, s.Reason, ind, sub, s.Warnings, s.Changes)
		}
		return s
	}
	t.Fatalf("no %s in the report (%d entries)", typ, len(r.Signatures))
	return validate.SignatureReport{}
}

func validatePDF(t *testing.T, v *validate.Validator, pdf []byte) *validate.Report {
	t.Helper()
	r, err := v.ValidatePDF(context.Background(), pdf)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// corpusValidator trusts the corpus's test root, offline.
func corpusValidator(t *testing.T) *validate.Validator {
	t.Helper()
	v, err := validate.New(validate.Config{TrustAnchors: []*x509.Certificate{readCert(t, corpus.Path(t, "pki/root.pem"))}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func readCert(t testing.TB, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// flip returns a copy of b with one byte changed inside needle's first
// occurrence.
func flip(t *testing.T, b []byte, needle string) []byte {
	t.Helper()
	i := bytes.Index(b, []byte(needle))
	if i < 0 {
		t.Fatalf("%q not found", needle)
	}
	out := bytes.Clone(b)
	out[i+len(needle)/2] ^= 0x01
	return out
}

func basePDF() []byte { return attacks.Base() }

func joined(list []string) string { return strings.Join(list, "; ") }

// signRaw signs pdf at B-B with the seal's key straight through pades and
// cades, with /M set to when: a signature the signing service would refuse
// to make (it checks the certificate first).
func signRaw(t *testing.T, seal *pkitest.Seal, pdf []byte, when time.Time) []byte {
	t.Helper()
	doc, err := pades.Open(pdf)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = doc.Sign(context.Background(), &out, pades.SignatureOptions{SigningTime: when, Name: "raw"},
		func(ctx context.Context, digest []byte) ([]byte, error) {
			return cades.SignDigest(ctx, seal.Key, digest, cades.SignOptions{Certificates: seal.Chain})
		})
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func extend(level cades.Level) signer.ExtendRequest {
	return signer.ExtendRequest{Level: level, Actor: audit.Actor{Subject: "CN=test"}}
}

// suspend puts the seal's certificate on hold and waits until OCSP says so.
func (f *fixture) suspend(t *testing.T, seal *pkitest.Seal) {
	t.Helper()
	ctx := context.Background()
	if _, err := f.pki.CA.Suspend(ctx, seal.Cert.Serial, audit.System); err != nil {
		t.Fatal(err)
	}
	fetch := revocation.New(revocation.Config{MaxAge: -1, DisableCRL: true})
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		res, err := fetch.Check(ctx, seal.X509, f.pki.Issuing)
		if err == nil && res.Status == revocation.Hold {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("OCSP does not say the certificate is on hold: %v %v", res, err)
		}
	}
}

const attacksVisible = attacks.Visible

func corpusAnchor(tb testing.TB) []*x509.Certificate {
	tb.Helper()
	return []*x509.Certificate{readCert(tb, corpus.Path(tb, "pki/root.pem"))}
}

func hexBytes(h []byte) []byte {
	out, err := hex.DecodeString(string(h))
	if err != nil {
		return nil
	}
	return bytes.TrimRight(out, "\x00")
}
