package api

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// The PID-CPR match for relying parties (DESIGN.md, identity and privacy):
// a service provider named on an allow-list may ask whether a PID belongs
// to a CPR number and gets yes or no, never the number. It authenticates
// with its organisation or system certificate (VOCES, FOCES, OCES3
// organisation or system) issued by this CA and still good; its questions
// are rate-limited per certificate and every one is in the audit chain,
// with the PID as target and never the CPR number.

// RoleRelyingParty is a service provider allowed the PID-CPR match.
const RoleRelyingParty Role = "relying-party"

// RelyingPartyAccess configures the relying parties' match-cpr.
type RelyingPartyAccess struct {
	// Clients are the certificates allowed: "sha256:<hex>" of the
	// certificate, or its subject serialNumber ("CVR:12345678-UID:…",
	// "UI:DK-O:G:…"). A whole CVR number is not accepted: each system
	// that may ask is named.
	Clients []string
	// Rate is how many questions a second one certificate may ask on
	// average (default 1), Burst how many at once (default 10).
	Rate  float64
	Burst int
}

// allowed tells whether the certificate is on the allow-list.
func (r *RelyingPartyAccess) allowed(p *Principal, leaf *x509.Certificate) bool {
	serial := subjectSerial(leaf.Subject)
	return slices.Contains(r.Clients, "sha256:"+p.Fingerprint) || (serial != "" && slices.Contains(r.Clients, serial))
}

// matchCPRPrincipal authenticates a match-cpr question: a CA officer, or a
// relying party on the allow-list. Registration authorities are refused
// by the handler.
func (a *API) matchCPRPrincipal(r *http.Request) (*Principal, error) {
	p, err := a.authenticate(r)
	if err == nil || a.rp == nil {
		return p, err
	}
	rp, leaf, rerr := a.serviceProvider(r)
	if rerr != nil {
		return nil, err // neither: the officer API's answer
	}
	rp.Role = RoleRelyingParty
	if !a.rp.allowed(rp, leaf) {
		return rp, fmt.Errorf("%w: certificate %s is not on the relying parties' allow-list for match-cpr (match_cpr.relying_parties)", ErrForbidden, rp.Serial)
	}
	return rp, nil
}

// maxBuckets bounds the rate limiter's memory.
const maxBuckets = 10000

// rateLimiter is a token bucket per caller. The zero value is not ready:
// use newRateLimiter.
type rateLimiter struct {
	rate    float64 // tokens a second
	burst   float64
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(rate float64, burst int) *rateLimiter {
	if rate <= 0 {
		rate = 1
	}
	if burst <= 0 {
		burst = 10
	}
	return &rateLimiter{rate: rate, burst: float64(burst), buckets: map[string]*bucket{}}
}

// allow takes a token from key's bucket, if there is one.
func (l *rateLimiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// prune drops the buckets that are full again (they hold nothing a new
// bucket would not), and if that is not enough, all of them.
func (l *rateLimiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxBuckets {
		clear(l.buckets)
	}
}
