package citizen

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
)

// Self-service: what a citizen logged in at level substantial may do about
// their own account. Every operation checks that what it touches is the
// session's citizen's own and is in the audit chain.

// Audit actions of self-service.
const (
	ActionCertificateSuspend = "citizen.certificate.suspend" // the citizen suspended one of their certificates
	ActionCardOrder          = "citizen.card.order"          // the citizen ordered a new code card
)

// CertificateStatus is what self-service needs of the CA: the signing
// wiring's Authority (*ca.CA) provides it.
type CertificateStatus interface {
	Certificate(ctx context.Context, serial ca.Serial) (*ca.Certificate, error)
	Suspend(ctx context.Context, serial ca.Serial, actor audit.Actor) (*ca.Certificate, error)
}

var _ CertificateStatus = (*ca.CA)(nil)

// certificateStatus is the CA of the signing wiring, if it can look
// certificates up and suspend them.
func (s *Service) certificateStatus() (CertificateStatus, error) {
	if s.signing == nil {
		return nil, fmt.Errorf("%w: signing is not configured, so there are no certificates", ErrInvalidRequest)
	}
	cs, ok := s.signing.CA.(CertificateStatus)
	if !ok {
		return nil, fmt.Errorf("%w: the CA does not offer certificate status changes", ErrInvalidRequest)
	}
	return cs, nil
}

// certificatesOf is what the self-service of certificates needs: a
// session at level substantial, the CA's status service, and the
// session's citizen (whose record lists the certificates).
func (s *Service) certificatesOf(ctx context.Context, sessionID string) (CertificateStatus, *Citizen, error) {
	sess, err := s.session(sessionID, LevelSubstantial)
	if err != nil {
		return nil, nil, err
	}
	cs, err := s.certificateStatus()
	if err != nil {
		return nil, nil, err
	}
	c, err := s.store.Citizen(ctx, sess.UserID)
	if err != nil {
		return nil, nil, err
	}
	return cs, c, nil
}

// MyCertificates returns the session's citizen's certificates as the CA
// has them now (status, validity), newest first.
func (s *Service) MyCertificates(ctx context.Context, sessionID string) ([]*ca.Certificate, error) {
	cs, c, err := s.certificatesOf(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	out := make([]*ca.Certificate, 0, len(c.Certificates))
	for i := len(c.Certificates) - 1; i >= 0; i-- {
		serial, err := ca.ParseSerial(c.Certificates[i])
		if err != nil {
			continue
		}
		cert, err := cs.Certificate(ctx, serial)
		if errors.Is(err, ca.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, cert)
	}
	return out, nil
}

// SuspendMine puts one of the session's citizen's certificates on hold
// (certificateHold, RFC 5280 section 5.3.1), as the citizen asked. A
// serial that is not the citizen's is ErrNotFound, and the refusal is
// audited; the CA audits the suspension itself with the citizen as actor.
func (s *Service) SuspendMine(ctx context.Context, sessionID, serial string) (*ca.Certificate, error) {
	cs, c, err := s.certificatesOf(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	sn, err := ca.ParseSerial(serial)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	own := false
	for _, have := range c.Certificates {
		if h, err := ca.ParseSerial(have); err == nil && h == sn {
			own = true
		}
	}
	d := map[string]string{"certificate": sn.String()}
	if !own {
		err := fmt.Errorf("%w: certificate %s is not one of yours", ErrNotFound, sn)
		s.audit(ctx, s.event(ActionCertificateSuspend, c.UserID, err, d))
		return nil, err
	}
	cert, err := cs.Suspend(ctx, sn, audit.Actor{Subject: "citizen " + c.UserID})
	s.audit(ctx, s.event(ActionCertificateSuspend, c.UserID, err, d))
	if err != nil {
		return nil, err
	}
	return cert, nil
}

// OrderCard records the session's citizen's order of a new code card,
// for support to fulfil with NewCard ('oces citizen card new'). An order
// already pending is returned as it is. It returns the time of the order.
func (s *Service) OrderCard(ctx context.Context, sessionID string) (time.Time, error) {
	sess, err := s.session(sessionID, LevelSubstantial)
	if err != nil {
		return time.Time{}, err
	}
	now := s.now().UTC()
	c, err := s.store.UpdateCitizen(ctx, sess.UserID, func(c *Citizen) ([]audit.Event, error) {
		if !c.CardOrdered.IsZero() {
			return nil, nil
		}
		c.CardOrdered = now
		d := map[string]string{}
		if c.Card != nil {
			d["card"] = c.Card.Serial
			d["keys_left"] = fmt.Sprint(len(c.Card.Codes))
		}
		return []audit.Event{s.event(ActionCardOrder, c.UserID, nil, d)}, nil
	})
	if err != nil {
		return time.Time{}, err
	}
	return c.CardOrdered, nil
}

// ChangeOwnPassword replaces the password of a session at level
// substantial after checking the current one, which counts towards the
// lockout like a wrong password at login.
func (s *Service) ChangeOwnPassword(ctx context.Context, sessionID, current, newPassword string) error {
	sess, err := s.session(sessionID, LevelSubstantial)
	if err != nil {
		return err
	}
	if err := checkPassword(sess.UserID, newPassword); err != nil {
		return err
	}
	check, err := s.Password(ctx, sess.UserID, current)
	if err != nil {
		return err
	}
	s.sessions.drop(check.ID)
	return s.ChangePassword(ctx, sessionID, newPassword)
}
