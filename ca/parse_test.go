package ca_test

import (
	"errors"
	"testing"

	"github.com/oces-pki/oces/ca"
)

// TestParseErrorsAreInvalidRequests: a bad serial or status is the
// caller's mistake, which every layer maps through ca.ErrInvalidRequest.
func TestParseErrorsAreInvalidRequests(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "xyz", "0", "-1", "100000000000000000000000000000000"} {
		if _, err := ca.ParseSerial(s); !errors.Is(err, ca.ErrInvalidRequest) {
			t.Errorf("ParseSerial(%q) = %v, want ca.ErrInvalidRequest", s, err)
		}
	}
	if s, err := ca.ParseSerial("0a:FF"); err != nil || s.String() != "000000000000000000000000000000aff"[1:] {
		t.Errorf("ParseSerial(0a:FF) = %v, %v", s, err)
	}
	for _, s := range []string{"", "lost", "Good"} {
		if _, err := ca.ParseStatus(s); !errors.Is(err, ca.ErrInvalidRequest) {
			t.Errorf("ParseStatus(%q) = %v, want ca.ErrInvalidRequest", s, err)
		}
	}
	if st, err := ca.ParseStatus("revoked"); err != nil || st != ca.StatusRevoked {
		t.Errorf("ParseStatus(revoked) = %q, %v", st, err)
	}
}
