package validate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/oces-pki/oces/cades"
	"github.com/oces-pki/oces/revocation"
)

// Errors. Malformed documents are not errors: they are reports with
// FORMAT_FAILURE. These are for requests that cannot be answered at all.
var (
	// ErrTooLarge: the document exceeds Config.MaxDocumentBytes.
	ErrTooLarge = errors.New("validate: the document is too large")
	// ErrConfig: the Validator cannot be built from its Config.
	ErrConfig = errors.New("validate: bad configuration")
)

// Config wires a Validator.
type Config struct {
	// TrustAnchors are the certificates a chain must end at (our roots,
	// plus any extra ones the operator trusts). Required.
	TrustAnchors []*x509.Certificate
	// Revocation fetches live OCSP responses and CRLs, and missing issuers
	// through caIssuers, when the document carries no revocation data for
	// a certificate. Nil means offline: such a certificate is TRY_LATER.
	Revocation *revocation.Fetcher
	// FetchIssuers lets chain building fetch missing issuers from the
	// caIssuers URLs of certificates not yet known to chain to an anchor.
	// Off for a public service: those URLs come from untrusted input.
	// Status URLs are only used for certificates whose chain reached an
	// anchor.
	FetchIssuers bool
	// Now is the validation time; default time.Now.
	Now func() time.Time
	// MaxDocumentBytes bounds a document; default 64 MiB.
	MaxDocumentBytes int64
	// MinRSABits and MinECBits are the cryptographic constraints on keys
	// (EN 319 102-1 §5.2.8); defaults 2048 and 256.
	MinRSABits, MinECBits int
	Logger                *slog.Logger
}

// Validator validates signed documents. It is safe for concurrent use.
type Validator struct {
	mu       sync.Mutex
	verified map[[64]byte]bool // CA certificate signatures checked

	cfg     Config
	anchors map[[32]byte]*x509.Certificate
	now     func() time.Time
	log     *slog.Logger
}

// New returns a Validator.
func New(cfg Config) (*Validator, error) {
	if len(cfg.TrustAnchors) == 0 {
		return nil, fmt.Errorf("%w: no trust anchors", ErrConfig)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxDocumentBytes <= 0 {
		cfg.MaxDocumentBytes = 64 << 20
	}
	if cfg.MinRSABits <= 0 {
		cfg.MinRSABits = 2048
	}
	if cfg.MinECBits <= 0 {
		cfg.MinECBits = 256
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	v := &Validator{cfg: cfg, anchors: map[[32]byte]*x509.Certificate{}, now: cfg.Now, log: cfg.Logger, verified: map[[64]byte]bool{}}
	for _, c := range cfg.TrustAnchors {
		if c == nil {
			return nil, fmt.Errorf("%w: a nil trust anchor", ErrConfig)
		}
		v.anchors[sha256.Sum256(c.Raw)] = c
	}
	return v, nil
}

// MaxDocumentBytes is the largest document Validate takes.
func (v *Validator) MaxDocumentBytes() int64 { return v.cfg.MaxDocumentBytes }

// Validate validates doc: a PDF (by its %PDF- header) or a CMS
// SignedData (DER or BER, encapsulated or, with detached, detached).
func (v *Validator) Validate(ctx context.Context, doc, detached []byte) (*Report, error) {
	if isPDF(doc) && detached == nil {
		return v.ValidatePDF(ctx, doc)
	}
	return v.ValidateCMS(ctx, doc, detached)
}

func isPDF(b []byte) bool { return bytes.HasPrefix(b, []byte("%PDF-")) }

func (v *Validator) newReport(kind string, doc []byte) (*Report, error) {
	if int64(len(doc)) > v.cfg.MaxDocumentBytes {
		return nil, fmt.Errorf("%w: %d bytes; the limit is %d", ErrTooLarge, len(doc), v.cfg.MaxDocumentBytes)
	}
	sum := sha256.Sum256(doc)
	return &Report{ValidationTime: v.now().UTC(), DocumentType: kind, DocumentSHA256: hex.EncodeToString(sum[:])}, nil
}

// formatReport is the report of a document that could not be read at all.
func formatReport(r *Report, id, typ, reason string) *Report {
	sr := SignatureReport{ID: id, Type: typ, SigningTimeProof: "none", BestSignatureTime: r.ValidationTime}
	sr.set(failed(FormatFailure, "%s", reason))
	r.Signatures = append(r.Signatures, sr)
	r.finish()
	return r
}

// ValidateCMS validates every SignerInfo of a CAdES signature. detached is
// the signed content when it is not encapsulated.
func (v *Validator) ValidateCMS(ctx context.Context, cms, detached []byte) (*Report, error) {
	r, err := v.newReport("CMS", cms)
	if err != nil {
		return nil, err
	}
	sd, err := parseCMS(cms)
	if err != nil {
		return formatReport(r, "signer-1", "signature", err.Error()), nil
	}
	content := detached
	if sd.Content != nil {
		if detached != nil && !bytes.Equal(detached, sd.Content) {
			r.Warnings = append(r.Warnings, "the CMS encapsulates its content; the detached content given is ignored")
		}
		content = sd.Content
	}
	if content == nil {
		return formatReport(r, "signer-1", "signature", "the CMS is detached and no content was given (--detached DATA SIG)"), nil
	}
	if len(sd.Signers) == 0 {
		return formatReport(r, "signer-1", "signature", "the SignedData has no SignerInfo"), nil
	}
	ev := newEvidence(sd.Certificates, sd.OCSPResponses, sd.CRLs)
	for i, si := range sd.Signers {
		in := &sigInput{id: fmt.Sprintf("signer-%d", i+1), format: "CAdES", sd: sd, si: si, content: content,
			claimed: si.SigningTime, ev: ev}
		r.Signatures = append(r.Signatures, v.signature(ctx, in))
	}
	r.finish()
	return r, nil
}

// parseCMS parses a CMS, turning a panic in a parser on hostile input
// into a format error.
func parseCMS(der []byte) (sd *cades.SignedData, err error) {
	defer func() {
		if p := recover(); p != nil {
			sd, err = nil, fmt.Errorf("%w: parser failure: %v", cades.ErrFormat, p)
		}
	}()
	return cades.Parse(der)
}
