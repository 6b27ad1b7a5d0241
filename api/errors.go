package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/citizen"
	"github.com/oces-pki/oces/crl"
	"github.com/oces-pki/oces/signer"
	"github.com/oces-pki/oces/validate"
)

// Exit codes of the oces command, from the same table as the HTTP status:
// a CLI command that fails on the server exits as if the domain error had
// happened in the process.
const (
	ExitFailure  = 1 // anything not below, a service unavailable included
	ExitUsage    = 2 // bad flags or configuration (cmd/oces maps these itself)
	ExitNotFound = 3
	ExitInvalid  = 4 // the request was refused as invalid
	ExitConflict = 5 // the current state forbids the request
	ExitDenied   = 6 // authentication failed or the role may not do this
)

// More sentinels of the API layer.
var (
	// ErrTooLarge: the request body is larger than the listener takes.
	ErrTooLarge = errors.New("api: the request body is too large")
	// ErrRateLimited: the caller asked more often than its allowance.
	ErrRateLimited = errors.New("api: too many requests; slow down and try again later")
	// errInternal is what a client sees of an unexpected server error.
	errInternal = errors.New("api: internal error")
)

// errorKind is one row of the error table: a domain sentinel, the name it
// travels under in an error body (Error.Kind), its HTTP status and the
// exit code of the CLI.
type errorKind struct {
	kind   string
	err    error
	status int
	exit   int
}

// errorTable is the one place errors become HTTP status codes and exit
// codes, and error bodies become errors again. The first row an error
// matches (errors.Is) wins; an error that matches none is a 500 and exit
// code 1. For each status the first row is the one a client falls back to
// when a body names no kind it knows.
var errorTable = []errorKind{
	{"unauthenticated", ErrUnauthenticated, http.StatusUnauthorized, ExitDenied},
	{"forbidden", ErrForbidden, http.StatusForbidden, ExitDenied},
	// Citizens' logins and signatures (the web pages, cmd/oces/web.go).
	{"citizen.auth_failed", citizen.ErrAuthFailed, http.StatusUnauthorized, ExitDenied},
	{"citizen.session", citizen.ErrLevel, http.StatusUnauthorized, ExitDenied},
	{"citizen.card_suspended", citizen.ErrCardSuspended, http.StatusForbidden, ExitDenied},
	{"citizen.suspended", citizen.ErrSuspended, http.StatusForbidden, ExitDenied},
	{"citizen.password_change", citizen.ErrPasswordChange, http.StatusForbidden, ExitDenied},
	{"citizen.sad", citizen.ErrSAD, http.StatusForbidden, ExitDenied},
	{"too_large", ErrTooLarge, http.StatusRequestEntityTooLarge, ExitInvalid},
	{"validate.too_large", validate.ErrTooLarge, http.StatusRequestEntityTooLarge, ExitInvalid},
	{"rate_limited", ErrRateLimited, http.StatusTooManyRequests, ExitFailure},
	{"ca.not_found", ca.ErrNotFound, http.StatusNotFound, ExitNotFound},
	{"crl.not_found", crl.ErrNotFound, http.StatusNotFound, ExitNotFound},
	{"signer.not_found", signer.ErrNotFound, http.StatusNotFound, ExitNotFound},
	{"citizen.not_found", citizen.ErrNotFound, http.StatusNotFound, ExitNotFound},
	{"citizen.request_not_found", citizen.ErrRequestNotFound, http.StatusNotFound, ExitNotFound},
	{"citizen.request_gone", citizen.ErrRequestGone, http.StatusGone, ExitNotFound},
	{"ca.invalid_request", ca.ErrInvalidRequest, http.StatusBadRequest, ExitInvalid},
	{"signer.invalid_request", signer.ErrInvalidRequest, http.StatusBadRequest, ExitInvalid},
	{"signer.invalid_document", signer.ErrInvalidDocument, http.StatusBadRequest, ExitInvalid},
	{"citizen.invalid_request", citizen.ErrInvalidRequest, http.StatusBadRequest, ExitInvalid},
	{"ca.lint", ca.ErrLint, http.StatusBadRequest, ExitInvalid},
	{"malformed_json", errBadJSON, http.StatusBadRequest, ExitInvalid},
	{"ca.conflict", ca.ErrConflict, http.StatusConflict, ExitConflict},
	{"ca.serial_exists", ca.ErrSerialExists, http.StatusConflict, ExitConflict},
	{"ca.subject_exists", ca.ErrSubjectExists, http.StatusConflict, ExitConflict},
	{"signer.not_permitted", signer.ErrNotPermitted, http.StatusConflict, ExitConflict},
	{"signer.certificate_not_good", signer.ErrCertificateNotGood, http.StatusConflict, ExitConflict},
	{"citizen.exists", citizen.ErrExists, http.StatusConflict, ExitConflict},
	{"signer.unavailable", signer.ErrUnavailable, http.StatusServiceUnavailable, ExitFailure},
	{"citizen.unavailable", citizen.ErrUnavailable, http.StatusServiceUnavailable, ExitFailure},
	{"audit_unavailable", ErrAuditUnavailable, http.StatusServiceUnavailable, ExitFailure},
	{"unavailable", ca.ErrUnavailable, http.StatusServiceUnavailable, ExitFailure},
	{"canceled", context.Canceled, http.StatusServiceUnavailable, ExitFailure},
	{"deadline_exceeded", context.DeadlineExceeded, http.StatusServiceUnavailable, ExitFailure},
	{"internal", errInternal, http.StatusInternalServerError, ExitFailure},
}

// kindOf finds err's row; a body larger than the bound (*http.MaxBytesError)
// is ErrTooLarge. The last row (internal) is the default.
func kindOf(err error) *errorKind {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = ErrTooLarge
	}
	for i := range errorTable {
		if errors.Is(err, errorTable[i].err) {
			return &errorTable[i]
		}
	}
	return &errorTable[len(errorTable)-1]
}

// StatusOf is the HTTP status of err.
func StatusOf(err error) int { return kindOf(err).status }

// ExitCode is the CLI's exit code for err, whether it happened in the
// process or came back from the API as a *StatusError: both find the same
// row. Usage and configuration errors (ExitUsage) are the CLI's own.
func ExitCode(err error) int { return kindOf(err).exit }

// kindByName is the row named in an error body, or the first row of the
// status when the name is unknown (a body from another version), or nil.
func kindByName(name string, status int) *errorKind {
	for i := range errorTable {
		if errorTable[i].kind == name {
			return &errorTable[i]
		}
	}
	for i := range errorTable {
		if errorTable[i].status == status {
			return &errorTable[i]
		}
	}
	return nil
}
