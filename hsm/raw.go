package hsm

import (
	"errors"
	"fmt"
	"sync"

	"github.com/miekg/pkcs11"
)

// errRawClosed is returned by a rawToken used after close; do() retries on
// the newer state when it sees the state changed.
var errRawClosed = errors.New("hsm: token context closed")

// rawToken is a direct miekg/pkcs11 connection to a token for what step's
// kms has no API for: secret keys, HMAC and searches over every object
// class. It shares the module instance that crypto11 (under step) already
// initialised: dlopen returns the loaded library and C_Initialize answers
// CKR_CRYPTOKI_ALREADY_INITIALIZED; it never calls C_Finalize.
//
// crypto11's own HMAC is not used: its hash.Hash panics on a failed
// C_SignUpdate without returning the session to the pool, after which
// closing the context blocks for ever.
type rawToken struct {
	ctx  *pkcs11.Ctx
	slot uint

	mu     sync.RWMutex // read-held by every operation, write-held by close
	closed bool

	idle   chan pkcs11.SessionHandle
	slots  chan struct{} // one token per session that may still be opened
	openMu sync.Mutex
	opened []pkcs11.SessionHandle
}

// openRaw opens a raw context on the token labelled label; the caller holds
// mod's lock.
func openRaw(mod *module, label, pin string, maxSessions int) (_ *rawToken, err error) {
	c := pkcs11.New(mod.path)
	if c == nil {
		return nil, fmt.Errorf("hsm: loading PKCS#11 module %s; check module-path or %s", mod.path, EnvModule)
	}
	if err := mod.initialize(); err != nil {
		c.Destroy()
		return nil, err
	}
	r := &rawToken{
		ctx:   c,
		idle:  make(chan pkcs11.SessionHandle, maxSessions),
		slots: make(chan struct{}, maxSessions),
	}
	for range maxSessions {
		r.slots <- struct{}{}
	}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	if r.slot, err = findSlot(c, label); err != nil {
		return nil, err
	}
	s, err := r.session()
	if err != nil {
		return nil, err
	}
	defer r.idleSession(s)
	if err := c.Login(s, pkcs11.CKU_USER, pin); err != nil && !isCode(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		return nil, err
	}
	return r, nil
}

func findSlot(c *pkcs11.Ctx, label string) (uint, error) {
	slots, err := c.GetSlotList(true)
	if err != nil {
		return 0, err
	}
	for _, slot := range slots {
		info, err := c.GetTokenInfo(slot)
		if err == nil && info.Label == label {
			return slot, nil
		}
	}
	return 0, errors.New("could not find PKCS#11 token") // same text as crypto11, see openError
}

// session takes an idle session or opens a new one, waiting when
// maxSessions are in use.
func (r *rawToken) session() (pkcs11.SessionHandle, error) {
	select { // prefer an idle session; a bare select would pick at random
	case s := <-r.idle:
		return s, nil
	default:
	}
	select {
	case s := <-r.idle:
		return s, nil
	case <-r.slots:
	}
	s, err := r.ctx.OpenSession(r.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		r.slots <- struct{}{}
		return 0, err
	}
	r.openMu.Lock()
	r.opened = append(r.opened, s)
	r.openMu.Unlock()
	return s, nil
}

func (r *rawToken) idleSession(s pkcs11.SessionHandle) { r.idle <- s }

// with runs f on a session of its own.
func (r *rawToken) with(f func(s pkcs11.SessionHandle) error) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return errRawClosed
	}
	s, err := r.session()
	if err != nil {
		return err
	}
	defer r.idleSession(s)
	return f(s)
}

// close waits for running operations, closes every session it opened and
// drops its reference to the library.
func (r *rawToken) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	for _, s := range r.opened {
		_ = r.ctx.CloseSession(s) // may already be gone: that is why we are closing
	}
	r.ctx.Destroy()
	return nil
}

// abandon stops new operations without closing the sessions (see
// tokenState.abandon). The library handle is kept: operations still running
// on it may finish.
func (r *rawToken) abandon() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
}

// find returns the first object matching template, or ok false. Private
// objects are invisible, not an error, to a session that lost its login, so
// an empty result on such a session is reported as CKR_USER_NOT_LOGGED_IN:
// a recoverable error rather than a false "not found".
func (r *rawToken) find(template []*pkcs11.Attribute) (h pkcs11.ObjectHandle, ok bool, err error) {
	err = r.with(func(s pkcs11.SessionHandle) error {
		if err := r.ctx.FindObjectsInit(s, template); err != nil {
			return err
		}
		hs, _, err := r.ctx.FindObjects(s, 1)
		if ferr := r.ctx.FindObjectsFinal(s); err == nil {
			err = ferr
		}
		if err != nil {
			return err
		}
		if len(hs) > 0 {
			h, ok = hs[0], true
			return nil
		}
		return r.checkLogin(s)
	})
	return h, ok, err
}

// checkLogin returns CKR_USER_NOT_LOGGED_IN if session s is not logged in.
func (r *rawToken) checkLogin(s pkcs11.SessionHandle) error {
	info, err := r.ctx.GetSessionInfo(s)
	if err != nil {
		return err
	}
	if info.State != pkcs11.CKS_RO_USER_FUNCTIONS && info.State != pkcs11.CKS_RW_USER_FUNCTIONS {
		return pkcs11.Error(pkcs11.CKR_USER_NOT_LOGGED_IN)
	}
	return nil
}

// loggedIn checks the login on one of the sessions.
func (r *rawToken) loggedIn() error { return r.with(r.checkLogin) }

// exists reports whether any object (of any class) has the label or the id.
func (r *rawToken) exists(id []byte, label string) (bool, error) {
	templates := [][]*pkcs11.Attribute{{pkcs11.NewAttribute(pkcs11.CKA_LABEL, label)}}
	if len(id) > 0 {
		templates = append(templates, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, id)})
	}
	for _, tmpl := range templates {
		if _, ok, err := r.find(tmpl); err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// generateSecret creates a 256-bit generic secret for HMAC-SHA256 that
// never leaves the token.
func (r *rawToken) generateSecret(id []byte, label string) error {
	template := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_GENERIC_SECRET),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_GENERIC_SECRET_KEY_GEN, nil)}
	return r.with(func(s pkcs11.SessionHandle) error {
		_, err := r.ctx.GenerateKey(s, mech, template)
		return err
	})
}

// findSecret returns the handle of the secret key with the id and/or label.
func (r *rawToken) findSecret(id []byte, label string) (pkcs11.ObjectHandle, bool, error) {
	template := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY)}
	if len(id) > 0 {
		template = append(template, pkcs11.NewAttribute(pkcs11.CKA_ID, id))
	}
	if label != "" {
		template = append(template, pkcs11.NewAttribute(pkcs11.CKA_LABEL, label))
	}
	return r.find(template)
}

// hmacSHA256 computes HMAC-SHA256 (CKM_SHA256_HMAC, single part) in the token.
func (r *rawToken) hmacSHA256(key pkcs11.ObjectHandle, data []byte) (sum []byte, err error) {
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_SHA256_HMAC, nil)}
	err = r.with(func(s pkcs11.SessionHandle) error {
		if err := r.ctx.SignInit(s, mech, key); err != nil {
			return err
		}
		sum, err = r.ctx.Sign(s, data)
		return err
	})
	return sum, err
}
