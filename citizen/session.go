package citizen

import (
	"crypto/rand"
	"encoding/base64"
	"sync"
	"time"
)

// Level is an NSIS assurance level (after eIDAS Implementing Regulation
// (EU) 2015/1502): a password alone is low, a password and a one-time code
// from a possession factor are substantial.
type Level int

// NSIS levels a session can reach. High would need a hardware-protected
// factor this service does not offer.
const (
	LevelNone Level = iota
	LevelLow
	LevelSubstantial
)

// String is the NSIS name: "none", "low" or "substantial".
func (l Level) String() string {
	switch l {
	case LevelLow:
		return "low"
	case LevelSubstantial:
		return "substantial"
	}
	return "none"
}

// Session is a login. Its ID is a bearer secret for the transport to keep.
type Session struct {
	ID      string
	UserID  string
	Level   Level
	Expires time.Time
	// Challenge is the code card key number whose code the next step asks
	// for (the second factor, or the confirmation of a signature).
	Challenge string
	// CodeApp says the code app may answer instead of the code card.
	CodeApp            bool
	MustChangePassword bool
	// NewCardOffered is set when the code card is running out of keys.
	NewCardOffered bool
}

// sessions is the in-memory table of live sessions, bounded in size.
type sessions struct {
	ttl time.Duration
	max int
	mu  sync.Mutex
	m   map[string]*Session
}

func newSessions(ttl time.Duration, max int) *sessions {
	return &sessions{ttl: ttl, max: max, m: make(map[string]*Session)}
}

// put stores a copy of s under a new random ID and returns it.
func (t *sessions) put(s Session, now time.Time) *Session {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	s.ID = base64.RawURLEncoding.EncodeToString(b[:])
	s.Expires = now.Add(t.ttl)
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.m) >= t.max {
		for id, old := range t.m {
			if !now.Before(old.Expires) {
				delete(t.m, id)
			}
		}
		for id := range t.m { // still full: drop one at random
			if len(t.m) < t.max {
				break
			}
			delete(t.m, id)
		}
	}
	t.m[s.ID] = &s
	out := s
	return &out
}

// get returns a copy of a live session.
func (t *sessions) get(id string, now time.Time) (*Session, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.m[id]
	if !ok {
		return nil, false
	}
	if !now.Before(s.Expires) {
		delete(t.m, id)
		return nil, false
	}
	out := *s
	return &out, true
}

// update replaces a live session's fields, keeping its ID and expiry.
func (t *sessions) update(s *Session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.m[s.ID]; ok {
		cp := *s
		cp.Expires = old.Expires
		t.m[s.ID] = &cp
	}
}

// drop ends a session.
func (t *sessions) drop(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, id)
}
