package citizen

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/cades"
	"github.com/oces-pki/oces/signer"
)

// Signature activation (CEN EN 419 241-1 SRA_SAP): a signature is
// authorised by both factors, the one-time code given for exactly the
// digests to be signed. The service returns signature activation data
// (SAD), an opaque token valid for Policy.SADTTL that can be redeemed
// once, for those digests and no other. The SAD is checked here, in the
// service that holds the signing keys, not in the web tier.

// ErrSAD: the SAD is unknown, expired, used, or not made for this digest.
var ErrSAD = errors.New("citizen: the signature activation data is not valid for this signature")

// maxHashes bounds the digests one authorisation covers.
const maxHashes = 10

// AuthorizeRequest asks for a SAD: both factors and the digests (each
// SHA-256, SHA-384 or SHA-512 sized) that the code confirms.
type AuthorizeRequest struct {
	UserID, Password, Code string
	Hashes                 [][]byte
}

// SAD is signature activation data. Token is the bearer secret.
type SAD struct {
	Token   string
	UserID  string
	Hashes  [][]byte
	Expires time.Time
	// name and uuid are the citizen's, as at the authorisation: what the
	// one-time certificate needs, without reading the record again.
	name, uuid string
}

// sads is the table of outstanding SADs, each redeemable once.
type sads struct {
	mu sync.Mutex
	m  map[string]*SAD
}

// Authorize checks the password and a fresh one-time code, the code
// bound in the audit chain to the digests it confirms, and returns a SAD
// for exactly those digests.
func (s *Service) Authorize(ctx context.Context, req AuthorizeRequest) (*SAD, error) {
	if len(req.Hashes) == 0 || len(req.Hashes) > maxHashes {
		return nil, fmt.Errorf("%w: an authorisation covers 1 to %d digests", ErrInvalidRequest, maxHashes)
	}
	hexes := make([]string, len(req.Hashes))
	for i, h := range req.Hashes {
		if n := len(h); n != 32 && n != 48 && n != 64 {
			return nil, fmt.Errorf("%w: digest %d has %d bytes; SHA-256, -384 or -512 only", ErrInvalidRequest, i+1, n)
		}
		hexes[i] = hex.EncodeToString(req.Hashes[i])
	}
	sess, err := s.Password(ctx, req.UserID, req.Password)
	if err != nil {
		return nil, err
	}
	defer s.sessions.drop(sess.ID)
	if sess.MustChangePassword {
		return nil, ErrPasswordChange
	}
	c, err := s.oneTimeCode(ctx, sess.UserID, req.Code, "sign", map[string]string{"digests": strings.Join(hexes, ",")})
	if err != nil {
		return nil, err
	}
	var b [32]byte
	if err := s.readRandom(b[:]); err != nil {
		return nil, err
	}
	sad := &SAD{Token: base64.RawURLEncoding.EncodeToString(b[:]), UserID: sess.UserID, Expires: s.now().Add(s.policy.SADTTL),
		name: c.Name, uuid: c.UUID}
	for _, h := range req.Hashes {
		sad.Hashes = append(sad.Hashes, bytes.Clone(h))
	}
	s.sads.mu.Lock()
	defer s.sads.mu.Unlock()
	now := s.now()
	for k, v := range s.sads.m { // expired ones go when a new one comes
		if !now.Before(v.Expires) {
			delete(s.sads.m, k)
		}
	}
	if len(s.sads.m) >= s.policy.MaxSessions {
		return nil, fmt.Errorf("citizen: too many outstanding authorisations; retry in a minute")
	}
	cp := *sad
	s.sads.m[sad.Token] = &cp
	return sad, nil
}

// redeem uses up the SAD token for userID and the digests, all of which
// it must cover. A SAD is gone after its first redemption, whatever its
// outcome, so it can never sign twice.
func (s *Service) redeem(token, userID string, digests [][]byte) error {
	_, err := s.redeemSAD(token, userID, digests)
	return err
}

// redeemSAD is redeem, returning the SAD used up.
func (s *Service) redeemSAD(token, userID string, digests [][]byte) (*SAD, error) {
	s.sads.mu.Lock()
	sad, ok := s.sads.m[token]
	delete(s.sads.m, token)
	s.sads.mu.Unlock()
	if !ok || !s.covers(sad, userID, digests) {
		return nil, ErrSAD
	}
	return sad, nil
}

// sadCovers reports whether redeem would accept the SAD, without using it up.
func (s *Service) sadCovers(token, userID string, digests [][]byte) bool {
	s.sads.mu.Lock()
	sad, ok := s.sads.m[token]
	s.sads.mu.Unlock()
	return ok && s.covers(sad, userID, digests)
}

// covers: sad is live, userID's, and made for every one of digests.
func (s *Service) covers(sad *SAD, userID string, digests [][]byte) bool {
	if !s.now().Before(sad.Expires) || subtle.ConstantTimeCompare([]byte(sad.UserID), []byte(userID)) != 1 || len(digests) == 0 {
		return false
	}
	for _, d := range digests {
		covered := false
		for _, h := range sad.Hashes {
			if subtle.ConstantTimeCompare(d, h) == 1 {
				covered = true
			}
		}
		if !covered {
			return false
		}
	}
	return true
}

// OneTimeKey is a per-signature key in the HSM (hsm.SessionKey).
type OneTimeKey interface {
	crypto.Signer
	Destroy() error
	Label() string
}

// Authority is what the one-time model needs of the CA; *ca.CA implements it.
type Authority interface {
	IssueQualified(ctx context.Context, req ca.QualifiedRequest) (*ca.Certificate, error)
	Issue(ctx context.Context, req ca.IssueRequest) (*ca.Certificate, error)
	Issuer(name string) (*ca.Issuer, error)
	Issuers() []*ca.Issuer
	// Certificate is the stored record, with its status.
	Certificate(ctx context.Context, serial ca.Serial) (*ca.Certificate, error)
}

// Signing wires the signing models into a Service.
type Signing struct {
	Signer *signer.Service
	CA     Authority
	// NewKey makes a per-signature P-256 key in the HSM (the MitID model).
	NewKey func(ctx context.Context) (OneTimeKey, error)
	// RSAKeys hands out RSA-3072 one-time keys made ahead of time (a
	// *KeyPool of hsm.GenerateSessionRSAKey); without it a request for
	// RSA-3072 is refused.
	RSAKeys KeySource
	// NewWrappedKey and Unwrap are the NemID model's long-term keys
	// (hsm.GenerateWrappedKey, hsm.UnwrapKey); optional.
	NewWrappedKey func(ctx context.Context) (OneTimeKey, []byte, error)
	Unwrap        func(ctx context.Context, wrapped []byte, pub crypto.PublicKey) (OneTimeKey, error)
	// Level is the signature level, B-LTA by default.
	Level cades.Level
}

// SetSigning enables signing. Call it before the service is used.
func (s *Service) SetSigning(sg Signing) error {
	if sg.Signer == nil || sg.CA == nil || sg.NewKey == nil {
		return errors.New("citizen: signing needs the signing service, the CA and a key maker")
	}
	if sg.Level == 0 {
		sg.Level = cades.LevelBLTA
	}
	s.signing = &sg
	return nil
}

// DocumentRequest signs one document in the one-time model. The SAD must
// have been made for the document's SHA-256 digest.
type DocumentRequest struct {
	UserID   string
	SAD      string
	Document []byte
	// PDF makes a PAdES signature in the document; otherwise a detached
	// CAdES signature is returned.
	PDF bool
	// LongTerm signs with the citizen's long-term key (the NemID model)
	// instead of a one-time key and certificate.
	LongTerm bool
	// Key is the one-time key's algorithm: KeyP256 (the default) or
	// KeyRSA3072, from the pool.
	Key KeyAlgorithm
	// PSS signs with RSASSA-PSS instead of PKCS#1 v1.5 (RSA-3072 only).
	PSS bool
}

// Signed is a signature and the certificate it was made under.
type Signed struct {
	Data        []byte // the signed PDF, or the detached CMS
	Certificate *x509.Certificate
}

// SignDocument signs in the MitID model:
//
//  1. check the SAD for the document's digest; take a one-time key (a
//     P-256 key generated now, or an RSA-3072 key from the pool); redeem
//     the SAD (once, whatever follows);
//  2. have the CA issue a qualified-signing certificate to the key;
//  3. sign through the signing service (PAdES or CAdES, B-LTA by default),
//     with a key that signs once and no more; the certificate's status
//     comes from the CA's store (it issued it a moment before), not over
//     HTTP; the signer's "before" record is committed with the serial on
//     the citizen's record;
//  4. destroy the key as soon as it has signed, its end recorded in the
//     same commit as the signer's "after" record; on every other path
//     it is destroyed before SignDocument returns.
func (s *Service) SignDocument(ctx context.Context, req DocumentRequest) (*Signed, error) {
	if s.signing == nil {
		return nil, fmt.Errorf("%w: signing is not configured", ErrInvalidRequest)
	}
	if err := s.checkKeyRequest(&req); err != nil {
		return nil, err
	}
	// 1.
	digest := sha256.Sum256(req.Document)
	if req.LongTerm {
		if err := s.redeem(req.SAD, req.UserID, [][]byte{digest[:]}); err != nil {
			return nil, err
		}
		c, err := s.store.Citizen(ctx, req.UserID)
		if err != nil {
			return nil, err
		}
		return s.signLongTerm(ctx, c, req)
	}
	// A key is taken only for a SAD that would be accepted, so that
	// requests without one cannot drain the RSA pool; a request that finds
	// no key keeps its SAD for a retry.
	if !s.sadCovers(req.SAD, req.UserID, [][]byte{digest[:]}) {
		_ = s.redeem(req.SAD, req.UserID, nil) // used up all the same
		return nil, ErrSAD
	}
	key, err := s.oneTimeKey(ctx, req.Key)
	if err != nil {
		return nil, err
	}
	use := &keyUse{s: s, key: key, userID: req.UserID}
	defer use.end(ctx) // destroys the key on every path that has not
	sad, err := s.redeemSAD(req.SAD, req.UserID, [][]byte{digest[:]})
	if err != nil {
		return nil, err
	}
	// The name and identifier as at the authorisation; the record is
	// read again (and a suspended account refused) when the serial is
	// recorded, before the key signs.
	c := &Citizen{UserID: req.UserID, Name: sad.name, UUID: sad.uuid}
	if c.UUID == "" {
		if c, err = s.store.Citizen(ctx, req.UserID); err != nil {
			return nil, err
		}
	}
	// 2.
	actor := audit.Actor{Subject: "citizen " + c.UserID}
	cert, err := s.signing.CA.IssueQualified(ctx, ca.QualifiedRequest{PublicKey: key.Public(), Name: c.Name, UUID: c.UUID, Actor: actor})
	if err != nil {
		return nil, fmt.Errorf("citizen: issuing the signing certificate: %w", err)
	}
	use.serial = cert.Serial.String()
	leaf, err := cert.X509()
	if err != nil {
		return nil, err
	}
	iss, err := s.signing.CA.Issuer(cert.CA)
	if err != nil {
		return nil, err
	}
	chain := append([]*x509.Certificate{leaf, iss.Certificate}, iss.Chain...)
	// 3. and 4.
	out, err := s.signWith(ctx, c, key, chain, req, use, &issuedStatus{ca: s.signing.CA, cert: cert, leaf: leaf})
	if err != nil {
		return nil, err
	}
	if err := use.commitAfter(ctx); err != nil {
		return nil, err
	}
	return &Signed{Data: out, Certificate: leaf}, nil
}

// signWith signs the document through the signing service with a key
// that may sign once; auditor and status, when not nil, take the key's
// records and answer the certificate's status (see signer.Request).
func (s *Service) signWith(ctx context.Context, c *Citizen, key crypto.Signer, chain []*x509.Certificate, req DocumentRequest, auditor signer.Auditor, status signer.StatusSource) ([]byte, error) {
	sreq := signer.Request{Seal: &signer.Seal{Name: "citizen " + c.UserID, Key: &onceSigner{Signer: key}, Chain: chain},
		Level: s.signing.Level, Actor: audit.Actor{Subject: "citizen " + c.UserID}, PSS: req.PSS}
	if auditor != nil {
		sreq.Audit = auditor
	}
	if status != nil {
		sreq.Status = status
	}
	if req.PDF {
		return s.signing.Signer.SignPDF(ctx, sreq, req.Document)
	}
	return s.signing.Signer.SignCAdES(ctx, sreq, req.Document)
}

// signLongTerm signs a document with the unwrapped long-term key.
func (s *Service) signLongTerm(ctx context.Context, c *Citizen, req DocumentRequest) (*Signed, error) {
	if s.signing.Unwrap == nil {
		return nil, fmt.Errorf("%w: long-term keys are not configured", ErrInvalidRequest)
	}
	if c.LongTerm == nil {
		return nil, errNoLongTerm
	}
	chain, err := s.chainOf(c.LongTerm.Certificate)
	if err != nil {
		return nil, err
	}
	key, err := s.signing.Unwrap(ctx, c.LongTerm.Wrapped, chain[0].PublicKey)
	if err != nil {
		return nil, fmt.Errorf("citizen: unwrapping the key: %w", err)
	}
	defer func() { _ = key.Destroy() }()
	out, err := s.signWith(ctx, c, key, chain, req, nil, nil)
	if err != nil {
		return nil, err
	}
	return &Signed{Data: out, Certificate: chain[0]}, nil
}

// maxCertificates bounds the serials kept on a citizen's record.
const maxCertificates = 20

// ActionKeyDestroy records the end of a one-time key.
const ActionKeyDestroy = "citizen.key.destroy"

// onceSigner lets a key make one signature: the per-signature key cannot
// sign anything else even if the signing code were led to try.
type onceSigner struct {
	crypto.Signer
	mu   sync.Mutex
	used bool
}

func (o *onceSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.used {
		return nil, ErrSAD
	}
	o.used = true
	if r == nil {
		r = rand.Reader
	}
	return o.Signer.Sign(r, digest, opts)
}
