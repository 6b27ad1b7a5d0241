package citizen

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/revocation"
	"github.com/oces-pki/oces/signer"
)

// KeyAlgorithm is the algorithm of a one-time key.
type KeyAlgorithm string

// One-time key algorithms. P-256 keys are made for each signature;
// RSA-3072 keys, which take SoftHSM about 0.2 s to make, come from a pool
// made ahead of time (KeyPool).
const (
	KeyP256    KeyAlgorithm = "P-256"
	KeyRSA3072 KeyAlgorithm = "RSA-3072"
)

// KeySource hands out one-time keys made ahead of time; *KeyPool is one.
type KeySource interface {
	Take(ctx context.Context) (OneTimeKey, error)
}

// checkKeyRequest validates the key fields of a document request.
func (s *Service) checkKeyRequest(req *DocumentRequest) error {
	if req.Key == "" {
		req.Key = KeyP256
	}
	switch {
	case req.Key != KeyP256 && req.Key != KeyRSA3072:
		return fmt.Errorf("%w: key algorithm %q; use %s or %s", ErrInvalidRequest, req.Key, KeyP256, KeyRSA3072)
	case req.LongTerm && req.Key != KeyP256:
		return fmt.Errorf("%w: the long-term key is a P-256 key", ErrInvalidRequest)
	case req.PSS && req.Key != KeyRSA3072:
		return fmt.Errorf("%w: RSASSA-PSS needs an RSA-3072 key", ErrInvalidRequest)
	case req.Key == KeyRSA3072 && s.signing.RSAKeys == nil:
		return fmt.Errorf("%w: RSA-3072 one-time keys are not configured (citizen.rsa_pool_size)", ErrInvalidRequest)
	}
	return nil
}

// oneTimeKey makes a P-256 key, or takes an RSA-3072 key from the pool.
func (s *Service) oneTimeKey(ctx context.Context, alg KeyAlgorithm) (OneTimeKey, error) {
	if alg == KeyRSA3072 {
		k, err := s.signing.RSAKeys.Take(ctx)
		if err != nil {
			return nil, fmt.Errorf("citizen: taking an RSA-3072 key: %w", err)
		}
		return k, nil
	}
	k, err := s.signing.NewKey(ctx)
	if err != nil {
		return nil, fmt.Errorf("citizen: generating the signature key: %w", err)
	}
	return k, nil
}

// keyUse is the life of one one-time key, and the auditor of its use
// (signer.Request.Audit): the signer's "before" record is committed with
// the certificate's serial on the citizen's record, in one transaction,
// before the key signs; at the "after" record the key has made its one
// signature (or failed to), so it is destroyed there and then, and both
// records wait for commitAfter to be committed together.
type keyUse struct {
	s      *Service
	key    OneTimeKey
	userID string
	serial string // of the certificate, once issued

	mu        sync.Mutex
	destroyed bool
	after     []audit.Event
}

var _ signer.Auditor = (*keyUse)(nil)

// AppendAudit takes the signer's records of the key's use.
func (u *keyUse) AppendAudit(ctx context.Context, events ...audit.Event) error {
	for _, ev := range events {
		switch ev.Action {
		case signer.ActionSignBefore:
			if _, err := u.s.store.UpdateCitizen(ctx, u.userID, func(c *Citizen) ([]audit.Event, error) {
				if c.Status == StatusSuspended {
					return nil, ErrSuspended // nothing is signed
				}
				c.Certificates = append(c.Certificates, u.serial)
				if n := len(c.Certificates); n > maxCertificates {
					c.Certificates = c.Certificates[n-maxCertificates:]
				}
				return []audit.Event{ev}, nil
			}); err != nil {
				return err
			}
		case signer.ActionSignAfter:
			d := u.destroy(ctx)
			u.mu.Lock()
			u.after = append(u.after, ev, d)
			u.mu.Unlock()
		default:
			if err := u.s.store.AppendAudit(ctx, ev); err != nil {
				return err
			}
		}
	}
	return nil
}

// destroy destroys the key once and returns the record of its end.
func (u *keyUse) destroy(ctx context.Context) audit.Event {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.destroyed = true
	err := u.key.Destroy()
	if err != nil {
		u.s.log.ErrorContext(ctx, "citizen: destroying a one-time key failed", "key", u.key.Label(), "err", err)
	}
	details := map[string]string{"key": u.key.Label()}
	if u.serial != "" {
		details["certificate"] = u.serial
	}
	return u.s.event(ActionKeyDestroy, u.userID, err, details)
}

// commitAfter commits the records held since the signature. The
// signature is not handed out unless they are durable.
func (u *keyUse) commitAfter(ctx context.Context) error {
	u.mu.Lock()
	evs := u.after
	u.after = nil
	u.mu.Unlock()
	if len(evs) == 0 {
		return nil
	}
	if err := u.s.store.AppendAudit(ctx, evs...); err != nil {
		return fmt.Errorf("citizen: recording the end of the signature: %w", err)
	}
	return nil
}

// end destroys the key if it is still there, and records what is held.
func (u *keyUse) end(ctx context.Context) {
	u.mu.Lock()
	done := u.destroyed
	u.mu.Unlock()
	if !done {
		d := u.destroy(ctx)
		u.mu.Lock()
		u.after = append(u.after, d)
		u.mu.Unlock()
	}
	if err := u.commitAfter(context.WithoutCancel(ctx)); err != nil {
		u.s.log.ErrorContext(ctx, "citizen: writing audit record failed", "action", ActionKeyDestroy, "err", err)
	}
}

// issuedStatus answers the status of a certificate the CA has just issued
// from the CA's store (signer.StatusSource): a status check all the same,
// made when the key is about to sign, without the HTTP round trip to the
// responder and its signature.
type issuedStatus struct {
	ca   Authority
	cert *ca.Certificate
	leaf *x509.Certificate
}

func (st *issuedStatus) Status(ctx context.Context, cert, issuer *x509.Certificate) (*revocation.Result, error) {
	if !cert.Equal(st.leaf) {
		return nil, errors.New("citizen: asked the status of a certificate other than the one issued")
	}
	rec, err := st.ca.Certificate(ctx, st.cert.Serial)
	if err != nil {
		return nil, err
	}
	r := &revocation.Result{Certificate: cert, Issuer: issuer, Source: "ca", ThisUpdate: rec.StatusChanged,
		RevokedAt: rec.RevokedAt, Reason: rec.Reason.Code()}
	switch rec.Status {
	case ca.StatusGood:
		r.Status = revocation.Good
	case ca.StatusSuspended:
		r.Status = revocation.Hold
	case ca.StatusRevoked:
		r.Status = revocation.Revoked
	default:
		r.Status = revocation.Unknown
	}
	return r, nil
}

// OneTimeKeys lists the algorithms of the one-time keys the service
// signs with: P-256 always once signing is set, RSA-3072 with a pool.
func (s *Service) OneTimeKeys() []KeyAlgorithm {
	if s.signing == nil {
		return nil
	}
	if s.signing.RSAKeys != nil {
		return []KeyAlgorithm{KeyP256, KeyRSA3072}
	}
	return []KeyAlgorithm{KeyP256}
}
