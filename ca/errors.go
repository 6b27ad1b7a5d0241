package ca

import "errors"

// Sentinel errors. Callers test them with errors.Is; the HTTP layer and the
// CLI map each to a status code and an exit code in one place.
var (
	// ErrNotFound: no certificate, subject or CA by that name.
	ErrNotFound = errors.New("ca: not found")
	// ErrInvalidRequest: the request itself is wrong (bad CSR, unknown profile, missing field).
	ErrInvalidRequest = errors.New("ca: invalid request")
	// ErrConflict: the request is well formed but the current state forbids it.
	ErrConflict = errors.New("ca: conflict")
	// ErrSerialExists: a store refused a serial it has seen before.
	ErrSerialExists = errors.New("ca: serial already used")
	// ErrSubjectExists: a new subject's identifier or lookup key was
	// registered meanwhile; the CA draws again.
	ErrSubjectExists = errors.New("ca: subject already registered")
	// ErrLint: the certificate about to be signed failed the linter; nothing was signed.
	ErrLint = errors.New("ca: certificate failed linting")
	// ErrUnavailable: something the CA needs failed just now (the CA key's
	// HSM, or the store could not write: a full disk, say); nothing was
	// issued or changed, and the same request may succeed later.
	ErrUnavailable = errors.New("ca: temporarily unavailable")
)
