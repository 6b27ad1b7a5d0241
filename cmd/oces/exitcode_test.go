package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/oces-pki/oces/api"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/internal/conf"
)

// TestExitCodeMatchesServer: an error answered by the API exits with the
// code the same domain error has in the process.
func TestExitCodeMatchesServer(t *testing.T) {
	t.Parallel()
	cases := []struct {
		kind   string
		status int
		want   int
	}{
		{"ca.subject_exists", http.StatusConflict, exitConflict},
		{"ca.serial_exists", http.StatusConflict, exitConflict},
		{"ca.not_found", http.StatusNotFound, exitNotFound},
		{"crl.not_found", http.StatusNotFound, exitNotFound},
		{"ca.lint", http.StatusBadRequest, exitInvalid},
		{"forbidden", http.StatusForbidden, exitDenied},
		{"audit_unavailable", http.StatusServiceUnavailable, exitFailure},
	}
	for _, tc := range cases {
		body, _ := json.Marshal(api.Error{Error: "x", Kind: tc.kind})
		if got := exitCode(fmt.Errorf("calling: %w", api.ErrorOf(tc.status, body))); got != tc.want {
			t.Errorf("%s over HTTP: exit %d, want %d", tc.kind, got, tc.want)
		}
	}
	if got := exitCode(ca.ErrSubjectExists); got != exitConflict {
		t.Errorf("ca.ErrSubjectExists in process: exit %d, want %d", got, exitConflict)
	}
	if got := exitCode(&conf.Error{Path: "oces.yaml", Err: conf.Errorf("store.path", "required")}); got != exitUsage {
		t.Errorf("configuration error: exit %d, want %d", got, exitUsage)
	}
}
