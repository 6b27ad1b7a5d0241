package api

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/oces-pki/oces/audit"
)

// errOutOfScope is the outcome recorded when a registration authority asks
// for a subject of another CVR (it is answered as an unknown subject).
var errOutOfScope = errors.New("api: outside the scope of this registration authority")

// loginAuditEvery is how often one certificate's refused logins are
// recorded: the first, and then at most one a minute, so that a client
// with a revoked certificate cannot fill the audit chain.
const loginAuditEvery = time.Minute

// maxLoginEntries bounds the memory of recent refusals.
const maxLoginEntries = 10000

// loginLimiter remembers when each certificate's refusal was last
// recorded. The zero value is ready.
type loginLimiter struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// due tells whether a refusal of the certificate with this fingerprint
// should be recorded now.
func (l *loginLimiter) due(fp string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[fp]; ok && now.Sub(t) < loginAuditEvery {
		return false
	}
	if l.last == nil || len(l.last) >= maxLoginEntries {
		for k, t := range l.last {
			if now.Sub(t) >= loginAuditEvery {
				delete(l.last, k)
			}
		}
		if l.last == nil || len(l.last) >= maxLoginEntries {
			l.last = map[string]time.Time{}
		}
	}
	l.last[fp] = now
	return true
}

// recordLoginFailure writes the audit record of a client certificate that
// passed TLS (it chains to an issuing CA) but that the API refused: unknown
// to the CA, not byte for byte the one issued, not good, or of a profile
// that may not log in. The actor is the certificate presented. A lost
// record is only logged: nothing was done.
func (a *API) recordLoginFailure(r *http.Request, err error) {
	if a.audit == nil || r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return
	}
	leaf := r.TLS.PeerCertificates[0]
	actor := audit.ActorOf(leaf)
	if !a.logins.due(string(actor.Fingerprint[:]), time.Now()) {
		return
	}
	ev := audit.Event{Time: time.Now(), Actor: actor, Action: audit.ActionLoginRefused,
		Target: audit.Target(r.Method + " " + r.URL.Path), Outcome: audit.Outcome(err),
		Details: map[string]string{"serial": fmt.Sprintf("%032x", leaf.SerialNumber), "remote": r.RemoteAddr}}
	if rerr := a.audit.AppendAudit(r.Context(), ev); rerr != nil {
		a.log.ErrorContext(r.Context(), "api: writing audit record failed", "action", ev.Action, "err", rerr)
	}
}
