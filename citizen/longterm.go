package citizen

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
)

// The NemID model: each citizen has a long-term POCES certificate whose
// key was generated in the HSM and lives outside it only wrapped under the
// trusted wrapping key (hsm.GenerateWrappedKey). It is unwrapped as a
// session object for one confirmed signing request and destroyed after.

// LongTermKey is the stored side of a citizen's NemID-model key.
type LongTermKey struct {
	Wrapped     []byte `json:"wrapped"`     // CKM_AES_KEY_WRAP_PAD under the wrapping key
	Certificate []byte `json:"certificate"` // the POCES certificate, DER
}

// ActionSignHash records a signature of a hash with a citizen's key.
const ActionSignHash = "citizen.sign.hash"

// Credential returns the citizen's long-term certificate with its chain,
// generating the key and having the CA issue the POCES certificate on
// first use.
func (s *Service) Credential(ctx context.Context, userID string) ([]*x509.Certificate, error) {
	sg := s.signing
	if sg == nil || sg.NewWrappedKey == nil {
		return nil, fmt.Errorf("%w: long-term keys are not configured", ErrInvalidRequest)
	}
	c, err := s.store.Citizen(ctx, userID)
	if err != nil {
		return nil, err
	}
	if c.LongTerm == nil {
		if c, err = s.newLongTerm(ctx, c); err != nil {
			return nil, err
		}
	}
	return s.chainOf(c.LongTerm.Certificate)
}

// newLongTerm makes the wrapped key and its certificate, once per citizen
// even under concurrent first uses.
func (s *Service) newLongTerm(ctx context.Context, c *Citizen) (*Citizen, error) {
	mu := s.creating(c.UserID)
	mu.Lock()
	defer mu.Unlock()
	if cur, err := s.store.Citizen(ctx, c.UserID); err != nil || cur.LongTerm != nil {
		return cur, err
	}
	key, wrapped, err := s.signing.NewWrappedKey(ctx)
	if err != nil {
		return nil, fmt.Errorf("citizen: generating the long-term key: %w", err)
	}
	defer func() { _ = key.Destroy() }()
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: c.Name}}, key)
	if err != nil {
		return nil, fmt.Errorf("citizen: signing the certificate request: %w", err)
	}
	cert, err := s.signing.CA.Issue(ctx, ca.IssueRequest{Profile: "poces", CSR: csr, Name: c.Name, SubjectID: c.PID,
		Actor: audit.Actor{Subject: "citizen " + c.UserID}})
	if err != nil {
		return nil, fmt.Errorf("citizen: issuing the POCES certificate: %w", err)
	}
	return s.store.UpdateCitizen(ctx, c.UserID, func(c *Citizen) ([]audit.Event, error) {
		if c.LongTerm != nil {
			return nil, nil
		}
		c.LongTerm = &LongTermKey{Wrapped: wrapped, Certificate: cert.DER}
		c.Certificates = append(c.Certificates, cert.Serial.String())
		return nil, nil
	})
}

// creating returns the per-citizen lock of long-term key creation.
func (s *Service) creating(userID string) *sync.Mutex {
	v, _ := s.keyLocks.LoadOrStore(userID, new(sync.Mutex))
	return v.(*sync.Mutex)
}

// chainOf is the certificate and the chain of its issuing CA.
func (s *Service) chainOf(der []byte) ([]*x509.Certificate, error) {
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("citizen: parsing the stored certificate: %w", err)
	}
	iss, err := s.signing.CA.Issuer("")
	if err != nil {
		return nil, err
	}
	for _, i := range s.signing.CA.Issuers() {
		if string(i.Certificate.RawSubject) == string(leaf.RawIssuer) {
			iss = i
		}
	}
	return append([]*x509.Certificate{leaf, iss.Certificate}, iss.Chain...), nil
}

// HashRequest signs hashes with the citizen's long-term key (the CSC
// API's signHash). The SAD must cover every hash.
type HashRequest struct {
	UserID string
	SAD    string
	Hashes [][]byte
	Hash   crypto.Hash // the algorithm the hashes were made with
}

// SignHash signs each hash with the long-term key: the SAD is redeemed
// first, the key unwrapped for these signatures only and destroyed after;
// each signature is audited with its digest before the key signs.
func (s *Service) SignHash(ctx context.Context, req HashRequest) ([][]byte, error) {
	if s.signing == nil || s.signing.Unwrap == nil {
		return nil, fmt.Errorf("%w: long-term keys are not configured", ErrInvalidRequest)
	}
	for _, h := range req.Hashes {
		if req.Hash == 0 || len(h) != req.Hash.Size() {
			return nil, fmt.Errorf("%w: a hash of %d bytes is not a %v digest", ErrInvalidRequest, len(h), req.Hash)
		}
	}
	if err := s.redeem(req.SAD, req.UserID, req.Hashes); err != nil {
		return nil, err
	}
	c, err := s.store.Citizen(ctx, req.UserID)
	if err != nil {
		return nil, err
	}
	if c.LongTerm == nil {
		return nil, fmt.Errorf("%w: the citizen has no long-term key", ErrInvalidRequest)
	}
	leaf, err := x509.ParseCertificate(c.LongTerm.Certificate)
	if err != nil {
		return nil, fmt.Errorf("citizen: parsing the stored certificate: %w", err)
	}
	key, err := s.signing.Unwrap(ctx, c.LongTerm.Wrapped, leaf.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("citizen: unwrapping the key: %w", err)
	}
	defer func() { _ = key.Destroy() }()
	sigs := make([][]byte, 0, len(req.Hashes))
	for _, h := range req.Hashes {
		d := map[string]string{"digest": hex.EncodeToString(h), "certificate": leaf.SerialNumber.Text(16)}
		if err := s.store.AppendAudit(ctx, s.event(ActionSignHash, c.UserID, nil, d)); err != nil {
			return nil, fmt.Errorf("citizen: writing the audit record: %w", err)
		}
		sig, err := key.Sign(rand.Reader, h, req.Hash)
		if err != nil {
			s.audit(ctx, s.event(ActionSignHash, c.UserID, err, d))
			return nil, err
		}
		sigs = append(sigs, sig)
	}
	return sigs, nil
}

// errNoLongTerm is returned by signing in the NemID model before Credential.
var errNoLongTerm = errors.New("citizen: no long-term key yet; ask for the credential first")
