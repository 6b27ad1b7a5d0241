package signer_test

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/cades"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/pdfcheck"
	"github.com/oces-pki/oces/internal/pkitest"
	"github.com/oces-pki/oces/pades"
	"github.com/oces-pki/oces/revocation"
	"github.com/oces-pki/oces/signer"
)

// fixture is a running PKI, a seal in its token and the signing service.
type fixture struct {
	pki    *pkitest.PKI
	seal   *pkitest.Seal
	svc    *signer.Service
	caFile string // root and issuing CA, PEM
	dir    string
}

func newFixture(t *testing.T, alg hsm.KeyAlgorithm) *fixture {
	t.Helper()
	p := pkitest.New(t, hsm.RSA3072)
	f := &fixture{pki: p, seal: p.NewSeal(t, "voces", alg), dir: t.TempDir()}
	f.caFile = pkitest.WriteChain(t, f.dir, "ca.pem", p.Root, p.Issuing)
	f.svc = f.service(t, revocation.Config{MaxAge: -1})
	return f
}

func (f *fixture) service(t *testing.T, rc revocation.Config) *signer.Service {
	t.Helper()
	fetcher := revocation.New(rc)
	svc, err := signer.New(signer.Config{
		TSA:        &signer.TSAClient{URL: f.pki.TSAURL, Roots: f.pki.Roots(), Revocation: fetcher},
		Revocation: fetcher, Audit: f.pki.Store,
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func (f *fixture) request(level cades.Level) signer.Request {
	return signer.Request{Seal: &signer.Seal{Name: "firma", Key: f.seal.Key, Chain: f.seal.Chain}, Level: level,
		Actor: audit.Actor{Subject: "CN=test client"}}
}

var levels = []cades.Level{cades.LevelBB, cades.LevelBT, cades.LevelBLT, cades.LevelBLTA}

func TestCAdESLevels(t *testing.T) {
	data := bytes.Repeat([]byte("Aftale om levering af varer. "), 1000)
	for _, alg := range []hsm.KeyAlgorithm{hsm.RSA3072, hsm.ECP256} {
		f := newFixture(t, alg)
		for _, level := range levels {
			for _, variant := range []struct {
				name string
				hash crypto.Hash
				pss  bool
			}{{"sha256", crypto.SHA256, false}, {"sha384-pss", crypto.SHA384, true}, {"sha512", crypto.SHA512, false}} {
				if variant.pss && alg != hsm.RSA3072 {
					continue
				}
				t.Run(alg.String()+"/"+level.String()+"/"+variant.name, func(t *testing.T) {
					t.Parallel()
					req := f.request(level)
					req.Hash, req.PSS = variant.hash, variant.pss
					p7s, err := f.svc.SignCAdES(context.Background(), req, data)
					if err != nil {
						t.Fatal(err)
					}
					sd, err := cades.Parse(p7s)
					if err != nil {
						t.Fatal(err)
					}
					if got := sd.Level(); got != level {
						t.Errorf("the signature reaches %s, want %s", got, level)
					}
					if level >= cades.LevelBLT && (len(sd.OCSPResponses) == 0 || len(sd.CRLs) == 0) {
						t.Errorf("B-LT needs the signer's OCSP response and the issuing CA's ARL: %d OCSP, %d CRL", len(sd.OCSPResponses), len(sd.CRLs))
					}
					pdfcheck.OpenSSLCMSVerify(t, data, p7s, f.caFile)
				})
			}
		}
	}
}

func TestCAdESDigestAndExtend(t *testing.T) {
	f := newFixture(t, hsm.ECP256)
	ctx := context.Background()
	data := []byte("a large file, hashed by the client\n")
	digest := crypto.SHA256.New()
	digest.Write(data)
	p7s, err := f.svc.SignDigest(ctx, f.request(cades.LevelBT), digest.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	pdfcheck.OpenSSLCMSVerify(t, data, p7s, f.caFile)
	if _, err := f.svc.SignDigest(ctx, f.request(cades.LevelBLTA), digest.Sum(nil)); !errors.Is(err, signer.ErrInvalidRequest) {
		t.Fatalf("B-LTA of a bare hash: got %v, want ErrInvalidRequest", err)
	}
	if _, err := f.svc.SignDigest(ctx, f.request(cades.LevelBT), []byte("short")); !errors.Is(err, signer.ErrInvalidRequest) {
		t.Fatalf("a digest of the wrong length: got %v", err)
	}

	lta, err := f.svc.ExtendCAdES(ctx, signer.ExtendRequest{Level: cades.LevelBLTA}, p7s, data)
	if err != nil {
		t.Fatal(err)
	}
	renewed, err := f.svc.ExtendCAdES(ctx, signer.ExtendRequest{Level: cades.LevelBLTA}, lta, data)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := cades.Parse(renewed)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(sd.Signers[0].ArchiveTimeStamps); sd.Level() != cades.LevelBLTA || n != 2 {
		t.Fatalf("renewal: level %s with %d archive time-stamps, want B-LTA with 2", sd.Level(), n)
	}
	pdfcheck.OpenSSLCMSVerify(t, data, renewed, f.caFile)
	if _, err := f.svc.ExtendCAdES(ctx, signer.ExtendRequest{Level: cades.LevelBLT}, p7s, []byte("other data")); !errors.Is(err, signer.ErrInvalidDocument) {
		t.Fatalf("extending with the wrong content: got %v", err)
	}
}

// corpus lists the valid PDFs of the corpus.
var corpus = []string{
	"v13-classic.pdf", "v14-forms.pdf", "v15-objstm.pdf", "v16-images.pdf", "v17-fonts.pdf", "v20.pdf",
	"hybrid.pdf", "linearized.pdf", "incremental.pdf", "presigned-pdfsig.pdf", "presigned-pdfbox-cades.pdf",
}

func corpusFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "pades", "testdata", "corpus", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPAdESCorpusAndLevels(t *testing.T) {
	f := newFixture(t, hsm.RSA3072)
	ctx := context.Background()
	for _, name := range corpus {
		for _, level := range levels {
			if level != cades.LevelBLTA && name != "v13-classic.pdf" && name != "v15-objstm.pdf" {
				continue // every level on two structures, B-LTA on all
			}
			t.Run(name+"/"+level.String(), func(t *testing.T) {
				t.Parallel()
				in := corpusFile(t, name)
				before := signatureCount(t, in)
				var out bytes.Buffer
				if err := signPDF(f.svc, ctx, f.request(level), in, &out); err != nil {
					t.Fatal(err)
				}
				signed := out.Bytes()
				if !bytes.HasPrefix(signed, in) {
					t.Fatal("the signed file does not start with the original, byte for byte")
				}
				path := filepath.Join(t.TempDir(), "signed.pdf")
				if err := os.WriteFile(path, signed, 0o644); err != nil {
					t.Fatal(err)
				}
				want := before + 1
				if level == cades.LevelBLTA {
					want++ // the document time-stamp
				}
				checkPDF(t, path, want, f.caFile)
				doc, err := pades.Open(signed)
				if err != nil {
					t.Fatal(err)
				}
				dss, err := doc.DSS()
				if err != nil {
					t.Fatal(err)
				}
				if hasDSS := dss != nil && len(dss.OCSPs) > 0 && len(dss.CRLs) > 0; hasDSS != (level >= cades.LevelBLT) {
					t.Fatalf("level %s: DSS with OCSP and CRL present = %v", level, hasDSS)
				}
			})
		}
	}
}

func checkPDF(t *testing.T, path string, signatures int, caFile string) {
	t.Helper()
	pdfcheck.SignedPDF(t, path, signatures, caFile)
}

func signatureCount(t *testing.T, pdf []byte) int {
	t.Helper()
	doc, err := pades.Open(pdf)
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := doc.Signatures()
	if err != nil {
		t.Fatal(err)
	}
	return len(sigs)
}

func TestPAdESOptions(t *testing.T) {
	f := newFixture(t, hsm.ECP256)
	ctx := context.Background()
	in := corpusFile(t, "v16-images.pdf")

	t.Run("visible stamp and certification", func(t *testing.T) {
		req := f.request(cades.LevelBT)
		req.Visible = &signer.Visible{Page: 2, Rect: [4]float64{50, 50, 300, 120}}
		req.Certify, req.Reason, req.Location = 2, "Godkendt", "København"
		var out bytes.Buffer
		if err := signPDF(f.svc, ctx, req, in, &out); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "certified.pdf")
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		checkPDF(t, path, 1, f.caFile)
		// A second signature is allowed under P=2; B-LTA additions always.
		var second bytes.Buffer
		if err := signPDF(f.svc, ctx, f.request(cades.LevelBLTA), out.Bytes(), &second); err != nil {
			t.Fatal(err)
		}
		path2 := filepath.Join(t.TempDir(), "twice.pdf")
		if err := os.WriteFile(path2, second.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		checkPDF(t, path2, 3, f.caFile)
	})

	t.Run("certification 1 forbids later signatures", func(t *testing.T) {
		req := f.request(cades.LevelBB)
		req.Certify = 1
		var out bytes.Buffer
		if err := signPDF(f.svc, ctx, req, in, &out); err != nil {
			t.Fatal(err)
		}
		err := signPDF(f.svc, ctx, f.request(cades.LevelBB), out.Bytes(), &bytes.Buffer{})
		if !errors.Is(err, signer.ErrNotPermitted) {
			t.Fatalf("got %v, want ErrNotPermitted", err)
		}
		// Raising the certified signature's level stays allowed.
		var ext bytes.Buffer
		if err := extendPDF(f.svc, ctx, signer.ExtendRequest{Level: cades.LevelBLTA}, out.Bytes(), &ext); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for _, name := range []string{"truncated.pdf", "not-a-pdf.pdf", "empty.pdf", "encrypted.pdf", "encrypted-owner-only.pdf"} {
			var out bytes.Buffer
			err := signPDF(f.svc, ctx, f.request(cades.LevelBT), corpusFile(t, name), &out)
			if !errors.Is(err, signer.ErrInvalidDocument) {
				t.Errorf("%s: got %v, want ErrInvalidDocument", name, err)
			}
			if out.Len() != 0 {
				t.Errorf("%s: %d bytes written on failure", name, out.Len())
			}
		}
	})
}

func TestRefusals(t *testing.T) {
	f := newFixture(t, hsm.ECP256)
	ctx := context.Background()
	in := corpusFile(t, "v13-classic.pdf")

	t.Run("responders down", func(t *testing.T) {
		f.pki.SetDown("ocsp", true)
		f.pki.SetDown("crl", true)
		defer f.pki.SetDown("ocsp", false)
		defer f.pki.SetDown("crl", false)
		for _, level := range []cades.Level{cades.LevelBLT, cades.LevelBLTA} {
			var out bytes.Buffer
			err := signPDF(f.svc, ctx, f.request(level), in, &out)
			if !errors.Is(err, signer.ErrUnavailable) || out.Len() != 0 {
				t.Fatalf("%s with the responders down: %v (%d bytes), want ErrUnavailable and nothing", level, err, out.Len())
			}
		}
		// B-T needs no revocation data: it goes on, with a warning.
		if err := signPDF(f.svc, ctx, f.request(cades.LevelBT), in, &bytes.Buffer{}); err != nil {
			t.Fatalf("B-T with the responders down: %v", err)
		}
	})

	t.Run("TSA down", func(t *testing.T) {
		f.pki.SetDown("tsa", true)
		defer f.pki.SetDown("tsa", false)
		err := signPDF(f.svc, ctx, f.request(cades.LevelBT), in, &bytes.Buffer{})
		if !errors.Is(err, signer.ErrUnavailable) {
			t.Fatalf("got %v, want ErrUnavailable", err)
		}
	})

	t.Run("revoked seal", func(t *testing.T) {
		other := f.pki.NewSeal(t, "foces", hsm.ECP256)
		f.pki.Revoke(t, other.Cert, ca.ReasonKeyCompromise)
		req := f.request(cades.LevelBB)
		req.Seal = &signer.Seal{Name: "revoked", Key: other.Key, Chain: other.Chain}
		_, err := f.svc.SignCAdES(ctx, req, []byte("data"))
		if !errors.Is(err, signer.ErrCertificateNotGood) || !strings.Contains(err.Error(), "revoked") {
			t.Fatalf("got %v, want ErrCertificateNotGood naming the revocation", err)
		}
	})

	t.Run("key and certificate do not match", func(t *testing.T) {
		other := f.pki.NewSeal(t, "voces", hsm.ECP256)
		req := f.request(cades.LevelBB)
		req.Seal = &signer.Seal{Key: other.Key, Chain: f.seal.Chain}
		if _, err := f.svc.SignCAdES(ctx, req, []byte("data")); !errors.Is(err, signer.ErrInvalidRequest) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestAuditOfEveryKeyUse(t *testing.T) {
	f := newFixture(t, hsm.ECP256)
	ctx := context.Background()
	head := func() uint64 {
		h, err := f.pki.Store.AuditHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return h.Seq
	}
	start := head()
	if _, err := f.svc.SignCAdES(ctx, f.request(cades.LevelBT), []byte("data")); err != nil {
		t.Fatal(err)
	}
	var records []*audit.Record
	err := f.pki.Store.AuditRecords(ctx, start+1, func(_ uint64, data []byte) error {
		r := new(audit.Record)
		records = append(records, r)
		return r.UnmarshalBinary(data)
	})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, r := range records {
		actions = append(actions, r.Action)
		if r.Action == signer.ActionSignBefore {
			if r.Actor.Subject != "CN=test client" || r.Details["level"] != "B-T" || len(r.Details["digest"]) != 64 {
				t.Errorf("the record names %q, level %q, digest %q", r.Actor.Subject, r.Details["level"], r.Details["digest"])
			}
		}
	}
	if strings.Join(actions, ",") != "signer.sign.before,signer.sign.after" {
		t.Fatalf("audit records %v", actions)
	}
}

func TestExtendPDF(t *testing.T) {
	f := newFixture(t, hsm.RSA3072)
	ctx := context.Background()

	t.Run("ours from B-B to B-LTA and renewal", func(t *testing.T) {
		var bb bytes.Buffer
		if err := signPDF(f.svc, ctx, f.request(cades.LevelBB), corpusFile(t, "v15-objstm.pdf"), &bb); err != nil {
			t.Fatal(err)
		}
		var lta bytes.Buffer
		if err := extendPDF(f.svc, ctx, signer.ExtendRequest{Level: cades.LevelBLTA}, bb.Bytes(), &lta); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "lta.pdf")
		os.WriteFile(path, lta.Bytes(), 0o644)
		checkPDF(t, path, 3, f.caFile) // signature, the B-T document time-stamp, the archive one
		var renewed bytes.Buffer
		if err := extendPDF(f.svc, ctx, signer.ExtendRequest{Level: cades.LevelBLTA}, lta.Bytes(), &renewed); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(path, renewed.Bytes(), 0o644)
		checkPDF(t, path, 4, f.caFile)
	})

	t.Run("pdfsig's signature to B-LTA", func(t *testing.T) {
		var lta bytes.Buffer
		if err := extendPDF(f.svc, ctx, signer.ExtendRequest{Level: cades.LevelBLTA}, corpusFile(t, "presigned-pdfsig.pdf"), &lta); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "pdfsig-lta.pdf")
		os.WriteFile(path, lta.Bytes(), 0o644)
		sigs := pdfcheck.Pdfsig(t, path, "")
		if len(sigs) != 3 || !sigs[0].SignatureValid {
			t.Fatalf("pdfsig after extending: %+v", sigs)
		}
	})

	t.Run("nothing to extend", func(t *testing.T) {
		err := extendPDF(f.svc, ctx, signer.ExtendRequest{Level: cades.LevelBLT}, corpusFile(t, "v13-classic.pdf"), &bytes.Buffer{})
		if !errors.Is(err, signer.ErrInvalidDocument) {
			t.Fatalf("got %v", err)
		}
	})
}

// signPDF and extendPDF write what the service returns to w, so that a
// test can check that nothing comes out of a failure.
func signPDF(svc *signer.Service, ctx context.Context, req signer.Request, pdf []byte, w *bytes.Buffer) error {
	out, err := svc.SignPDF(ctx, req, pdf)
	w.Write(out)
	return err
}

func extendPDF(svc *signer.Service, ctx context.Context, req signer.ExtendRequest, pdf []byte, w *bytes.Buffer) error {
	out, err := svc.ExtendPDF(ctx, req, pdf)
	w.Write(out)
	return err
}

func benchFixture(b *testing.B) (*pkitest.PKI, *pkitest.Seal, *signer.Service) {
	b.Helper()
	p := pkitest.New(b, hsm.RSA3072)
	seal := p.NewSeal(b, "voces", hsm.RSA3072)
	fetcher := revocation.New(revocation.Config{MaxAge: 10 * time.Second})
	svc, err := signer.New(signer.Config{
		TSA:        &signer.TSAClient{URL: p.TSAURL, Roots: p.Roots(), Revocation: fetcher},
		Revocation: fetcher, Audit: p.Store,
	})
	if err != nil {
		b.Fatal(err)
	}
	return p, seal, svc
}

func benchRequest(seal *pkitest.Seal, level cades.Level) signer.Request {
	return signer.Request{Seal: &signer.Seal{Name: "firma", Key: seal.Key, Chain: seal.Chain}, Level: level}
}
