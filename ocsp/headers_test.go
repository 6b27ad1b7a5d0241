package ocsp

import (
	"net/http"
	"testing"
	"time"
)

// TestResponseHeaders: cached header values are the formatted ones, also
// for keys that share a slot, and each key is formatted once while it
// stays in its slot.
func TestResponseHeaders(t *testing.T) {
	t.Parallel()
	var h responseHeaders
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		got  func() []string
		want string
	}{
		{"date", func() []string { return h.date(base) }, "Tue, 01 Dec 2026 10:00:00 GMT"},
		{"date in another zone", func() []string { return h.date(base.In(time.FixedZone("CET", 3600))) }, "Tue, 01 Dec 2026 10:00:00 GMT"},
		{"date in the same slot", func() []string { return h.date(base.Add(headerCacheSize * time.Second)) },
			base.Add(headerCacheSize * time.Second).Format(http.TimeFormat)},
		{"date again", func() []string { return h.date(base) }, "Tue, 01 Dec 2026 10:00:00 GMT"},
		{"max-age", func() []string { return h.cacheControl(3600) }, "max-age=3600, public, no-transform, must-revalidate"},
		{"max-age 0", func() []string { return h.cacheControl(0) }, "max-age=0, public, no-transform, must-revalidate"},
		{"max-age same slot", func() []string { return h.cacheControl(3600 + headerCacheSize) },
			"max-age=4624, public, no-transform, must-revalidate"},
		{"length", func() []string { return h.contentLength(744) }, "744"},
		{"length same slot", func() []string { return h.contentLength(744 + headerCacheSize) }, "1768"},
	}
	for _, tt := range tests {
		got := tt.got()
		if len(got) != 1 || got[0] != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	calls := 0
	var c headerCache
	format := func(k int64) string { calls++; return formatInt(k) }
	for range 3 {
		c.get(42, format)
	}
	if calls != 1 {
		t.Errorf("formatted %d times, want once", calls)
	}
}
