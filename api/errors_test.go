package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/citizen"
	"github.com/oces-pki/oces/crl"
	"github.com/oces-pki/oces/signer"
)

// TestErrorTableRoundTrip sends every domain error through the handler's
// error path and back through the client's, and checks that both sides
// find the same sentinel, HTTP status and exit code.
func TestErrorTableRoundTrip(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err    error
		status int
		exit   int
	}{
		{ErrUnauthenticated, http.StatusUnauthorized, ExitDenied},
		{ErrForbidden, http.StatusForbidden, ExitDenied},
		{ErrRateLimited, http.StatusTooManyRequests, ExitFailure},
		{ErrAuditUnavailable, http.StatusServiceUnavailable, ExitFailure},
		{ca.ErrNotFound, http.StatusNotFound, ExitNotFound},
		{crl.ErrNotFound, http.StatusNotFound, ExitNotFound},
		{signer.ErrNotFound, http.StatusNotFound, ExitNotFound},
		{ca.ErrInvalidRequest, http.StatusBadRequest, ExitInvalid},
		{ca.ErrLint, http.StatusBadRequest, ExitInvalid},
		{errBadJSON, http.StatusBadRequest, ExitInvalid},
		{signer.ErrInvalidRequest, http.StatusBadRequest, ExitInvalid},
		{signer.ErrInvalidDocument, http.StatusBadRequest, ExitInvalid},
		{ca.ErrConflict, http.StatusConflict, ExitConflict},
		{ca.ErrSerialExists, http.StatusConflict, ExitConflict},
		{ca.ErrSubjectExists, http.StatusConflict, ExitConflict},
		{signer.ErrNotPermitted, http.StatusConflict, ExitConflict},
		{signer.ErrCertificateNotGood, http.StatusConflict, ExitConflict},
		{signer.ErrUnavailable, http.StatusServiceUnavailable, ExitFailure},
		{&http.MaxBytesError{Limit: 10}, http.StatusRequestEntityTooLarge, ExitInvalid},
		{citizen.ErrAuthFailed, http.StatusUnauthorized, ExitDenied},
		{citizen.ErrLevel, http.StatusUnauthorized, ExitDenied},
		{citizen.ErrCardSuspended, http.StatusForbidden, ExitDenied},
		{citizen.ErrSAD, http.StatusForbidden, ExitDenied},
		{citizen.ErrRequestNotFound, http.StatusNotFound, ExitNotFound},
		{citizen.ErrRequestGone, http.StatusGone, ExitNotFound},
		{errors.New("disk on fire"), http.StatusInternalServerError, ExitFailure},
	}
	a := New(Config{})
	for _, tc := range cases {
		t.Run(tc.err.Error(), func(t *testing.T) {
			err := fmt.Errorf("doing something: %w", tc.err)
			if got := StatusOf(err); got != tc.status {
				t.Errorf("StatusOf = %d, want %d", got, tc.status)
			}
			if got := ExitCode(err); got != tc.exit {
				t.Errorf("ExitCode = %d, want %d", got, tc.exit)
			}
			rec := httptest.NewRecorder()
			a.fail(rec, httptest.NewRequest(http.MethodGet, "/api/v1/x", nil), err)
			if rec.Code != tc.status {
				t.Fatalf("HTTP status %d, want %d", rec.Code, tc.status)
			}
			back := ErrorOf(rec.Code, rec.Body.Bytes())
			if got := ExitCode(back); got != tc.exit {
				t.Errorf("client: ExitCode = %d, want %d (%v)", got, tc.exit, back)
			}
			var mbe *http.MaxBytesError
			want := tc.err
			if errors.As(tc.err, &mbe) {
				want = ErrTooLarge
			}
			if rec.Code != http.StatusInternalServerError && !errors.Is(back, want) {
				t.Errorf("client: %v does not match the sentinel %v", back, want)
			}
		})
	}
}

// TestErrorOfWithoutKind: a body from a server that names no kind maps by
// status to the first row of that status.
func TestErrorOfWithoutKind(t *testing.T) {
	t.Parallel()
	for status, want := range map[int]error{
		http.StatusNotFound: ca.ErrNotFound, http.StatusConflict: ca.ErrConflict,
		http.StatusBadRequest: ca.ErrInvalidRequest, http.StatusForbidden: ErrForbidden,
	} {
		err := ErrorOf(status, []byte(`{"error":"something"}`))
		if !errors.Is(err, want) {
			t.Errorf("HTTP %d: %v is not %v", status, err, want)
		}
	}
	if err := ErrorOf(http.StatusTeapot, []byte("not json")); ExitCode(err) != ExitFailure || err.Error() != "api: HTTP 418" {
		t.Errorf("HTTP 418 without a body: %v, exit %d", err, ExitCode(err))
	}
}
