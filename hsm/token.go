package hsm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/pkcs11"
	"go.step.sm/crypto/kms/apiv1"
	steppkcs11 "go.step.sm/crypto/kms/pkcs11"
)

// reopenBackoff is how long a failed reopen is remembered, so that a token
// that stays away is not hammered by every failing operation.
const reopenBackoff = time.Second

// tokenState is one generation of open contexts on a token. It is replaced
// as a whole on recovery and never mutated after it is published.
type tokenState struct {
	gen uint64
	kms *steppkcs11.PKCS11 // asymmetric keys
	aux *rawToken          // secrets and object searches; nil until needed
}

func (st *tokenState) close() error {
	// aux first: closing the last kms context may C_Finalize the module.
	var errs []error
	if st.aux != nil {
		errs = append(errs, st.aux.close())
	}
	if st.kms != nil {
		errs = append(errs, st.kms.Close())
	}
	return errors.Join(errs...)
}

// abandon retires a state whose sessions are already gone without closing
// them: SoftHSM (and other modules) reuse session handle numbers, so calling
// C_CloseSession on a stale handle may close a live session opened since, by
// this token's new state or by another token in the process. The price is
// one crypto11 context and its module reference per such recovery.
func (st *tokenState) abandon() {
	if st.aux != nil {
		st.aux.abandon()
	}
}

// sessionsGone reports whether cause means the old sessions no longer exist.
func sessionsGone(cause error) bool {
	for _, c := range []uint{
		pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED,
		pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_TOKEN_NOT_RECOGNIZED, pkcs11.CKR_DEVICE_REMOVED,
	} {
		if isCode(cause, c) {
			return true
		}
	}
	return false
}

// token is the shared state for one (module-path, token) pair.
type token struct {
	ref    keyRef // module, token, pin-source and max-sessions of the first URI
	logger *slog.Logger

	state atomic.Pointer[tokenState]

	mu         sync.Mutex // serialises reopen, aux opening and the signer registry
	signers    []*signer
	failedAt   time.Time
	failErr    error
	generateMu sync.Mutex // serialises the exists-check-then-create of new keys
}

func openToken(ref keyRef, logger *slog.Logger) (*token, error) {
	t := &token{ref: ref, logger: logger}
	// Opening walks every slot; a slot whose token another process is
	// writing at that moment can answer CKR_GENERAL_ERROR (seen with
	// SoftHSM's file store). Nothing has happened yet, so try again.
	var st *tokenState
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		if st, err = t.open(false); err == nil || !strings.Contains(err.Error(), "CKR_GENERAL_ERROR") {
			break
		}
		logger.Warn("hsm: opening token failed; retrying", "token", ref.token, "attempt", attempt, "err", err)
		time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	t.state.Store(st)
	return t, nil
}

// open opens fresh contexts on the token; the PIN is read anew each time.
func (t *token) open(withAux bool) (*tokenState, error) {
	pin, err := t.ref.readPIN()
	if err != nil {
		return nil, err
	}
	kms, err := steppkcs11.New(context.Background(), apiv1.Options{
		Type: apiv1.PKCS11, URI: t.ref.stepTokenURI(), Pin: pin,
	})
	if err != nil {
		return nil, t.openError(err)
	}
	st := &tokenState{kms: kms}
	if withAux {
		if st.aux, err = t.openAux(pin); err != nil {
			_ = kms.Close()
			return nil, err
		}
	}
	return st, nil
}

func (t *token) openAux(pin string) (*rawToken, error) {
	c, err := openRaw(t.ref.module, t.ref.token, pin, t.ref.maxSessions)
	if err != nil {
		return nil, t.openError(err)
	}
	return c, nil
}

// openError turns an error from opening the token into one that says what to do.
func (t *token) openError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "could not find PKCS#11 token"): // crypto11's unexported errTokenNotFound, and findSlot
		return fmt.Errorf("%w: no token labelled %q in module %s; create it with `softhsm2-util --init-token --free --label %q` (or the HSM vendor's tool)",
			ErrTokenNotFound, t.ref.token, t.ref.module, t.ref.token)
	case isCode(err, pkcs11.CKR_PIN_INCORRECT), isCode(err, pkcs11.CKR_PIN_LEN_RANGE):
		return fmt.Errorf("hsm: logging in to token %q: wrong PIN; check the pin-source file or %s: %w", t.ref.token, EnvPIN, err)
	case isCode(err, pkcs11.CKR_PIN_LOCKED):
		return fmt.Errorf("hsm: logging in to token %q: PIN locked; have the security officer unlock it: %w", t.ref.token, err)
	case strings.Contains(msg, "failed to create module context"):
		return fmt.Errorf("hsm: loading PKCS#11 module %s for token %q; check module-path or %s: %w", t.ref.module, t.ref.token, EnvModule, err)
	}
	return fmt.Errorf("hsm: opening token %q in module %s: %w", t.ref.token, t.ref.module, err)
}

// withAux returns the current state, opening the auxiliary raw context
// first if this generation does not have one yet.
func (t *token) withAux() (*tokenState, error) {
	if st := t.state.Load(); st.aux != nil {
		return st, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.state.Load()
	if st.aux != nil {
		return st, nil
	}
	pin, err := t.ref.readPIN()
	if err != nil {
		return nil, err
	}
	aux, err := t.openAux(pin)
	if err != nil {
		return nil, err
	}
	next := &tokenState{gen: st.gen, kms: st.kms, aux: aux}
	t.state.Store(next)
	return next, nil
}

// checkLogin reports CKR_USER_NOT_LOGGED_IN (recoverable) if the token
// lost its login.
func (t *token) checkLogin() error {
	st, err := t.withAux()
	if err != nil {
		return err
	}
	return st.aux.loggedIn()
}

// do runs op on the current state; if op fails with an error that a reopen
// can cure, it recovers the token once and runs op again. It also runs op
// again if the state was replaced while op ran on the old one.
func (t *token) do(op func(st *tokenState) error) error {
	st := t.state.Load()
	err := op(st)
	if err == nil {
		return nil
	}
	if isRecoverable(err) {
		if rerr := t.recover(st.gen, err); rerr != nil {
			return rerr
		}
	}
	next := t.state.Load()
	if next == st {
		return err
	}
	return op(next)
}

// recover reopens the token after an operation on generation failedGen
// failed with cause. Concurrent callers for the same generation wait for one
// reopen; callers from an older generation return at once and retry.
func (t *token) recover(failedGen uint64, cause error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.state.Load()
	if old.gen != failedGen {
		return nil // another goroutine already reopened the token
	}
	if t.failErr != nil && time.Since(t.failedAt) < reopenBackoff {
		return t.failErr
	}
	if isCode(cause, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED) {
		if err := reinitializeModule(t.ref.module); err != nil {
			t.logger.Error("hsm: re-initialising PKCS#11 module", "module", t.ref.module, "err", err)
		}
	}
	// Open the new contexts before closing the old ones so that crypto11's
	// module reference count never drops to zero (which would C_Finalize the
	// module under every other token in the process).
	next, err := t.open(old.aux != nil)
	if err != nil {
		t.failedAt, t.failErr = time.Now(), fmt.Errorf("hsm: token %q failed (%w) and reopening it failed: %w", t.ref.token, cause, err)
		t.logger.Error("hsm: token recovery failed", "token", t.ref.token, "cause", cause, "err", err)
		return t.failErr
	}
	next.gen = old.gen + 1
	t.failErr = nil
	for _, s := range t.signers {
		s.rebind(next)
	}
	t.state.Store(next)
	if sessionsGone(cause) {
		old.abandon()
	} else if err := old.close(); err != nil {
		t.logger.Debug("hsm: closing stale token context", "token", t.ref.token, "err", err)
	}
	t.logger.Warn("hsm: recovered PKCS#11 token", "token", t.ref.token, "module", t.ref.module,
		"cause", cause.Error(), "generation", next.gen, "signers", len(t.signers))
	return nil
}

// reinitializeModule calls C_Initialize on a module that someone finalised
// under us. dlopen returns the already loaded library, so this re-arms the
// instance crypto11 shares; Destroy only drops our dlopen reference.
func reinitializeModule(path string) error {
	c := pkcs11.New(path)
	if c == nil {
		return fmt.Errorf("hsm: loading PKCS#11 module %s", path)
	}
	defer c.Destroy()
	if err := c.Initialize(); err != nil && !isCode(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		return err
	}
	return nil
}

// recoverableCodes are the PKCS#11 return values after which reopening the
// token (new sessions, new login, fresh object handles) may succeed.
var recoverableCodes = []uint{
	pkcs11.CKR_SESSION_HANDLE_INVALID,
	pkcs11.CKR_SESSION_CLOSED,
	pkcs11.CKR_USER_NOT_LOGGED_IN,
	pkcs11.CKR_OBJECT_HANDLE_INVALID,
	pkcs11.CKR_KEY_HANDLE_INVALID,
	pkcs11.CKR_TOKEN_NOT_PRESENT,
	pkcs11.CKR_TOKEN_NOT_RECOGNIZED,
	pkcs11.CKR_DEVICE_REMOVED,
	pkcs11.CKR_DEVICE_ERROR,
	pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED,
}

// isRecoverable reports whether err carries a PKCS#11 code that a reopen of
// the token may cure. crypto11 returns pkcs11.Error values as they are or
// wrapped by github.com/pkg/errors, both of which errors.As sees through.
func isRecoverable(err error) bool {
	var code pkcs11.Error
	if !errors.As(err, &code) {
		return false
	}
	for _, c := range recoverableCodes {
		if uint(code) == c {
			return true
		}
	}
	return false
}

func isCode(err error, code uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == code
}

// create runs create after checking that no key with the label or id exists.
// Creation itself is not retried: a failure that needs a reopen triggers the
// reopen and is returned, so that a key is never created twice.
func (t *token) create(id []byte, label string, create func(st *tokenState) error) error {
	t.generateMu.Lock()
	defer t.generateMu.Unlock()
	if _, err := t.withAux(); err != nil {
		return err
	}
	var found bool
	err := t.do(func(st *tokenState) (err error) {
		found, err = st.aux.exists(id, label)
		return err
	})
	if err != nil {
		return fmt.Errorf("hsm: searching token %q for key %q: %w", t.ref.token, label, err)
	}
	if found {
		return fmt.Errorf("%w: token %q already holds a key labelled %q or with id %x; choose another label (keys are never overwritten)",
			ErrKeyExists, t.ref.token, label, id)
	}
	st := t.state.Load()
	if err := create(st); err != nil {
		if isRecoverable(err) {
			_ = t.recover(st.gen, err)
		}
		return fmt.Errorf("hsm: generating key %q in token %q: %w", label, t.ref.token, err)
	}
	return nil
}

// generateKeyPair creates the key pair described by req.
func (t *token) generateKeyPair(id []byte, label string, req *apiv1.CreateKeyRequest) error {
	return t.create(id, label, func(st *tokenState) error {
		_, err := st.kms.CreateKey(req)
		return err
	})
}

func (t *token) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state.Load().close()
}
