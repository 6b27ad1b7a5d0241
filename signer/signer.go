// Package signer is the signing service: detached CAdES signatures of any
// data (ETSI EN 319 122-1) and PAdES signatures of PDF documents (ETSI EN
// 319 142-1) at the baseline levels B-B, B-T, B-LT and B-LTA, made with keys
// that stay in the HSM, and the raising of existing signatures (ours or
// anyone's) to a higher level.
//
// The service is a client of the rest of the PKI, as any outside party is:
// time-stamps come from an RFC 3161 authority over HTTP (TSAClient), the
// status of certificates from the OCSP responders and CRLs that the
// certificates name (package revocation). It refuses to sign with a key
// whose certificate is not good, and it never produces a lower level than
// asked: when validation data cannot be had, a B-LT or B-LTA request fails.
//
// Every use of a signing key is in the audit chain: before the key signs
// (who asked, the key, the digest of the document, the level; if that
// record cannot be written nothing is signed) and after, with the outcome.
package signer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/cades"
	"github.com/oces-pki/oces/revocation"
)

// Sentinels. Every error the service returns wraps one of them or a
// context error; one table (api, cmd/oces) maps them to HTTP status and
// exit codes.
var (
	// ErrInvalidRequest: the request itself is wrong (level, hash, options).
	ErrInvalidRequest = errors.New("signer: invalid request")
	// ErrInvalidDocument: the document is not one we can sign (not a PDF,
	// damaged, encrypted, a CMS that does not parse).
	ErrInvalidDocument = errors.New("signer: invalid document")
	// ErrNotPermitted: the document forbids the change (DocMDP), or a seal
	// is not allowed to the caller.
	ErrNotPermitted = errors.New("signer: not permitted")
	// ErrCertificateNotGood: the signing certificate (or one of its CAs)
	// is revoked, on hold, unknown to its responder, expired or not yet valid.
	ErrCertificateNotGood = errors.New("signer: the signing certificate is not good")
	// ErrUnavailable: a service the level needs (the TSA, an OCSP responder
	// or CRL) did not answer; retry later.
	ErrUnavailable = errors.New("signer: a service needed for this level is unavailable")
	// ErrNotFound: no such seal.
	ErrNotFound = errors.New("signer: not found")
)

// Audit actions.
const (
	ActionSignBefore = "signer.sign.before" // a signing key is about to sign
	ActionSignAfter  = "signer.sign.after"  // it signed, or failed to
	ActionExtend     = "signer.extend"      // validation data or an archive time-stamp added
)

// Auditor appends records to the audit chain.
type Auditor interface {
	AppendAudit(ctx context.Context, events ...audit.Event) error
}

// Seal is a signing identity: a key in the HSM and its certificate chain,
// leaf first (the root may be left out).
type Seal struct {
	Name  string
	Key   crypto.Signer
	Chain []*x509.Certificate
}

// Config wires a Service.
type Config struct {
	// TSA time-stamps B-T and higher; required for them.
	TSA cades.Timestamper
	// Revocation checks the signing certificate and gathers B-LT data.
	Revocation *revocation.Fetcher
	// Audit records every use of a signing key; required.
	Audit  Auditor
	Now    func() time.Time
	Logger *slog.Logger
	// MaxDocumentBytes bounds a document; default 64 MiB.
	MaxDocumentBytes int64
}

// Service signs documents. It is safe for concurrent use.
type Service struct {
	tsa     cades.Timestamper
	rev     *revocation.Fetcher
	audit   Auditor
	now     func() time.Time
	log     *slog.Logger
	maxDoc  int64
	tstSize atomic.Int64 // size of the last time-stamp token, to size /Contents
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Audit == nil {
		return nil, errors.New("signer: Config.Audit is required: every use of a signing key is audited")
	}
	if cfg.Revocation == nil {
		cfg.Revocation = revocation.New(revocation.Config{MaxAge: 10 * time.Second})
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxDocumentBytes <= 0 {
		cfg.MaxDocumentBytes = 64 << 20
	}
	return &Service{tsa: cfg.TSA, rev: cfg.Revocation, audit: cfg.Audit, now: cfg.Now, log: cfg.Logger, maxDoc: cfg.MaxDocumentBytes}, nil
}

// MaxDocumentBytes is the largest document the service takes.
func (s *Service) MaxDocumentBytes() int64 { return s.maxDoc }

// Request says how to sign.
type Request struct {
	Seal  *Seal
	Level cades.Level
	Hash  crypto.Hash // SHA-256 (default), SHA-384 or SHA-512
	PSS   bool        // RSA-PSS instead of PKCS#1 v1.5 for RSA keys
	// Actor is who asked, for the audit chain.
	Actor audit.Actor
	// Audit, when set, takes this request's records of the key's use
	// (ActionSignBefore, ActionSignAfter) instead of the service's
	// Auditor, so that a caller can commit them with changes of its own.
	// AppendAudit of the "before" record must return only once it is
	// durable: nothing is signed otherwise. It may hold the "after" record
	// for the caller to commit, which must then do so before it hands the
	// signature out.
	Audit Auditor
	// Status, when set, answers the status of the signing certificate
	// (Seal.Chain[0]) in place of a query to its OCSP responder: for a
	// certificate whose CA is at hand (see StatusSource).
	Status StatusSource

	// PDF only.
	Reason, Location, ContactInfo string
	Visible                       *Visible // nil: an invisible signature
	Certify                       int      // 1..3: a certification signature (DocMDP) with that permission
}

// Visible places a stamp with the signer's name and the signing time.
type Visible struct {
	Page int        // 1-based
	Rect [4]float64 // llx, lly, urx, ury in PDF points
}

// check validates the request and fills defaults.
func (s *Service) check(req *Request) error {
	if req.Seal == nil || req.Seal.Key == nil || len(req.Seal.Chain) == 0 {
		return fmt.Errorf("%w: a signing key and its certificate are required", ErrInvalidRequest)
	}
	if req.Level == 0 {
		req.Level = cades.LevelBB
	}
	if req.Level < cades.LevelBB || req.Level > cades.LevelBLTA {
		return fmt.Errorf("%w: unknown level %d", ErrInvalidRequest, req.Level)
	}
	if req.Hash == 0 {
		req.Hash = crypto.SHA256
	}
	switch req.Hash {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return fmt.Errorf("%w: hash %v; use SHA-256, SHA-384 or SHA-512", ErrInvalidRequest, req.Hash)
	}
	if req.Level >= cades.LevelBT && s.tsa == nil {
		return fmt.Errorf("%w: %s needs a time-stamp authority; configure signer.tsa_url or pass --tsa", ErrInvalidRequest, req.Level)
	}
	if req.PSS {
		if _, ok := req.Seal.Key.Public().(*rsa.PublicKey); !ok {
			return fmt.Errorf("%w: RSA-PSS needs an RSA key", ErrInvalidRequest)
		}
	}
	if req.Certify < 0 || req.Certify > 3 {
		return fmt.Errorf("%w: certification permission must be 1, 2 or 3", ErrInvalidRequest)
	}
	leaf := req.Seal.Chain[0]
	if !publicKeysEqual(leaf.PublicKey, req.Seal.Key.Public()) {
		return fmt.Errorf("%w: the certificate %q does not belong to the key", ErrInvalidRequest, leaf.Subject)
	}
	return nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	switch k := a.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
		return k.(equaler).Equal(b)
	}
	if e, ok := a.(equaler); ok {
		return e.Equal(b)
	}
	return false
}

// checkCertificate refuses a signing certificate that is outside its
// validity or not good at its responder, as far as the chain goes, and
// returns the evidence gathered. When no status source answers, B-LT and
// B-LTA fail (they need the data); lower levels go on with a warning.
func (s *Service) checkCertificate(ctx context.Context, req *Request) (*evidence, error) {
	now := s.now()
	for _, c := range req.Seal.Chain {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			return nil, fmt.Errorf("%w: %q is valid from %s to %s", ErrCertificateNotGood, c.Subject,
				c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	var e evidence
	err := s.chainStatus(ctx, req.Seal.Chain[0], req.Seal.Chain[1:], &e, true, req.Status, req.Level >= cades.LevelBLT)
	switch {
	case err == nil:
		return &e, nil
	case errors.Is(err, ErrCertificateNotGood):
		return nil, err
	case req.Level >= cades.LevelBLT:
		return nil, fmt.Errorf("%s needs the status of the signing certificate: %w", req.Level, err)
	}
	s.log.WarnContext(ctx, "signer: signing without a status check", "seal", req.Seal.Name, "err", err)
	return &evidence{}, nil
}

// record appends an audit event for a use of a signing key.
func (s *Service) record(ctx context.Context, req *Request, action, format string, digest []byte, err error) error {
	leaf := req.Seal.Chain[0]
	details := map[string]string{
		"format":      format,
		"level":       req.Level.String(),
		"hash":        hashName(req.Hash),
		"certificate": leaf.SerialNumber.Text(16),
		"subject":     leaf.Subject.String(),
	}
	if digest != nil {
		details["digest"] = fmt.Sprintf("%x", digest)
	}
	target := req.Seal.Name
	if target == "" {
		target = "key " + leaf.SerialNumber.Text(16)
	}
	ev := audit.Event{Time: s.now(), Actor: req.Actor, Action: action, Target: target, Outcome: audit.Outcome(err), Details: details}
	if ev.Actor == (audit.Actor{}) {
		ev.Actor = audit.System
	}
	auditor := s.audit
	if req.Audit != nil {
		auditor = req.Audit
	}
	if aerr := auditor.AppendAudit(ctx, ev); aerr != nil {
		return fmt.Errorf("signer: writing the audit record: %w", aerr)
	}
	return nil
}

// audited runs sign between a "before" and an "after" record. Nothing is
// signed when the "before" record cannot be written.
func (s *Service) audited(ctx context.Context, req *Request, format string, digest []byte, sign func() ([]byte, error)) ([]byte, error) {
	if err := s.record(ctx, req, ActionSignBefore, format, digest, nil); err != nil {
		return nil, err
	}
	out, err := sign()
	if aerr := s.record(ctx, req, ActionSignAfter, format, digest, err); aerr != nil && err == nil {
		return nil, aerr
	}
	return out, err
}

func hashName(h crypto.Hash) string {
	return strings.ReplaceAll(h.String(), "-", "")
}

// ParseHash parses "sha256", "SHA-384", … .
func ParseHash(s string) (crypto.Hash, error) {
	switch strings.ToLower(strings.ReplaceAll(s, "-", "")) {
	case "", "sha256":
		return crypto.SHA256, nil
	case "sha384":
		return crypto.SHA384, nil
	case "sha512":
		return crypto.SHA512, nil
	}
	return 0, fmt.Errorf("%w: hash %q; use sha256, sha384 or sha512", ErrInvalidRequest, s)
}

// ParseLevel parses "B-B", "B-T", "B-LT" or "B-LTA".
func ParseLevel(s string) (cades.Level, error) {
	l, err := cades.ParseLevel(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	return l, nil
}
