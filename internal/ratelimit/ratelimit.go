// Package ratelimit is a token bucket per caller (a certificate
// fingerprint, a client address), bounded in memory: the relying parties'
// CPR matching and the validation service in api, and the citizens'
// login attempts in web.
package ratelimit

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// maxBuckets bounds a Limiter's memory.
const maxBuckets = 10000

// Limiter is a token bucket per key. The zero value is not ready: use New.
type Limiter struct {
	rate    float64 // tokens a second
	burst   float64
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New makes a limiter that refills each key's bucket at rate tokens a
// second up to burst (1 a second and 10 when not positive).
func New(rate float64, burst int) *Limiter {
	if rate <= 0 {
		rate = 1
	}
	if burst <= 0 {
		burst = 10
	}
	return &Limiter{rate: rate, burst: float64(burst), buckets: map[string]*bucket{}}
}

// Rate is the refill rate in tokens a second.
func (l *Limiter) Rate() float64 { return l.rate }

// Burst is the bucket's size: how many at once.
func (l *Limiter) Burst() int { return int(l.burst) }

// Allow takes a token from key's bucket, if there is one.
func (l *Limiter) Allow(key string, now time.Time) bool {
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
func (l *Limiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxBuckets {
		clear(l.buckets)
	}
}

// ClientAddr is the host part of the request's remote address, the key
// for limits per client.
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
