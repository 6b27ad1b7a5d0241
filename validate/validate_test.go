package validate_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gocsp "golang.org/x/crypto/ocsp"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/cades"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/pades"
	"github.com/oces-pki/oces/pades/testdata/corpus"
	"github.com/oces-pki/oces/signer"
	"github.com/oces-pki/oces/tsa"
	"github.com/oces-pki/oces/validate"
	"github.com/oces-pki/oces/validate/testdata/attacks"
)

// TestWithPKI runs the checks that need a CA, OCSP, CRL and TSA: one PKI
// for all, a seal per case that revokes.
func TestWithPKI(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	base := basePDF()

	t.Run("own PDF signatures pass at their level", func(t *testing.T) {
		offline := f.validator(t, false, time.Time{})
		live := f.validator(t, true, time.Time{})
		for _, level := range []cades.Level{cades.LevelBB, cades.LevelBT, cades.LevelBLT, cades.LevelBLTA} {
			pdf := f.signPDF(t, f.seal, level, base)
			v := offline
			if level < cades.LevelBLT {
				v = live // no embedded revocation data: the responder is asked
			}
			r := validatePDF(t, v, pdf)
			s := expect(t, r, "signature", validate.TotalPassed, "")
			if s.Level != level.String() {
				t.Errorf("%s: level %q", level, s.Level)
			}
			if s.Signer == nil || s.Signer.Profile != "voces" || !strings.HasPrefix(s.Signer.SerialNumber, "CVR:12345678-UID:") {
				t.Errorf("%s: signer %+v", level, s.Signer)
			}
			if level >= cades.LevelBT && s.SigningTimeProof == "none" {
				t.Errorf("%s: no proof of the signing time", level)
			}
			if level == cades.LevelBLTA {
				expect(t, r, "document-time-stamp", validate.TotalPassed, "")
			}
			if !r.Passed() {
				t.Errorf("%s: report %s %s", level, r.Indication, r.SubIndication)
			}
		}
	})

	t.Run("own B-LTA signatures of every corpus structure pass", func(t *testing.T) {
		v := f.validator(t, false, time.Time{})
		for _, name := range []string{"v13-classic.pdf", "v14-forms.pdf", "v15-objstm.pdf", "v16-images.pdf", "v17-fonts.pdf",
			"v20.pdf", "hybrid.pdf", "linearized.pdf", "incremental.pdf", "incremental-xrefstream.pdf"} {
			pdf := f.signPDF(t, f.seal, cades.LevelBLTA, corpus.Read(t, name))
			// and a second signature with its own DSS and time-stamp on top
			pdf = f.signPDF(t, f.seal, cades.LevelBLTA, pdf)
			r := validatePDF(t, v, pdf)
			for _, s := range r.Signatures {
				if s.Indication != validate.TotalPassed || (s.Type == "signature" && s.Level != "B-LTA") {
					t.Errorf("%s: %s %s: %s %s %s (%s) %v", name, s.Type, s.ID, s.Indication, s.SubIndication, s.Level, s.Reason, s.Changes)
				}
			}
		}
	})

	t.Run("own CAdES signatures pass at their level", func(t *testing.T) {
		data := []byte(strings.Repeat("Aftale om levering. ", 200))
		v := f.validator(t, true, time.Time{})
		for _, level := range []cades.Level{cades.LevelBB, cades.LevelBT, cades.LevelBLT, cades.LevelBLTA} {
			p7s, err := f.svc.SignCAdES(ctx, f.request(f.seal, level), data)
			if err != nil {
				t.Fatal(err)
			}
			r, err := v.ValidateCMS(ctx, p7s, data)
			if err != nil {
				t.Fatal(err)
			}
			s := expect(t, r, "signature", validate.TotalPassed, "")
			if s.Level != level.String() {
				t.Errorf("CAdES %s: level %q", level, s.Level)
			}
			r, err = v.ValidateCMS(ctx, p7s, flip(t, data, "levering"))
			if err != nil {
				t.Fatal(err)
			}
			expect(t, r, "signature", validate.TotalFailed, validate.HashFailure)
		}
	})

	t.Run("flipped byte in the signed range", func(t *testing.T) {
		pdf := f.signPDF(t, f.seal, cades.LevelBT, base)
		r := validatePDF(t, f.validator(t, true, time.Time{}), flip(t, pdf, attacks.Visible))
		expect(t, r, "signature", validate.TotalFailed, validate.HashFailure)
	})

	t.Run("expired certificate under an archive time-stamp", func(t *testing.T) {
		later := f.seal.X509.NotAfter.Add(24 * time.Hour)
		lta := f.signPDF(t, f.seal, cades.LevelBLTA, base)
		s := expect(t, validatePDF(t, f.validator(t, false, later), lta), "signature", validate.TotalPassed, "")
		if !strings.Contains(joined(s.Warnings), "expired") {
			t.Errorf("no warning of the expiry: %v", s.Warnings)
		}
		bb := f.signPDF(t, f.seal, cades.LevelBB, base)
		expect(t, validatePDF(t, f.validator(t, true, later), bb), "signature", validate.Indeterminate, validate.OutOfBoundsNotRevoked)
	})

	t.Run("unknown CA", func(t *testing.T) {
		pdf := f.signPDF(t, f.seal, cades.LevelBT, base)
		r := validatePDF(t, corpusValidator(t), pdf)
		expect(t, r, "signature", validate.Indeterminate, validate.NoCertificateChainFound)
	})

	t.Run("responder down, nothing embedded", func(t *testing.T) {
		pdf := f.signPDF(t, f.seal, cades.LevelBT, base)
		lt := f.signPDF(t, f.seal, cades.LevelBLT, base)
		f.pki.SetDown("ocsp", true)
		f.pki.SetDown("crl", true)
		defer f.pki.SetDown("ocsp", false)
		defer f.pki.SetDown("crl", false)
		r := validatePDF(t, f.validator(t, true, time.Time{}), pdf)
		expect(t, r, "signature", validate.Indeterminate, validate.TryLater)
		// Offline with embedded data it passes all the same.
		expect(t, validatePDF(t, f.validator(t, true, time.Time{}), lt), "signature", validate.TotalPassed, "")
	})

	t.Run("revoked after the time-stamped signing time", func(t *testing.T) {
		seal := f.pki.NewSeal(t, "voces", hsm.ECP256)
		bt := f.signPDF(t, seal, cades.LevelBT, base)
		bb := f.signPDF(t, seal, cades.LevelBB, base)
		time.Sleep(1100 * time.Millisecond) // revocation times have a resolution of one second
		f.pki.Revoke(t, seal.Cert, ca.ReasonKeyCompromise)
		v := f.validator(t, true, time.Time{})
		s := expect(t, validatePDF(t, v, bt), "signature", validate.TotalPassed, "")
		if !strings.Contains(joined(s.Warnings), "revoked") {
			t.Errorf("no warning of the revocation: %v", s.Warnings)
		}
		expect(t, validatePDF(t, v, bb), "signature", validate.Indeterminate, validate.RevokedNoPOE)
		// Signed (by a key that kept working) after the revocation.
		expect(t, validatePDF(t, v, signRaw(t, seal, base, time.Now())), "signature", validate.TotalFailed, validate.Revoked)
	})

	t.Run("embedded OCSP response forged by another certificate of the CA", func(t *testing.T) {
		victim := f.pki.NewSeal(t, "voces", hsm.ECP256)
		f.pki.Revoke(t, victim.Cert, ca.ReasonKeyCompromise)
		now := time.Now()
		forged, err := gocsp.CreateResponse(f.pki.Issuing, f.seal.X509, gocsp.Response{Status: gocsp.Good,
			SerialNumber: victim.X509.SerialNumber, ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour),
			Certificate: f.seal.X509}, f.seal.Key)
		if err != nil {
			t.Fatal(err)
		}
		data := []byte("a contract")
		p7s, err := cades.Sign(ctx, victim.Key, bytes.NewReader(data), cades.SignOptions{Certificates: victim.Chain})
		if err != nil {
			t.Fatal(err)
		}
		if p7s, err = cades.AddValidationData(p7s, cades.ValidationData{OCSPResponses: [][]byte{forged}}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			live bool
			sub  validate.SubIndication
		}{{true, validate.RevokedNoPOE}, {false, validate.TryLater}} {
			r, err := f.validator(t, c.live, time.Time{}).ValidateCMS(ctx, p7s, data)
			if err != nil {
				t.Fatal(err)
			}
			expect(t, r, "signature", validate.Indeterminate, c.sub)
		}
	})

	t.Run("suspended signer", func(t *testing.T) {
		seal := f.pki.NewSeal(t, "voces", hsm.ECP256)
		bb := f.signPDF(t, seal, cades.LevelBB, base)
		f.suspend(t, seal)
		expect(t, validatePDF(t, f.validator(t, true, time.Time{}), bb), "signature", validate.Indeterminate, validate.TryLater)
	})

	t.Run("attacks", func(t *testing.T) {
		signed := f.signPDF(t, f.seal, cades.LevelBLT, base)
		v := f.validator(t, false, time.Time{})
		expect(t, validatePDF(t, v, signed), "signature", validate.TotalPassed, "")
		for _, a := range attacks.All {
			t.Run(a.Name, func(t *testing.T) {
				pdf, err := a.Apply(signed)
				if err != nil {
					t.Fatal(err)
				}
				r := validatePDF(t, v, pdf)
				if r.Passed() {
					t.Fatalf("%s (%s) passed", a.Name, a.Class)
				}
				s := expect(t, r, "signature", validate.TotalFailed, validate.FormatFailure)
				t.Logf("%s: %s", a.Name, s.Reason)
				if !strings.Contains(s.Reason, "object ") {
					t.Errorf("the reason names no object: %s", s.Reason)
				}
			})
		}
	})

	t.Run("allowed updates after signing", func(t *testing.T) {
		lta := f.signPDF(t, f.seal, cades.LevelBB, base)
		// A second signature, a DSS and a document time-stamp.
		ext, err := f.svc.ExtendPDF(ctx, extend(cades.LevelBLTA), f.signPDF(t, f.seal, cades.LevelBT, lta))
		if err != nil {
			t.Fatal(err)
		}
		r := validatePDF(t, f.validator(t, true, time.Time{}), ext)
		var sigs, stamps int
		for _, s := range r.Signatures {
			if s.Indication != validate.TotalPassed {
				t.Errorf("%s %s: %s %s (%s) %v", s.Type, s.ID, s.Indication, s.SubIndication, s.Reason, s.Changes)
			}
			if s.Type == "signature" {
				sigs++
				if s.Level != "B-LTA" {
					t.Errorf("%s extended to B-LTA is at %s", s.ID, s.Level)
				}
			} else {
				stamps++
			}
		}
		if sigs != 2 || stamps < 1 {
			t.Errorf("%d signatures and %d document time-stamps, want 2 and at least 1", sigs, stamps)
		}
	})
}

// TestDocMDP: form filling and annotations after signing pass or fail by
// the certification's permission P (ISO 32000-2 12.8.2.2, Table 257).
func TestDocMDP(t *testing.T) {
	f := newFixture(t)
	v := f.validator(t, true, time.Time{})
	form := corpus.Read(t, "v14-forms.pdf")
	sign := func(t *testing.T, certify int) []byte {
		req := f.request(f.seal, cades.LevelBT)
		req.Certify = certify
		out, err := f.svc.SignPDF(context.Background(), req, form)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	fill := func(t *testing.T, pdf []byte) []byte {
		body, err := attacks.LastBody(pdf, 8) // the "name" text field, merged with its widget
		if err != nil {
			t.Fatal(err)
		}
		ap := attacks.NextNumber(pdf)
		body = strings.Replace(body, "/V (Jens Hansen)", "/V (Anne Hansen)", 1)
		body = strings.Replace(body, "/AP <</N 7 0 R>>", fmt.Sprintf("/AP <</N %d 0 R>>", ap), 1)
		content := "/Tx BMC BT /Helv 11 Tf 2 5 Td (Anne Hansen) Tj ET EMC"
		out, err := attacks.Update(pdf,
			attacks.Object{Num: ap, Body: fmt.Sprintf("<< /Type /XObject /Subtype /Form /BBox [0 0 250 20] /Length %d >>\nstream\n%s\nendstream", len(content), content)},
			attacks.Object{Num: 8, Body: body})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	annotate := func(t *testing.T, pdf []byte) []byte {
		page, err := attacks.LastBody(pdf, 3)
		if err != nil {
			t.Fatal(err)
		}
		n := attacks.NextNumber(pdf)
		i := strings.Index(page, "/Annots [")
		if i < 0 {
			t.Fatalf("page without a direct /Annots: %s", page)
		}
		page = page[:i+len("/Annots [")] + fmt.Sprintf("%d 0 R ", n) + page[i+len("/Annots ["):]
		out, err := attacks.Update(pdf,
			attacks.Object{Num: n, Body: "<< /Type /Annot /Subtype /Text /Rect [100 100 120 120] /Contents (ok) /P 3 0 R >>"},
			attacks.Object{Num: 3, Body: page})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, c := range []struct {
		name    string
		certify int
		change  func(*testing.T, []byte) []byte
		want    validate.Indication
	}{
		{"fill, P=2", 2, fill, validate.TotalPassed},
		{"fill, P=3", 3, fill, validate.TotalPassed},
		{"fill, no certification", 0, fill, validate.TotalPassed},
		{"fill, P=1", 1, fill, validate.TotalFailed},
		{"annotate, P=3", 3, annotate, validate.TotalPassed},
		{"annotate, P=2", 2, annotate, validate.TotalFailed},
		{"annotate, no certification", 0, annotate, validate.TotalFailed},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := validatePDF(t, v, c.change(t, sign(t, c.certify)))
			s := r.Signatures[0]
			if s.Indication != c.want {
				t.Fatalf("%s %s (%s) %v, want %s", s.Indication, s.SubIndication, s.Reason, s.Changes, c.want)
			}
		})
	}
}

// TestTimestampOrder: a document time-stamp whose genTime is before an
// earlier one's is TIMESTAMP_ORDER_FAILURE, and not used as a proof.
func TestTimestampOrder(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// A second time-stamping unit of the same CA whose clock stands still
	// at the time its certificate was issued.
	key, err := f.pki.HSM.GenerateKey(ctx, f.pki.Token.KeyURI("tsa-slow"), hsm.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := f.pki.IssueService(ctx, ca.ServiceRequest{Kind: ca.ServiceTSA, PublicKey: key.Public(),
		CommonName: "Slow Time-Stamping Unit", Validity: 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := cert.X509()
	if err != nil {
		t.Fatal(err)
	}
	issued := time.Now()
	slow := func() time.Time { return issued.Add(500 * time.Millisecond) }
	time.Sleep(2 * time.Second)
	lta := f.signPDF(t, f.seal, cades.LevelBLTA, basePDF())
	authority, err := tsa.New(tsa.Config{Signer: key, Certificate: leaf, Chain: []*x509.Certificate{f.pki.Issuing, f.pki.Root},
		Serials: tsa.NewBlockSerials(f.pki.Store, "tsa-slow-serial", 0), Policies: []asn1.ObjectIdentifier{{0, 4, 0, 2023, 1, 1}}, Clock: slow})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(authority)
	defer srv.Close()
	client := &signer.TSAClient{URL: srv.URL, Roots: f.pki.Roots(), Now: slow}
	doc, err := pades.Open(lta)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := doc.AddDocTimeStamp(ctx, &out, pades.TimeStampOptions{}, func(ctx context.Context, digest []byte) ([]byte, error) {
		return client.Timestamp(ctx, digest, crypto.SHA256)
	}); err != nil {
		t.Fatal(err)
	}
	r := validatePDF(t, f.validator(t, true, time.Time{}), out.Bytes())
	var stamps []validate.SignatureReport
	for _, s := range r.Signatures {
		if s.Type == "document-time-stamp" {
			stamps = append(stamps, s)
		}
	}
	if len(stamps) != 2 || stamps[0].Indication != validate.TotalPassed || stamps[1].SubIndication != validate.TimestampOrderFailure {
		t.Fatalf("document time-stamps: %+v", stamps)
	}
	expect(t, r, "signature", validate.TotalPassed, "")
}
