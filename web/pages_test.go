package web

import (
	"testing"
	"time"
)

// Dates are shown in the configured zone with its abbreviation, not the
// server's own zone (a server on UTC must still show Danish time).
func TestDateInZone(t *testing.T) {
	cph, err := time.LoadLocation(DefaultTimeZone)
	if err != nil {
		t.Fatal(err)
	}
	winter := time.Date(2026, 12, 1, 11, 22, 0, 0, time.UTC)
	summer := time.Date(2026, 7, 1, 11, 22, 0, 0, time.UTC)
	for _, tc := range []struct {
		lang string
		t    time.Time
		want string
	}{
		{"da", winter, "1.12.2026 kl. 12.22 CET"},
		{"en", winter, "1 Dec 2026 12:22 CET"},
		{"da", summer, "1.7.2026 kl. 13.22 CEST"},
		{"da", time.Time{}, ""},
	} {
		p := &page{Lang: tc.lang, loc: cph}
		if got := p.Date(tc.t); got != tc.want {
			t.Errorf("Date(%s, %v) = %q, want %q", tc.lang, tc.t, got, tc.want)
		}
	}
}
