package web

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/oces-pki/oces/citizen"
	"github.com/oces-pki/oces/validate"
)

// sessionCookie carries the web session: the __Host- prefix makes the
// browser insist on Secure, Path=/ and no Domain (RFC 6265bis 4.1.3.2).
const sessionCookie = "__Host-oces-session"

// session is one browser's login. The cookie value maps to it; the citizen
// session ID (a bearer secret of package citizen) never leaves the server.
type session struct {
	id        string
	citizenID string // the citizen.Session ID
	userID    string
	level     citizen.Level
	created   time.Time
	lastSeen  time.Time
	// request is the service provider's signing request this login is for.
	request string
	docs    map[string]*document
	order   []string // document IDs, oldest first
	// app is the code app's enrolment, shown once and then dropped.
	app *citizen.AppEnrolment
	// notice is a message for the next page (after a redirect).
	notice string
	// signing serialises the session's confirmations, so that a second
	// click waits for the first and finds the document signed.
	signing sync.Mutex
}

// document is one document of a session: what was shown, and what became
// of it.
type document struct {
	id      string
	name    string
	data    []byte
	sha256  [32]byte
	pages   int
	images  [][]byte // PNG of each page, at most maxPages
	request string   // the service provider's request it came from
	signed  []byte
	report  *validate.Report
}

// ended is a session's documents after logout or expiry, kept until the
// retention is over.
type ended struct {
	docs  map[string]*document
	until time.Time
}

// sessions is the web's table of sessions, bounded in size.
type sessions struct {
	mu        sync.Mutex
	m         map[string]*session
	gone      []ended
	idle, max time.Duration
	retention time.Duration
	limit     int
	// logout ends a citizen session; it is called for every web session
	// that ends, whether by logout, expiry or eviction.
	logout func(citizenID string)
}

// newID draws 256 random bits, base64url.
func newID() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create stores a new session for a citizen session.
func (t *sessions) create(cs *citizen.Session, request string, now time.Time) *session {
	s := &session{id: newID(), citizenID: cs.ID, userID: cs.UserID, level: cs.Level, created: now, lastSeen: now,
		request: request, docs: map[string]*document{}}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.m) >= t.limit {
		t.sweepLocked(now)
	}
	for id := range t.m { // still full: the oldest-looking one goes
		if len(t.m) < t.limit {
			break
		}
		t.endLocked(id, now)
	}
	t.m[s.id] = s
	return s
}

// get returns the live session of r's cookie and marks it seen, or nil.
// A session past its idle or absolute bound is ended.
func (t *sessions) get(r *http.Request, now time.Time) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.m[c.Value]
	if !ok {
		return nil
	}
	if t.expired(s, now) {
		t.endLocked(s.id, now)
		return nil
	}
	s.lastSeen = now
	return s
}

func (t *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.lastSeen) >= t.idle || now.Sub(s.created) >= t.max
}

// end ends a session and its citizen session.
func (t *sessions) end(id string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.endLocked(id, now)
}

func (t *sessions) endLocked(id string, now time.Time) {
	s, ok := t.m[id]
	if !ok {
		return
	}
	delete(t.m, id)
	if len(s.docs) > 0 && t.retention > 0 {
		t.gone = append(t.gone, ended{docs: s.docs, until: now.Add(t.retention)})
	}
	if t.logout != nil {
		t.logout(s.citizenID)
	}
}

// sweep ends expired sessions and forgets documents past their retention.
func (t *sessions) sweep(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweepLocked(now)
}

func (t *sessions) sweepLocked(now time.Time) {
	for id, s := range t.m {
		if t.expired(s, now) {
			t.endLocked(id, now)
		}
	}
	keep := t.gone[:0]
	for _, g := range t.gone {
		if now.Before(g.until) {
			keep = append(keep, g)
		}
	}
	clear(t.gone[len(keep):])
	t.gone = keep
}

// counts is how many sessions are live and how many documents are held,
// live and ended.
func (t *sessions) counts() (live, docs int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.m {
		docs += len(s.docs)
	}
	for _, g := range t.gone {
		docs += len(g.docs)
	}
	return len(t.m), docs
}

// with runs fn on a session under the table's lock, so that handlers
// change sessions one at a time.
func (t *sessions) with(s *session, fn func(*session)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fn(s)
}

// maxDocs bounds the documents of one session; the oldest goes first.
const maxDocs = 4

// addDoc adds a document to s, dropping the oldest beyond maxDocs.
func (t *sessions) addDoc(s *session, d *document) {
	t.with(s, func(s *session) {
		s.docs[d.id] = d
		s.order = append(s.order, d.id)
		for len(s.order) > maxDocs {
			delete(s.docs, s.order[0])
			s.order = s.order[1:]
		}
	})
}

// doc returns a document of s, or nil.
func (t *sessions) doc(s *session, id string) *document {
	var d *document
	t.with(s, func(s *session) { d = s.docs[id] })
	return d
}

// signedOf is d's signed copy and its report, or nil.
func (t *sessions) signedOf(s *session, d *document) ([]byte, *validate.Report) {
	var out []byte
	var rep *validate.Report
	t.with(s, func(*session) { out, rep = d.signed, d.report })
	return out, rep
}

// dropDoc forgets a document of s.
func (t *sessions) dropDoc(s *session, id string) {
	t.with(s, func(s *session) {
		delete(s.docs, id)
		for i, o := range s.order {
			if o == id {
				s.order = append(s.order[:i], s.order[i+1:]...)
				break
			}
		}
	})
}
