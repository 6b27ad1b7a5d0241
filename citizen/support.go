package citizen

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/oces-pki/oces/audit"
)

// Summary is what support sees of a citizen: no secret, no CPR number.
type Summary struct {
	UserID             string    `json:"user_id"`
	PID                string    `json:"pid"`
	Name               string    `json:"name"`
	Status             Status    `json:"status"`
	MustChangePassword bool      `json:"must_change_password"`
	CardSerial         string    `json:"card_serial,omitempty"`
	KeysLeft           int       `json:"keys_left"`
	CardSuspended      bool      `json:"card_suspended"`
	NewCardOffered     bool      `json:"new_card_offered"`
	CodeApp            bool      `json:"code_app"`
	WrongPasswords     int       `json:"wrong_passwords"`
	TemporaryLocks     int       `json:"temporary_locks"`
	LockedUntil        time.Time `json:"locked_until,omitzero"`
	Locked             bool      `json:"locked"`
	FailuresLastHour   int       `json:"failures_last_hour"`
	Certificates       []string  `json:"certificates,omitempty"`
	// CardOrdered is when the citizen ordered a new code card that
	// support has not issued yet ('oces citizen card new').
	CardOrdered time.Time `json:"card_ordered,omitzero"`
}

// Show summarises a citizen for support.
func (s *Service) Show(ctx context.Context, userID string) (*Summary, error) {
	c, err := s.store.Citizen(ctx, userID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	c.Lock.prune(now)
	sum := &Summary{
		UserID: c.UserID, PID: c.PID, Name: c.Name, Status: c.Status, MustChangePassword: c.MustChangePassword,
		CodeApp: c.App != nil, WrongPasswords: c.Lock.WrongPasswords, TemporaryLocks: c.Lock.TempLocks,
		Locked: c.Lock.Locked, FailuresLastHour: len(c.Lock.Failures), Certificates: c.Certificates,
		CardOrdered: c.CardOrdered,
	}
	if now.Before(c.Lock.LockedUntil) {
		sum.LockedUntil = c.Lock.LockedUntil.UTC()
	}
	if c.Card != nil {
		sum.CardSerial, sum.KeysLeft, sum.CardSuspended = c.Card.Serial, len(c.Card.Codes), c.Card.Suspended
		sum.NewCardOffered = sum.KeysLeft <= s.policy.NewCardAt
	}
	return sum, nil
}

// NewCard replaces the citizen's code card (the old one stops working at
// once) and returns the new card, to be printed once.
func (s *Service) NewCard(ctx context.Context, userID string, actor audit.Actor) (*Card, error) {
	c, err := s.store.Citizen(ctx, userID)
	if err != nil {
		return nil, err
	}
	card, stored, err := s.newCard(ctx, c.UserID, c.Name)
	if err != nil {
		return nil, err
	}
	_, err = s.store.UpdateCitizen(ctx, userID, func(c *Citizen) ([]audit.Event, error) {
		old := ""
		if c.Card != nil {
			old = c.Card.Serial
		}
		c.Card = stored
		d := map[string]string{"card": stored.Serial, "replaces": old}
		if !c.CardOrdered.IsZero() { // the citizen's order is fulfilled
			d["ordered"] = c.CardOrdered.UTC().Format(time.RFC3339)
			c.CardOrdered = time.Time{}
		}
		return []audit.Event{s.supportEvent(actor, ActionCardNew, c.UserID, d)}, nil
	})
	if err != nil {
		return nil, err
	}
	return card, nil
}

// Unlock lifts every lock and count of wrong passwords; a suspended card
// stays suspended (it may be lost: give a new one).
func (s *Service) Unlock(ctx context.Context, userID string, actor audit.Actor) error {
	_, err := s.store.UpdateCitizen(ctx, userID, func(c *Citizen) ([]audit.Event, error) {
		c.Lock.unlock()
		if c.Status == StatusSuspended {
			c.Status = StatusActive
		}
		return []audit.Event{s.supportEvent(actor, ActionUnlock, c.UserID, nil)}, nil
	})
	return err
}

// Suspend stops every login of the citizen until Unlock.
func (s *Service) Suspend(ctx context.Context, userID string, actor audit.Actor) error {
	_, err := s.store.UpdateCitizen(ctx, userID, func(c *Citizen) ([]audit.Event, error) {
		c.Status = StatusSuspended
		return []audit.Event{s.supportEvent(actor, ActionSuspend, c.UserID, nil)}, nil
	})
	return err
}

// ResetPassword sets a new initial password, to be changed at the next
// login, and returns it, once.
func (s *Service) ResetPassword(ctx context.Context, userID string, actor audit.Actor) (string, error) {
	if _, err := s.store.Citizen(ctx, userID); err != nil {
		return "", err
	}
	pw, err := s.randomString(userIDAlphabet+"ABCDEFGHJKLMNPQRSTUVWXYZ", 12)
	if err != nil {
		return "", err
	}
	ph, err := s.hashPassword(ctx, pw)
	if err != nil {
		return "", err
	}
	_, err = s.store.UpdateCitizen(ctx, userID, func(c *Citizen) ([]audit.Event, error) {
		c.Password, c.MustChangePassword = ph, true
		c.Lock.WrongPasswords = 0
		return []audit.Event{s.supportEvent(actor, ActionPasswordReset, c.UserID, nil)}, nil
	})
	if err != nil {
		return "", fmt.Errorf("citizen: resetting the password: %w", err)
	}
	return pw, nil
}

func (s *Service) supportEvent(actor audit.Actor, action, target string, d map[string]string) audit.Event {
	ev := s.event(action, target, nil, d)
	if actor != (audit.Actor{}) {
		ev.Actor = actor
	}
	return ev
}

// Enrolled reports whether userID is an enrolled, active citizen.
func (s *Service) Enrolled(ctx context.Context, userID string) (bool, error) {
	c, err := s.store.Citizen(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return c.Status == StatusActive, nil
}
