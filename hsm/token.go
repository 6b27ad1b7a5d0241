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

// After a reopen fails, the token is retried in the background, first
// after retryFirst, then at doubling intervals up to retryMax, each time
// re-initialising the module if a plain reopen does not do.
const (
	retryFirst = 100 * time.Millisecond
	retryMax   = 5 * time.Second
)

var (
	// errStale is returned instead of calling into a context that was
	// replaced, or opened before the module was last initialised: its
	// handles may belong to another context by now.
	errStale = errors.New("hsm: token context is stale")
	// errKeyVanished is returned when a key found before is no longer
	// there. The package never deletes keys; a token that hides them is
	// broken (SoftHSM, once out of file descriptors, shows no objects).
	errKeyVanished = errors.New("hsm: a key found before is missing from the token")
)

// tokenState is one generation of open contexts on a token. It is replaced
// as a whole on recovery and never mutated after it is published.
type tokenState struct {
	gen   uint64
	epoch uint64             // the module's epoch when the contexts were opened
	kms   *steppkcs11.PKCS11 // asymmetric keys
	aux   *rawToken          // secrets and object searches; nil until needed
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
	if errors.Is(cause, errStale) {
		return true
	}
	for _, c := range []uint{
		pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED,
		pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_TOKEN_NOT_RECOGNIZED, pkcs11.CKR_DEVICE_REMOVED,
		pkcs11.CKR_SLOT_ID_INVALID,
	} {
		if isCode(cause, c) {
			return true
		}
	}
	return false
}

// token is the shared state for one (module-path, token) pair.
//
// Locks, always taken in this order: generateMu, mu, then the module's
// lock (shared for operations, exclusive for reopening). Nothing that holds
// the module's lock takes mu.
type token struct {
	ref    keyRef // module, token, pin-source and max-sessions of the first URI
	logger *slog.Logger
	mod    *module

	state atomic.Pointer[tokenState]

	mu         sync.Mutex // serialises reopen, aux opening, the signer registry and the fields below
	signers    []*signer
	failErr    error // non-nil while the token is down and being retried in the background
	closed     bool
	done       chan struct{} // closed by close: ends the background retry
	generateMu sync.Mutex    // serialises the exists-check-then-create of new keys
}

func openToken(ref keyRef, logger *slog.Logger) (*token, error) {
	t := &token{ref: ref, logger: logger, mod: moduleFor(ref.module), done: make(chan struct{})}
	// Opening walks every slot; a slot whose token another process is
	// writing at that moment can answer CKR_GENERAL_ERROR (seen with
	// SoftHSM's file store). Nothing has happened yet, so try again.
	var st *tokenState
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		t.mod.mu.RLock()
		st, err = t.open(false)
		t.mod.mu.RUnlock()
		if err == nil || !strings.Contains(err.Error(), "CKR_GENERAL_ERROR") {
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
// The caller holds the module's lock, shared or exclusive.
func (t *token) open(withAux bool) (*tokenState, error) {
	pin, err := t.ref.readPIN()
	if err != nil {
		return nil, err
	}
	epoch := t.mod.epoch.Load()
	kms, err := steppkcs11.New(context.Background(), apiv1.Options{
		Type: apiv1.PKCS11, URI: t.ref.stepTokenURI(), Pin: pin,
	})
	if err != nil {
		return nil, t.openError(err)
	}
	st := &tokenState{epoch: epoch, kms: kms}
	if withAux {
		if st.aux, err = t.openAux(pin); err != nil {
			_ = kms.Close()
			return nil, err
		}
	}
	return st, nil
}

func (t *token) openAux(pin string) (*rawToken, error) {
	c, err := openRaw(t.mod, t.ref.token, pin, t.ref.maxSessions)
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
	if t.failErr != nil {
		return nil, t.failErr
	}
	st := t.state.Load()
	if st.aux != nil {
		return st, nil
	}
	pin, err := t.ref.readPIN()
	if err != nil {
		return nil, err
	}
	t.mod.mu.RLock()
	aux, err := t.openAux(pin)
	t.mod.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	next := &tokenState{gen: st.gen, epoch: st.epoch, kms: st.kms, aux: aux}
	t.state.Store(next)
	return next, nil
}

// checkLogin reports CKR_USER_NOT_LOGGED_IN (recoverable) if the token
// lost its login, after recovering the token if it can.
func (t *token) checkLogin() error {
	if _, err := t.withAux(); err != nil {
		return err
	}
	return t.do(func(st *tokenState) error {
		if st.aux == nil {
			return errRawClosed
		}
		return st.aux.loggedIn()
	})
}

// run calls op on the current state with the module's lock held shared,
// so that no reopen or re-initialisation runs meanwhile. A state opened in
// an earlier epoch of the module is not used: run returns errStale.
func (t *token) run(op func(st *tokenState) error) (*tokenState, error) {
	t.mod.mu.RLock()
	defer t.mod.mu.RUnlock()
	st := t.state.Load()
	if st.epoch != t.mod.epoch.Load() {
		return st, errStale
	}
	return st, op(st)
}

// do runs op on the current state; if op fails with an error that a reopen
// can cure, it recovers the token once and runs op again. It also runs op
// again if the state was replaced while op ran on the old one.
func (t *token) do(op func(st *tokenState) error) error {
	st, err := t.run(op)
	if err == nil {
		return nil
	}
	if isRecoverable(err) {
		if rerr := t.recover(st.gen, err); rerr != nil {
			return rerr
		}
	}
	if t.state.Load() == st {
		return err
	}
	_, err = t.run(op)
	return err
}

// recover reopens the token after an operation on generation failedGen
// failed with cause. Concurrent callers for the same generation wait for one
// reopen; callers from an older generation return at once and retry. If the
// reopen fails, the token is down: callers get the failure at once while
// retry keeps trying in the background.
func (t *token) recover(failedGen uint64, cause error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if t.state.Load().gen != failedGen {
		return nil // another goroutine already reopened the token
	}
	if t.failErr != nil {
		return t.failErr
	}
	err := t.reopen(cause, false)
	if err == nil {
		return nil
	}
	t.failErr = fmt.Errorf("hsm: token %q failed (%w) and reopening it failed: %w", t.ref.token, cause, err)
	if pinRefused(err) {
		// Retrying a wrong PIN would lock the token; wait for an operator.
		t.logger.Error("hsm: token recovery failed; the token refuses the PIN, fix it and restart", "token", t.ref.token, "cause", cause, "err", err)
		return t.failErr
	}
	t.logger.Error("hsm: token recovery failed; retrying in the background", "token", t.ref.token, "cause", cause, "err", err)
	go t.retry(cause)
	return t.failErr
}

// retry reopens a token that is down, at growing intervals, re-initialising
// the module when a plain reopen fails, until the token is back or closed.
func (t *token) retry(cause error) {
	wait := retryFirst
	for attempt := 1; ; attempt++ {
		select {
		case <-t.done:
			return
		case <-time.After(wait):
		}
		t.mu.Lock()
		if t.closed || t.failErr == nil {
			t.mu.Unlock()
			return
		}
		err := t.reopen(cause, false)
		if err != nil {
			err = t.reopen(cause, true)
		}
		if err == nil {
			t.failErr = nil
			t.mu.Unlock()
			return
		}
		t.failErr = fmt.Errorf("hsm: token %q failed (%w) and reopening it failed: %w", t.ref.token, cause, err)
		t.mu.Unlock()
		wait = min(2*wait, retryMax)
		t.logger.Warn("hsm: token still unusable", "token", t.ref.token, "attempt", attempt, "next_in", wait, "err", err)
		if pinRefused(err) {
			return
		}
	}
}

// pinRefused reports whether the token refused the PIN.
func pinRefused(err error) bool {
	return isCode(err, pkcs11.CKR_PIN_INCORRECT) || isCode(err, pkcs11.CKR_PIN_LEN_RANGE) || isCode(err, pkcs11.CKR_PIN_LOCKED)
}

// reopen replaces the token's contexts with fresh ones, first
// re-initialising the module if reinit is set. It holds the module's lock
// exclusively: no operation of any token of the module is in the library
// meanwhile, so closing the old contexts cannot pull a session from under
// a signer, and once the new state is published no one uses the old one.
// The caller holds t.mu.
func (t *token) reopen(cause error, reinit bool) error {
	t.mod.mu.Lock()
	defer t.mod.mu.Unlock()
	old := t.state.Load()
	if reinit {
		if err := t.mod.reinitialize(); err != nil {
			return err
		}
		t.logger.Warn("hsm: re-initialised PKCS#11 module", "module", t.ref.module, "token", t.ref.token)
	} else if err := t.mod.initialize(); err != nil { // re-arm a module finalised under us
		return err
	}
	// Open the new contexts before closing the old ones so that crypto11's
	// module reference count never drops to zero (which would C_Finalize the
	// module under every other token in the process).
	next, err := t.open(old.aux != nil)
	if err != nil {
		return err
	}
	next.gen = old.gen + 1
	for _, s := range t.signers {
		s.rebind(next)
	}
	t.state.Store(next)
	if sessionsGone(cause) || old.epoch != t.mod.epoch.Load() {
		old.abandon()
	} else if err := old.close(); err != nil {
		t.logger.Debug("hsm: closing stale token context", "token", t.ref.token, "err", err)
	}
	t.logger.Warn("hsm: recovered PKCS#11 token", "token", t.ref.token, "module", t.ref.module,
		"cause", cause.Error(), "generation", next.gen, "signers", len(t.signers))
	return nil
}

// recoverableCodes are the PKCS#11 return values after which reopening the
// token (new sessions, new login, fresh object handles) may succeed.
// CKR_GENERAL_ERROR is among them because SoftHSM answers it when its
// object store cannot be read, which a reopen, or a re-initialisation,
// cures.
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
	pkcs11.CKR_SLOT_ID_INVALID,
	pkcs11.CKR_GENERAL_ERROR,
}

// isRecoverable reports whether err carries a PKCS#11 code that a reopen of
// the token may cure. crypto11 returns pkcs11.Error values as they are or
// wrapped by github.com/pkg/errors, both of which errors.As sees through.
func isRecoverable(err error) bool {
	if errors.Is(err, errStale) || errors.Is(err, errKeyVanished) {
		return true
	}
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
	if st, err := t.run(create); err != nil {
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

// close closes the token's contexts and ends its background retry.
func (t *token) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	close(t.done)
	t.mod.mu.Lock()
	defer t.mod.mu.Unlock()
	st := t.state.Load()
	if st.epoch != t.mod.epoch.Load() {
		st.abandon() // its handles may be another context's now
		return nil
	}
	return st.close()
}
