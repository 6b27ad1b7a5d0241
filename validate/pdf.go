package validate

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/oces-pki/oces/pades"
)

// MaxSignatures bounds the signatures and document time-stamps of one PDF:
// each costs a parse of its revision.
const MaxSignatures = 64

// ValidatePDF validates every signature and document time-stamp of a PDF
// (EN 319 142-1) and classifies the changes made after each.
func (v *Validator) ValidatePDF(ctx context.Context, data []byte) (*Report, error) {
	r, err := v.newReport("PDF", data)
	if err != nil {
		return nil, err
	}
	// 1. The file's structure and its signatures.
	doc, err := openPDF(ctx, data)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("validate: %w", ctx.Err())
		}
		return formatReport(r, "document", "signature", fmt.Sprintf("the PDF cannot be read: %v", err)), nil
	}
	sigs, err := doc.Signatures()
	if err != nil {
		return formatReport(r, "document", "signature", fmt.Sprintf("the PDF's signature fields cannot be read: %v", err)), nil
	}
	if len(sigs) == 0 {
		r.finish()
		return r, nil
	}
	if len(sigs) > MaxSignatures {
		return formatReport(r, "document", "signature", fmt.Sprintf("the PDF has %d signatures; at most %d are validated", len(sigs), MaxSignatures)), nil
	}
	dss, err := doc.DSS()
	if err != nil {
		r.Warnings = append(r.Warnings, fmt.Sprintf("the DSS is unreadable and was not used: %v", err))
		dss = nil
	}
	ev := newEvidence(nil, nil, nil)
	if dss != nil {
		ev = newEvidence(parseCerts(dss.Certs), dss.OCSPs, dss.CRLs)
		for _, vri := range dss.VRI {
			ev = ev.with(parseCerts(vri.Certs), vri.OCSPs, vri.CRLs)
		}
	}
	dssRev := doc.DSSRevision()
	perm := doc.Certification()
	reports := make([]SignatureReport, len(sigs))

	// 2. Document time-stamps first: they are proofs of existence of all
	// that precedes them (EN 319 142-1 clause 5.5).
	type docTS struct {
		rev int
		at  time.Time
	}
	var stamps []docTS
	var last time.Time
	for i, s := range sigs {
		if s.Type != "DocTimeStamp" {
			continue
		}
		rep := v.docTimeStamp(ctx, data, s, ev)
		if rep.Indication == TotalPassed {
			if at := rep.BestSignatureTime; at.Before(last) {
				rep.set(indeterminate(TimestampOrderFailure, "this document time-stamp (%s) is older than an earlier one (%s)", fmtTime(at), fmtTime(last)))
			} else {
				last = at
				stamps = append(stamps, docTS{s.Revision, at})
			}
		}
		reports[i] = rep
	}

	// 3. The signatures.
	for i, s := range sigs {
		if s.Type == "DocTimeStamp" {
			continue
		}
		in := &sigInput{id: s.FieldName, format: "PAdES", subFilter: s.SubFilter, claimed: s.SigningTime, ev: ev}
		for _, st := range stamps {
			if st.rev > s.Revision && s.Revision >= 0 {
				in.poes = append(in.poes, poe{st.at, "document-time-stamp"})
				if st.rev > dssRev {
					in.coveredLTV = true
				}
			}
		}
		reports[i] = v.pdfSignature(ctx, data, s, in)
	}

	// 4. What changed after each signature (ISO 32000-2 12.8.2.2).
	changes := map[int][]pades.Change{}
	for i, s := range sigs {
		if s.Revision < 0 || reports[i].Indication == TotalFailed {
			continue
		}
		list, ok := changes[s.Revision]
		if !ok {
			list, err = doc.ChangesAfter(ctx, s.Revision, perm)
			if err != nil {
				if ctx.Err() != nil {
					return nil, fmt.Errorf("validate: %w", ctx.Err())
				}
				reports[i].set(failed(FormatFailure, "the updates after the signature cannot be compared with it: %v", err))
				continue
			}
			changes[s.Revision] = list
		}
		applyChanges(&reports[i], list, perm)
	}
	r.Signatures = reports
	r.finish()
	return r, nil
}

// applyChanges records the changes after a signature; one not allowed
// fails it, naming the objects.
func applyChanges(rep *SignatureReport, list []pades.Change, perm int) {
	var bad []string
	for _, c := range list {
		rep.Changes = append(rep.Changes, fmt.Sprintf("%s: %s", c.Class, c))
		switch {
		case !c.Allowed:
			bad = append(bad, c.String())
		case c.Class == pades.ChangeMetadata || c.Class == pades.ChangeAnnotation:
			rep.warn("changed after signing (%s): %s", c.Class, c)
		}
	}
	if len(bad) == 0 {
		return
	}
	more := ""
	if len(bad) > 5 {
		more = fmt.Sprintf(" and %d more", len(bad)-5)
		bad = bad[:5]
	}
	p := "no certification: P=2 applies"
	if perm > 0 {
		p = fmt.Sprintf("DocMDP P=%d", perm)
	}
	rep.set(failed(FormatFailure, "the document was changed after signing in ways not allowed (%s): %s%s", p, strings.Join(bad, "; "), more))
}

// pdfSignature validates one /Sig signature.
func (v *Validator) pdfSignature(ctx context.Context, data []byte, s pades.Signature, in *sigInput) SignatureReport {
	fail := func(o outcome) SignatureReport {
		rep := SignatureReport{ID: s.FieldName, Type: "signature", Format: "PAdES", BestSignatureTime: v.now().UTC(), SigningTimeProof: "none"}
		rep.set(o)
		return rep
	}
	switch s.SubFilter {
	case "ETSI.CAdES.detached":
	case "adbe.pkcs7.detached":
		in.format = "PDF (adbe.pkcs7.detached)"
	case "adbe.pkcs7.sha1":
		return fail(indeterminate(CryptoConstraintsFailure, "/SubFilter adbe.pkcs7.sha1 signs a SHA-1 digest"))
	default:
		return fail(failed(FormatFailure, "/SubFilter /%s is not supported", s.SubFilter))
	}
	if err := checkByteRange(data, s); err != nil {
		return fail(failed(FormatFailure, "%v", err))
	}
	sd, err := parseCMS(s.Contents)
	if err != nil {
		return fail(failed(FormatFailure, "the signature's /Contents: %v", err))
	}
	if len(sd.Signers) != 1 || sd.Content != nil {
		return fail(failed(FormatFailure, "a PDF signature is a detached CMS with one SignerInfo; this one has %d and %s content", len(sd.Signers), map[bool]string{true: "encapsulated", false: "detached"}[sd.Content != nil]))
	}
	in.sd, in.si = sd, sd.Signers[0]
	in.ev = in.ev.with(sd.Certificates, sd.OCSPResponses, sd.CRLs)
	in.signed = s.SignedBytes(data)
	if in.claimed.IsZero() {
		in.claimed = in.si.SigningTime
	}
	rep := v.signature(ctx, in)
	if !in.si.SigningTime.IsZero() && s.SubFilter == "ETSI.CAdES.detached" {
		rep.warn("a PAdES baseline signature carries its time in /M, not in a signing-time attribute (EN 319 142-1 clause 5.2.1)")
	}
	return rep
}

// docTimeStamp validates a document time-stamp (ISO 32000-2 12.8.5).
func (v *Validator) docTimeStamp(ctx context.Context, data []byte, s pades.Signature, ev *evidence) SignatureReport {
	rep := SignatureReport{ID: s.FieldName, Type: "document-time-stamp", Format: "PAdES document time-stamp",
		BestSignatureTime: v.now().UTC(), SigningTimeProof: "none"}
	if s.SubFilter != "ETSI.RFC3161" {
		rep.set(failed(FormatFailure, "a document time-stamp has /SubFilter /ETSI.RFC3161, not /%s", s.SubFilter))
		return rep
	}
	if err := checkByteRange(data, s); err != nil {
		rep.set(failed(FormatFailure, "%v", err))
		return rep
	}
	imprint := func(h crypto.Hash) ([]byte, error) {
		w := h.New()
		if _, err := io.Copy(w, s.SignedBytes(data)); err != nil {
			return nil, err
		}
		return w.Sum(nil), nil
	}
	ts := v.timeStamp(ctx, "document-time-stamp", s.Contents, imprint, ev)
	rep.TimeStamps = []TimeStampInfo{ts.info}
	if ts.cert != nil {
		rep.Signer = signerOf(ts.cert)
		for _, c := range ts.chain {
			rep.Chain = append(rep.Chain, certInfo(c, v.anchor(c) != nil))
		}
	}
	if ts.info.Indication != TotalPassed {
		rep.set(outcome{ts.info.Indication, ts.info.SubIndication, ts.info.Reason})
		return rep
	}
	if ts.info.Reason != "" {
		rep.warn("%s", ts.info.Reason)
	}
	rep.BestSignatureTime, rep.SigningTimeProof = ts.info.GenTime, "document-time-stamp"
	rep.Level = "B-LTA"
	rep.set(passed())
	return rep
}

// checkByteRange checks that a signature's /ByteRange is [0 a b c]: from
// the start of the file to the end of a revision, leaving out exactly the
// /Contents hex string of this signature (ISO 32000-1 12.8.1; EN 319 142-1
// clause 5.1, the signature covers the whole revision but /Contents).
func checkByteRange(data []byte, s pades.Signature) error {
	br := s.ByteRange
	n := int64(len(data))
	if len(br) != 4 {
		return fmt.Errorf("the /ByteRange has %d values, not 4", len(br))
	}
	if br[0] != 0 || br[1] <= 0 || br[2] <= br[1]+1 || br[3] < 0 || br[2] > n || br[3] > n-br[2] {
		return fmt.Errorf("the /ByteRange %v does not fit a file of %d bytes from its start", br, n)
	}
	if s.Revision < 0 {
		return fmt.Errorf("the /ByteRange %v does not end where a revision of the file ends", br)
	}
	gap := data[br[1]:br[2]]
	if gap[0] != '<' || gap[len(gap)-1] != '>' {
		return errors.New("the bytes the /ByteRange leaves out are not a hex string")
	}
	digits := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' || r == '\f' {
			return -1
		}
		return r
	}, string(gap[1:len(gap)-1]))
	if len(digits)%2 == 1 {
		digits += "0"
	}
	raw, err := hex.DecodeString(digits)
	if err != nil {
		return errors.New("the bytes the /ByteRange leaves out are not a hex string")
	}
	if len(raw) < len(s.Contents) || string(raw[:len(s.Contents)]) != string(s.Contents) {
		return errors.New("the bytes the /ByteRange leaves out are not this signature's /Contents")
	}
	for _, b := range raw[len(s.Contents):] {
		if b != 0 {
			return errors.New("the /Contents has data after its CMS")
		}
	}
	return nil
}

func openPDF(ctx context.Context, data []byte) (doc *pades.Document, err error) {
	defer func() {
		if p := recover(); p != nil {
			doc, err = nil, fmt.Errorf("%w: parser failure: %v", pades.ErrMalformed, p)
		}
	}()
	return pades.OpenContext(ctx, data)
}

func parseCerts(ders [][]byte) []*x509.Certificate {
	var out []*x509.Certificate
	for _, d := range ders {
		if c, err := x509.ParseCertificate(d); err == nil {
			out = append(out, c)
		}
	}
	return out
}
