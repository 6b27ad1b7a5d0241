package ratelimit

import (
	"testing"
	"time"
)

// The bucket refills at the rate, up to the burst, per key.
func TestLimiter(t *testing.T) {
	t.Parallel()
	l := New(2, 3)
	now := time.Unix(1000, 0)
	got := ""
	for _, d := range []time.Duration{0, 0, 0, 0, 250 * time.Millisecond, 250 * time.Millisecond, 0, 10 * time.Second, 0, 0, 0} {
		now = now.Add(d)
		if l.Allow("a", now) {
			got += "y"
		} else {
			got += "n"
		}
	}
	if got != "yyyn"+"n"+"y"+"n"+"yyyn" {
		t.Errorf("allowances %s", got)
	}
	if !l.Allow("b", now) {
		t.Error("another caller shares the bucket")
	}
}

// Past maxBuckets keys the full buckets are dropped and memory stays
// bounded; a key that was drained keeps its state.
func TestLimiterBounded(t *testing.T) {
	t.Parallel()
	l := New(1, 2)
	now := time.Unix(1000, 0)
	l.Allow("drained", now)
	l.Allow("drained", now)
	for i := range 3 * maxBuckets {
		l.Allow(string(rune(i+0x1000)), now.Add(time.Hour))
	}
	if n := len(l.buckets); n > maxBuckets {
		t.Errorf("%d buckets, at most %d", n, maxBuckets)
	}
}
