package signer

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/cades"
	"github.com/oces-pki/oces/pades"
)

// SignPDF signs pdf at req.Level and returns the signed file: the original
// bytes unchanged, then one incremental update for the signature (B-B, or
// B-T with its signature time-stamp), one for the /DSS (B-LT) and one for
// a document time-stamp (B-LTA), as EN 319 142-1 clause 5 lays them out.
// The file is built in one buffer, the only copy of the document it makes.
func (s *Service) SignPDF(ctx context.Context, req Request, pdf []byte) ([]byte, error) {
	// 1. The request, the document and the signing certificate.
	if err := s.check(&req); err != nil {
		return nil, err
	}
	doc, err := s.openPDF(pdf)
	if err != nil {
		return nil, err
	}
	if req.Certify > 0 {
		if sigs, err := doc.Signatures(); err == nil && len(sigs) > 0 {
			return nil, fmt.Errorf("%w: a certification signature must be the document's first signature; this one has %d", ErrNotPermitted, len(sigs))
		}
	}
	if doc.Certification() == 1 {
		return nil, fmt.Errorf("%w: the document is certified with DocMDP permission 1 (no changes)", ErrNotPermitted)
	}
	status, err := s.checkCertificate(ctx, &req)
	if err != nil {
		return nil, err
	}

	// 2. The signature: a CAdES B-B or B-T CMS over the /ByteRange.
	now := s.now()
	leaf := req.Seal.Chain[0]
	opts := pades.SignatureOptions{
		Hash: req.Hash, Name: commonName(leaf), Reason: req.Reason, Location: req.Location,
		ContactInfo: req.ContactInfo, SigningTime: now, DocMDP: req.Certify,
		ContentsSize: s.contentsSize(&req),
	}
	if req.Visible != nil {
		opts.Appearance = &pades.Appearance{Page: req.Visible.Page, Rect: req.Visible.Rect, Lines: []string{
			"Digitally signed by " + commonName(leaf),
			"Date: " + now.UTC().Format("2006-01-02 15:04:05 UTC"),
		}}
	}
	var cms []byte
	contents := func(ctx context.Context, digest []byte) ([]byte, error) {
		out, err := s.audited(ctx, &req, "pades", digest, func() ([]byte, error) {
			return s.cms(ctx, &req, digest, time.Time{})
		})
		cms = out
		return out, err
	}
	slack := opts.ContentsSize*2 + 16<<10
	if req.Level >= cades.LevelBLT {
		slack += 256 << 10
	}
	buf := newRevisions(pdf, slack)
	if err := doc.Sign(ctx, buf, opts, contents); err != nil {
		return nil, s.padesError(err)
	}
	if req.Level <= cades.LevelBT {
		return buf.Bytes(), nil
	}

	// 3. B-LT: the /DSS with the chains and status of the signer and the
	// time-stamping unit.
	e := status
	if err := s.tokenEvidence(ctx, cms, e); err != nil {
		return nil, err
	}
	if err := s.addDSS(buf, e); err != nil {
		return nil, err
	}

	// 4. B-LTA: a document time-stamp over everything.
	if req.Level == cades.LevelBLTA {
		if err := s.addDocTimeStamp(ctx, buf, req.Hash); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// ExtendRequest says how far to raise a document's signatures.
type ExtendRequest struct {
	Level cades.Level // B-T, B-LT or B-LTA
	Actor audit.Actor
}

// ExtendPDF raises every signature in pdf to req.Level and returns the
// result. B-T adds a document time-stamp when a signature has no
// time-stamp of its own (EN 319 142-1 clause 5.3); B-LT adds a /DSS with
// the validation data of every signature and time-stamp; B-LTA adds a
// document time-stamp after it. On a B-LTA file, B-LTA adds the data of
// the last document time-stamp and a fresh one (archive renewal).
func (s *Service) ExtendPDF(ctx context.Context, req ExtendRequest, pdf []byte) ([]byte, error) {
	if req.Level < cades.LevelBT || req.Level > cades.LevelBLTA {
		return nil, fmt.Errorf("%w: a signature is extended to B-T, B-LT or B-LTA", ErrInvalidRequest)
	}
	if s.tsa == nil {
		return nil, fmt.Errorf("%w: extending needs a time-stamp authority", ErrInvalidRequest)
	}
	doc, err := s.openPDF(pdf)
	if err != nil {
		return nil, err
	}
	sigs, err := doc.Signatures()
	if err != nil {
		return nil, s.padesError(err)
	}
	if len(sigs) == 0 {
		return nil, fmt.Errorf("%w: the document has no signature to extend", ErrInvalidDocument)
	}
	buf := newRevisions(pdf, 512<<10)
	sum := sha256.Sum256(pdf)
	record := func(what string, err error) error {
		ev := audit.Event{Time: s.now(), Actor: req.Actor, Action: ActionExtend, Target: "pdf " + fmt.Sprintf("%x", sum[:8]),
			Outcome: audit.Outcome(err), Details: map[string]string{"level": req.Level.String(), "added": what, "sha256": fmt.Sprintf("%x", sum)}}
		if ev.Actor == (audit.Actor{}) {
			ev.Actor = audit.System
		}
		return s.audit.AppendAudit(ctx, ev)
	}

	// 1. B-T: a document time-stamp for signatures that have no time-stamp.
	if needsTimeStamp(sigs) {
		if err := s.addDocTimeStamp(ctx, buf, 0); err != nil {
			return nil, err
		}
		if sigs, err = s.signaturesOf(buf.Bytes()); err != nil {
			return nil, err
		}
	}
	added := "time-stamp"
	if req.Level >= cades.LevelBLT {
		// 2. B-LT: the validation data of every signature and time-stamp.
		cur, err := s.openPDF(buf.Bytes())
		if err != nil {
			return nil, err
		}
		var pool []*x509.Certificate
		if dss, err := cur.DSS(); err == nil && dss != nil {
			pool = parseCertificates(dss.Certs)
		}
		var e evidence
		for _, sig := range sigs {
			var err error
			switch sig.Type {
			case "DocTimeStamp":
				err = s.token(ctx, sig.Contents, pool, &e)
			default:
				err = s.cmsEvidence(ctx, sig.Contents, &e, true)
			}
			if err != nil {
				return nil, fmt.Errorf("signature %q: %w", sig.FieldName, err)
			}
		}
		if err := s.addDSS(buf, &e); err != nil {
			return nil, err
		}
		added = "dss"
	}
	if req.Level == cades.LevelBLTA {
		// 3. B-LTA: a document time-stamp over everything, the renewal too.
		if err := s.addDocTimeStamp(ctx, buf, 0); err != nil {
			return nil, err
		}
		added += "+doc-time-stamp"
	}
	if err := record(added, nil); err != nil {
		return nil, fmt.Errorf("signer: writing the audit record: %w", err)
	}
	return buf.Bytes(), nil
}

// needsTimeStamp reports whether some /Sig signature has neither a
// signature time-stamp nor a document time-stamp after it.
func needsTimeStamp(sigs []pades.Signature) bool {
	lastDTS := -1
	for i, sig := range sigs {
		if sig.Type == "DocTimeStamp" {
			lastDTS = i
		}
	}
	for i, sig := range sigs {
		if sig.Type == "DocTimeStamp" || i < lastDTS {
			continue
		}
		sd, err := cades.Parse(sig.Contents)
		if err != nil || len(sd.Signers) == 0 || len(sd.Signers[0].SignatureTimeStamps) == 0 {
			return true
		}
	}
	return false
}

// cmsEvidence gathers the validation data of a CMS signature: its
// signer's chain and every signature time-stamp's unit.
func (s *Service) cmsEvidence(ctx context.Context, der []byte, e *evidence, lenient bool) error {
	sd, err := cades.Parse(der)
	if err != nil {
		return fmt.Errorf("%w: the signature's CMS: %w", ErrInvalidDocument, err)
	}
	for _, si := range sd.Signers {
		if si.Certificate == nil {
			return fmt.Errorf("%w: the CMS does not carry its signer's certificate", ErrInvalidDocument)
		}
		if err := s.chain(ctx, si.Certificate, sd.Certificates, e, !lenient); err != nil {
			return err
		}
		for _, tok := range si.SignatureTimeStamps {
			if err := s.token(ctx, tok, sd.Certificates, e); err != nil {
				return err
			}
		}
		for _, tok := range si.ArchiveTimeStamps {
			if err := s.token(ctx, tok, sd.Certificates, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// addDSS appends a /DSS update with e to the document in buf.
func (s *Service) addDSS(buf *revisions, e *evidence) error {
	doc, err := s.openPDF(buf.Bytes())
	if err != nil {
		return err
	}
	dss := pades.DSS{OCSPs: e.ocsps, CRLs: e.crls}
	for _, c := range e.certs {
		dss.Certs = append(dss.Certs, c.Raw)
	}
	if err := doc.AddDSS(buf, dss); err != nil {
		return s.padesError(err)
	}
	return nil
}

// addDocTimeStamp appends a document time-stamp update to buf.
func (s *Service) addDocTimeStamp(ctx context.Context, buf *revisions, hash crypto.Hash) error {
	doc, err := s.openPDF(buf.Bytes())
	if err != nil {
		return err
	}
	if hash == 0 {
		hash = crypto.SHA256
	}
	opts := pades.TimeStampOptions{Hash: hash, ContentsSize: s.tokenSize()}
	err = doc.AddDocTimeStamp(ctx, buf, opts, func(ctx context.Context, digest []byte) ([]byte, error) {
		return s.stamper().Timestamp(ctx, digest, hash)
	})
	if err != nil {
		return s.padesError(err)
	}
	return nil
}

func (s *Service) signaturesOf(pdf []byte) ([]pades.Signature, error) {
	doc, err := s.openPDF(pdf)
	if err != nil {
		return nil, err
	}
	sigs, err := doc.Signatures()
	if err != nil {
		return nil, s.padesError(err)
	}
	return sigs, nil
}

func (s *Service) openPDF(pdf []byte) (*pades.Document, error) {
	if int64(len(pdf)) > s.maxDoc {
		return nil, fmt.Errorf("%w: the document has %d bytes; the limit is %d", ErrInvalidDocument, len(pdf), s.maxDoc)
	}
	doc, err := pades.Open(pdf)
	if err != nil {
		return nil, s.padesError(err)
	}
	return doc, nil
}

// padesError classifies the format package's errors.
func (s *Service) padesError(err error) error {
	switch {
	case errors.Is(err, pades.ErrNotPDF), errors.Is(err, pades.ErrEncrypted), errors.Is(err, pades.ErrMalformed):
		return fmt.Errorf("%w: %w", ErrInvalidDocument, err)
	case errors.Is(err, pades.ErrDocMDP):
		return fmt.Errorf("%w: %w", ErrNotPermitted, err)
	}
	return err
}

// contentsSize is the room to reserve for the CMS: the certificates it
// carries, the signature, the signed attributes and, from B-T, a
// time-stamp token the size of the last one seen. pades retries once with
// the real size if this falls short.
func (s *Service) contentsSize(req *Request) int {
	n := 2048
	for _, c := range s.cmsCertificates(req.Seal.Chain) {
		n += len(c.Raw) + 16
	}
	switch k := req.Seal.Key.Public().(type) {
	case *rsa.PublicKey:
		n += k.Size()
	case *ecdsa.PublicKey:
		n += 2*((k.Curve.Params().BitSize+7)/8) + 16
	default:
		n += 1024
	}
	if req.Level >= cades.LevelBT {
		n += s.tokenSize() + 64
	}
	return n
}

// tokenSize is the last time-stamp token's size plus a margin (the
// serial and the time vary in length), or a first estimate.
func (s *Service) tokenSize() int {
	if n := s.tstSize.Load(); n > 0 {
		return int(n) + 128
	}
	return 8192
}

func commonName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	return c.Subject.String()
}

func parseCertificates(ders [][]byte) []*x509.Certificate {
	var out []*x509.Certificate
	for _, d := range ders {
		if c, err := x509.ParseCertificate(d); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// cmsCertificates are the certificates a CMS carries: the chain without
// its self-signed root (which comes with the validation data at B-LT).
func (s *Service) cmsCertificates(chain []*x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range chain {
		if !s.rev.SelfSigned(c) {
			out = append(out, c)
		}
	}
	return out
}

// revisions is a PDF growing by incremental updates in one buffer. The
// pades writer gives it the whole file each time (the original, then the
// update); the original is what the buffer already holds, so only what
// follows it is appended.
type revisions struct {
	buf  []byte
	skip int // bytes of the current write still to match the held file
}

func newRevisions(pdf []byte, slack int) *revisions {
	b := make([]byte, len(pdf), len(pdf)+slack)
	copy(b, pdf)
	return &revisions{buf: b, skip: len(pdf)}
}

// Bytes is the file so far. It starts a new update: the next writes
// begin with these bytes again.
func (r *revisions) Bytes() []byte {
	r.skip = len(r.buf)
	return r.buf
}

func (r *revisions) Write(p []byte) (int, error) {
	n := len(p)
	if r.skip > 0 {
		k := min(r.skip, len(p))
		if !bytes.Equal(p[:k], r.buf[len(r.buf)-r.skip:len(r.buf)-r.skip+k]) {
			return 0, errors.New("signer: an incremental update changed bytes of the file it updates")
		}
		r.skip -= k
		p = p[k:]
	}
	r.buf = append(r.buf, p...)
	return n, nil
}
