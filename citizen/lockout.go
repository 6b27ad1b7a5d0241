package citizen

import (
	"fmt"
	"time"
)

// Policy holds the lockout rules and the lifetimes of sessions and
// signature activation data. DefaultPolicy gives the rules of the issue:
//
//   - MaxWrongPasswords (5) wrong passwords in a row give a temporary
//     lock; the k-th temporary lock lasts min(k*LockStep, MaxLockWait),
//     that is 1, 2, 3 … minutes, never more than 15;
//   - when MaxTempLocks (3) temporary locks have been served, the next
//     run of wrong passwords locks the account until support unlocks it;
//   - MaxWrongCodes (3) wrong one-time codes in a row suspend the code card;
//   - at most MaxFailuresPerHour (100) failures are looked at per account
//     in any hour: past that every attempt is refused unchecked.
//
// A login with both factors resets the counts of wrong passwords, wrong
// codes and temporary locks.
type Policy struct {
	MaxWrongPasswords  int
	LockStep           time.Duration
	MaxLockWait        time.Duration
	MaxTempLocks       int
	MaxWrongCodes      int
	MaxFailuresPerHour int
	// NewCardAt is the number of unused keys left at which a new code card
	// is offered.
	NewCardAt int
	// SessionTTL bounds a login session; MaxSessions how many are kept.
	SessionTTL  time.Duration
	MaxSessions int
	// SADTTL bounds the signature activation data of an authorisation.
	SADTTL time.Duration
}

// DefaultPolicy returns the rules described on Policy.
func DefaultPolicy() Policy {
	return Policy{
		MaxWrongPasswords: 5, LockStep: time.Minute, MaxLockWait: 15 * time.Minute, MaxTempLocks: 3,
		MaxWrongCodes: 3, MaxFailuresPerHour: 100, NewCardAt: 20,
		SessionTTL: 15 * time.Minute, MaxSessions: 100_000, SADTTL: 5 * time.Minute,
	}
}

// Validate checks the bounds of every field.
func (p Policy) Validate() error {
	switch {
	case p.MaxWrongPasswords < 1 || p.MaxWrongPasswords > 20:
		return fmt.Errorf("citizen: policy max_wrong_passwords %d is outside 1 to 20", p.MaxWrongPasswords)
	case p.LockStep < time.Second || p.MaxLockWait < p.LockStep:
		return fmt.Errorf("citizen: policy lock_step %s must be at least 1s and at most max_lock_wait %s", p.LockStep, p.MaxLockWait)
	case p.MaxTempLocks < 0 || p.MaxTempLocks > 20:
		return fmt.Errorf("citizen: policy max_temp_locks %d is outside 0 to 20", p.MaxTempLocks)
	case p.MaxWrongCodes < 1 || p.MaxWrongCodes > 10:
		return fmt.Errorf("citizen: policy max_wrong_codes %d is outside 1 to 10", p.MaxWrongCodes)
	case p.MaxFailuresPerHour < 1 || p.MaxFailuresPerHour > 1000:
		return fmt.Errorf("citizen: policy max_failures_per_hour %d is outside 1 to 1000", p.MaxFailuresPerHour)
	case p.NewCardAt < 1 || p.NewCardAt >= cardKeys:
		return fmt.Errorf("citizen: policy new_card_at %d is outside 1 to %d", p.NewCardAt, cardKeys-1)
	case p.SessionTTL < time.Minute || p.SessionTTL > 24*time.Hour:
		return fmt.Errorf("citizen: policy session_ttl %s is outside 1m to 24h", p.SessionTTL)
	case p.MaxSessions < 1:
		return fmt.Errorf("citizen: policy max_sessions must be positive")
	case p.SADTTL < 10*time.Second || p.SADTTL > 30*time.Minute:
		return fmt.Errorf("citizen: policy sad_ttl %s is outside 10s to 30m", p.SADTTL)
	}
	return nil
}

// Lockout is an account's failure state.
type Lockout struct {
	WrongPasswords int       `json:"wrong_passwords,omitempty"`
	TempLocks      int       `json:"temp_locks,omitempty"` // served since the last full login
	LockedUntil    time.Time `json:"locked_until,omitzero"`
	Locked         bool      `json:"locked,omitempty"` // until support unlocks
	// Failures are the times of the failures of the last hour, oldest first.
	Failures []time.Time `json:"failures,omitempty"`
}

// refusal says why an attempt is refused unchecked at now, or "".
func (l *Lockout) refusal(now time.Time, p Policy) string {
	l.prune(now)
	switch {
	case l.Locked:
		return "locked until support unlocks"
	case now.Before(l.LockedUntil):
		return "temporarily locked until " + l.LockedUntil.UTC().Format(time.RFC3339)
	case len(l.Failures) >= p.MaxFailuresPerHour:
		return "too many failures in the last hour"
	}
	return ""
}

// prune forgets failures older than an hour.
func (l *Lockout) prune(now time.Time) {
	i := 0
	for i < len(l.Failures) && !l.Failures[i].After(now.Add(-time.Hour)) {
		i++
	}
	l.Failures = l.Failures[i:]
}

// failure counts one failure of any kind towards the hourly bound.
func (l *Lockout) failure(now time.Time) { l.Failures = append(l.Failures, now) }

// wrongPassword counts a wrong password at now and returns the lock it
// brings about: "" (none), "temporary" or "permanent".
func (l *Lockout) wrongPassword(now time.Time, p Policy) string {
	l.failure(now)
	l.WrongPasswords++
	if l.WrongPasswords < p.MaxWrongPasswords {
		return ""
	}
	l.WrongPasswords = 0
	if l.TempLocks >= p.MaxTempLocks {
		l.Locked = true
		return "permanent"
	}
	l.TempLocks++
	l.LockedUntil = now.Add(min(time.Duration(l.TempLocks)*p.LockStep, p.MaxLockWait))
	return "temporary"
}

// loggedIn resets the counts after a login with both factors.
func (l *Lockout) loggedIn() {
	l.WrongPasswords, l.TempLocks = 0, 0
}

// unlock is support's: every lock and count goes.
func (l *Lockout) unlock() { *l = Lockout{} }
