package citizen

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
)

// EnrolRequest enrols a person. The CPR number goes only to the registry's
// keyed hash; it is never stored, logged or audited here.
type EnrolRequest struct {
	Name string
	CPR  string
	// UserID is the citizen's chosen user ID; one is drawn when empty.
	UserID string
}

// Enrolment is what the person is handed once: the initial password (to be
// changed at first login) and the code card. Neither is stored in the clear.
type Enrolment struct {
	Citizen         *Citizen
	InitialPassword string
	Card            *Card
}

// userIDAlphabet leaves out letters and digits that are easily confused.
const userIDAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

// Enrol gives a person a PID from the subject registry (the one they have,
// or a new one), a user ID, an initial password and a code card.
func (s *Service) Enrol(ctx context.Context, req EnrolRequest) (*Enrolment, error) {
	if s.registry == nil {
		return nil, errors.New("citizen: no subject registry configured")
	}
	userID := strings.ToLower(strings.TrimSpace(req.UserID))
	if userID == "" {
		id, err := s.randomString(userIDAlphabet, 10)
		if err != nil {
			return nil, err
		}
		userID = id
	} else if err := checkUserID(userID); err != nil {
		return nil, err
	}
	subj, isNew, err := s.registry.ResolvePerson(ctx, req.Name, req.CPR)
	if err != nil {
		return nil, fmt.Errorf("citizen: finding the person in the registry: %w", err)
	}
	password, err := s.randomString(userIDAlphabet+"ABCDEFGHJKLMNPQRSTUVWXYZ", 12)
	if err != nil {
		return nil, err
	}
	ph, err := s.hashPassword(ctx, password)
	if err != nil {
		return nil, err
	}
	card, stored, err := s.newCard(ctx, userID, req.Name)
	if err != nil {
		return nil, err
	}
	uuid, err := s.uuid()
	if err != nil {
		return nil, err
	}
	c := &Citizen{
		UserID: userID, PID: subj.ID, UUID: uuid, Name: req.Name, Status: StatusActive, Created: s.now().UTC(),
		Password: ph, MustChangePassword: true, Card: stored,
	}
	var newSubject *ca.Subject
	if isNew {
		newSubject = subj
	}
	ev := s.event(ActionEnrol, userID, nil, map[string]string{"pid": subj.ID, "card": card.Serial})
	if err := s.store.CreateCitizen(ctx, c, newSubject, ev); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "citizen enrolled", "user_id", userID, "pid", subj.ID)
	return &Enrolment{Citizen: c, InitialPassword: password, Card: card}, nil
}

// checkUserID allows 6 to 32 lower-case letters, digits, '.', '-' and '_',
// and refuses anything that looks like a CPR number.
func checkUserID(id string) error {
	if len(id) < 6 || len(id) > 32 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyz0123456789.-_") != "" {
		return fmt.Errorf("%w: a user ID has 6 to 32 letters, digits, '.', '-' or '_'", ErrInvalidRequest)
	}
	if strings.Trim(strings.ReplaceAll(id, "-", ""), "0123456789") == "" {
		return fmt.Errorf("%w: a user ID cannot be only digits (it must not be a CPR number)", ErrInvalidRequest)
	}
	return nil
}

// randomString draws n characters from alphabet uniformly.
func (s *Service) randomString(alphabet string, n int) (string, error) {
	out := make([]byte, n)
	limit := byte(256 - 256%len(alphabet))
	var b [1]byte
	for i := 0; i < n; {
		if err := s.readRandom(b[:]); err != nil {
			return "", err
		}
		if b[0] < limit {
			out[i] = alphabet[int(b[0])%len(alphabet)]
			i++
		}
	}
	return string(out), nil
}

// uuid draws a version 4 UUID.
func (s *Service) uuid() (string, error) {
	var b [16]byte
	if err := s.readRandom(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// ChangePassword replaces the password of the session's citizen. A
// session at level low will do: the initial password must be changed
// before the second factor is asked for at first login.
func (s *Service) ChangePassword(ctx context.Context, sessionID, newPassword string) error {
	sess, err := s.session(sessionID, LevelLow)
	if err != nil {
		return err
	}
	if err := checkPassword(sess.UserID, newPassword); err != nil {
		return err
	}
	ph, err := s.hashPassword(ctx, newPassword)
	if err != nil {
		return err
	}
	_, err = s.store.UpdateCitizen(ctx, sess.UserID, func(c *Citizen) ([]audit.Event, error) {
		c.Password, c.MustChangePassword = ph, false
		return []audit.Event{s.event(ActionPasswordChange, c.UserID, nil, nil)}, nil
	})
	if err != nil {
		return err
	}
	sess.MustChangePassword = false
	s.sessions.update(sess)
	return nil
}
