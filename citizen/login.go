package citizen

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/oces-pki/oces/audit"
)

// unknownTarget names an unknown user in audit records: what was typed
// may be a CPR number entered in the wrong field.
const unknownTarget = "unknown user"

// Password checks the first factor and returns a session at level low.
// The session names the code card key (Challenge) whose code Code wants;
// the key stays the same across retries until its code is given right.
//
//  1. Find the citizen; an unknown user costs one argon2id all the same.
//  2. Refuse unchecked an account that is locked or over its hourly
//     failures, with the same error a wrong password gets.
//  3. Verify the password.
//  4. Record the outcome, a lock it brings about, and the challenge, in
//     one transaction with their audit records.
func (s *Service) Password(ctx context.Context, userID, password string) (*Session, error) {
	now := s.now()
	// 1.
	c, err := s.store.Citizen(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		_, _ = s.verifyPassword(ctx, s.dummy, password)
		s.audit(ctx, s.event(ActionLoginFail, unknownTarget, ErrAuthFailed, map[string]string{"factor": "password"}))
		return nil, ErrAuthFailed
	}
	if err != nil {
		return nil, err
	}
	// 2.
	if why := c.Lock.refusal(now, s.policy); why != "" {
		_, _ = s.verifyPassword(ctx, s.dummy, password)
		s.audit(ctx, s.event(ActionLoginFail, c.UserID, ErrAuthFailed, map[string]string{"factor": "password", "refused": why}))
		return nil, ErrAuthFailed
	}
	// 3.
	ok, err := s.verifyPassword(ctx, &c.Password, password)
	if err != nil {
		return nil, err
	}
	challenge := ""
	if ok && c.Card != nil {
		if challenge, err = s.pickChallenge(c.Card); err != nil {
			return nil, err
		}
	}
	// 4.
	var refused bool
	c, err = s.store.UpdateCitizen(ctx, userID, func(c *Citizen) ([]audit.Event, error) {
		refused = false
		if why := c.Lock.refusal(now, s.policy); why != "" { // locked meanwhile
			refused = true
			return []audit.Event{s.event(ActionLoginFail, c.UserID, ErrAuthFailed, map[string]string{"factor": "password", "refused": why})}, nil
		}
		if !ok {
			refused = true
			evs := []audit.Event{s.event(ActionLoginFail, c.UserID, ErrAuthFailed, map[string]string{"factor": "password"})}
			if lock := c.Lock.wrongPassword(now, s.policy); lock != "" {
				d := map[string]string{"lock": lock, "temporary_locks": strconv.Itoa(c.Lock.TempLocks)}
				if lock == "temporary" {
					d["until"] = c.Lock.LockedUntil.UTC().Format(time.RFC3339)
				}
				evs = append(evs, s.event(ActionLock, c.UserID, nil, d))
			}
			return evs, nil
		}
		c.Lock.WrongPasswords = 0
		if c.Card != nil && c.Card.Challenge == "" {
			if _, unused := c.Card.Codes[challenge]; unused {
				c.Card.Challenge = challenge
			}
		}
		return []audit.Event{s.event(ActionLogin, c.UserID, nil, map[string]string{"factor": "password", "level": LevelLow.String()})}, nil
	})
	if err != nil {
		return nil, err
	}
	if refused {
		return nil, ErrAuthFailed
	}
	if c.Status != StatusActive {
		return nil, ErrSuspended
	}
	sess := Session{UserID: c.UserID, Level: LevelLow, CodeApp: c.App != nil, MustChangePassword: c.MustChangePassword}
	if c.Card != nil && !c.Card.Suspended {
		sess.Challenge = c.Card.Challenge
		sess.NewCardOffered = len(c.Card.Codes) <= s.policy.NewCardAt
	}
	return s.sessions.put(sess, now), nil
}

// Code checks the second factor, a code card code for the session's
// challenge or a code from the code app, and raises the session to
// substantial. Three wrong codes in a row suspend the card.
func (s *Service) Code(ctx context.Context, sessionID, code string) (*Session, error) {
	sess, err := s.session(sessionID, LevelLow)
	if err != nil {
		return nil, err
	}
	if _, err := s.oneTimeCode(ctx, sess.UserID, code, "login", nil); err != nil {
		return nil, err
	}
	c, err := s.store.Citizen(ctx, sess.UserID)
	if err != nil {
		return nil, err
	}
	sess.Level = LevelSubstantial
	sess.Challenge = ""
	if c.Card != nil && !c.Card.Suspended {
		sess.NewCardOffered = len(c.Card.Codes) <= s.policy.NewCardAt
	}
	s.sessions.update(sess)
	return sess, nil
}

// Challenge returns the key number the next one-time code must answer,
// choosing one if none is pending. For an unknown user it returns a key
// number derived from the user ID, stable and of the same form, so the
// answer does not tell whether the user exists.
func (s *Service) Challenge(ctx context.Context, userID string) (string, error) {
	c, err := s.store.Citizen(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		mac, err := s.keys.MAC(ctx, s.codeKey, []byte("oces-citizen-decoy-v1:"+userID))
		if err != nil {
			return "", fmt.Errorf("citizen: deriving a key number: %w", err)
		}
		return fmt.Sprintf("%04d", (int(mac[0])<<8|int(mac[1]))%10000), nil
	}
	if err != nil {
		return "", err
	}
	if c.Card == nil {
		return "", nil
	}
	if c.Card.Challenge != "" {
		return c.Card.Challenge, nil
	}
	pick, err := s.pickChallenge(c.Card)
	if err != nil {
		return "", err
	}
	c, err = s.store.UpdateCitizen(ctx, userID, func(c *Citizen) ([]audit.Event, error) {
		if c.Card != nil && c.Card.Challenge == "" {
			if _, unused := c.Card.Codes[pick]; unused {
				c.Card.Challenge = pick
			}
		}
		return nil, nil
	})
	if err != nil {
		return "", err
	}
	return c.Card.Challenge, nil
}

// Authenticate checks both factors in one call, as the CSC API's explicit
// authorisation does: the code answers the key number Challenge named (or
// comes from the code app). It returns the session at level substantial.
func (s *Service) Authenticate(ctx context.Context, userID, password, code string) (*Session, error) {
	sess, err := s.Password(ctx, userID, password)
	if err != nil {
		return nil, err
	}
	out, err := s.Code(ctx, sess.ID, code)
	if err != nil {
		s.sessions.drop(sess.ID)
		return nil, err
	}
	return out, nil
}

// Logout ends a session.
func (s *Service) Logout(sessionID string) { s.sessions.drop(sessionID) }

// Session returns a live session, or ErrLevel.
func (s *Service) Session(sessionID string) (*Session, error) { return s.session(sessionID, LevelLow) }

// session returns a live session of at least level min.
func (s *Service) session(id string, min Level) (*Session, error) {
	sess, ok := s.sessions.get(id, s.now())
	if !ok || sess.Level < min {
		return nil, ErrLevel
	}
	return sess, nil
}

// oneTimeCode checks code against the pending challenge or the code app
// and uses it up, recording the outcome with details. It is the second
// factor of a login and the confirmation of a signature alike.
func (s *Service) oneTimeCode(ctx context.Context, userID, code, purpose string, details map[string]string) (*Citizen, error) {
	now := s.now()
	c, err := s.store.Citizen(ctx, userID)
	if err != nil {
		return nil, err
	}
	why := c.Lock.refusal(now, s.policy)
	if why == "" && c.Status != StatusActive {
		why = "account " + string(c.Status)
	}
	if why != "" {
		s.audit(ctx, s.event(ActionLoginFail, c.UserID, ErrAuthFailed, map[string]string{"factor": "code", "purpose": purpose, "refused": why}))
		return nil, ErrAuthFailed
	}
	cardOK := c.Card != nil && !c.Card.Suspended && c.Card.Challenge != ""
	if !cardOK && c.App == nil {
		return nil, ErrCardSuspended
	}
	var key string
	var ok bool
	if cardOK {
		key = c.Card.Challenge
		if ok, err = s.checkCode(ctx, c.UserID, c.Card, key, code); err != nil {
			return nil, err
		}
	}
	var step int64
	if !ok {
		key = ""
		if step, ok, err = s.checkApp(ctx, c, code, now); err != nil {
			return nil, err
		}
	}
	var accepted bool
	c, err = s.store.UpdateCitizen(ctx, userID, func(c *Citizen) ([]audit.Event, error) {
		accepted = false
		d := map[string]string{"factor": "code", "purpose": purpose}
		for k, v := range details {
			d[k] = v
		}
		switch {
		case ok && key != "" && c.Card != nil && c.Card.Challenge == key:
			if _, unused := c.Card.Codes[key]; !unused {
				return s.wrongCode(c, now, purpose), nil
			}
			delete(c.Card.Codes, key)
			c.Card.Challenge, c.Card.WrongCodes = "", 0
			d["key"] = key
		case ok && key == "" && c.App != nil && step > c.App.LastStep:
			c.App.LastStep = step
			if c.Card != nil {
				c.Card.WrongCodes = 0
			}
			d["factor"] = "app"
		default:
			return s.wrongCode(c, now, purpose), nil
		}
		accepted = true
		c.Lock.loggedIn()
		action := ActionLogin
		if purpose != "login" {
			action = ActionSignConfirm
		}
		d["level"] = LevelSubstantial.String()
		return []audit.Event{s.event(action, c.UserID, nil, d)}, nil
	})
	if err != nil {
		return nil, err
	}
	if !accepted {
		if c.Card != nil && c.Card.Suspended && c.App == nil {
			return nil, ErrCardSuspended
		}
		return nil, ErrAuthFailed
	}
	return c, nil
}

// wrongCode counts a wrong one-time code; the card is suspended at
// MaxWrongCodes in a row.
func (s *Service) wrongCode(c *Citizen, now time.Time, purpose string) []audit.Event {
	c.Lock.failure(now)
	evs := []audit.Event{s.event(ActionLoginFail, c.UserID, ErrAuthFailed, map[string]string{"factor": "code", "purpose": purpose})}
	if c.Card == nil || c.Card.Suspended {
		return evs
	}
	c.Card.WrongCodes++
	if c.Card.WrongCodes >= s.policy.MaxWrongCodes {
		c.Card.Suspended = true
		evs = append(evs, s.event(ActionCardSuspend, c.UserID, nil, map[string]string{"card": c.Card.Serial, "wrong_codes": strconv.Itoa(c.Card.WrongCodes)}))
	}
	return evs
}

// audit appends records that go with no change; a failure is logged.
func (s *Service) audit(ctx context.Context, evs ...audit.Event) {
	if err := s.store.AppendAudit(ctx, evs...); err != nil {
		s.log.ErrorContext(ctx, "citizen: writing audit record failed", "action", evs[0].Action, "err", err)
	}
}
