package hsm

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/miekg/pkcs11"
)

// module is one PKCS#11 library as loaded into this process, shared by
// every token (and every HSM value) that uses it.
//
// Its lock orders calls into the library against recovery: every
// operation on a session (signing, HMAC, object searches, opening a
// context) holds it shared; reopening a token, closing a stale context and
// re-initialising the library hold it exclusively. So no recovery step
// runs while another goroutine is inside the library on a session that the
// step may close, invalidate or hand out again: SoftHSM, for one, frees a
// session under a thread that is still using it, and crashes.
//
// epoch counts the initialisations of the library seen by this process.
// After C_Finalize and C_Initialize, SoftHSM numbers session and object
// handles from the start again, so a context opened in an earlier epoch
// must never be used: its handles may name another token's sessions now.
type module struct {
	path  string
	mu    sync.RWMutex
	epoch atomic.Uint64

	ctxMu sync.Mutex
	ctx   *pkcs11.Ctx // for C_Initialize and C_Finalize; loaded once, kept for the process
}

var (
	modulesMu sync.Mutex
	modules   = map[string]*module{}
)

// moduleFor returns the process-wide module for path.
func moduleFor(path string) *module {
	modulesMu.Lock()
	defer modulesMu.Unlock()
	m, ok := modules[path]
	if !ok {
		m = &module{path: path}
		modules[path] = m
	}
	return m
}

// handle loads the library once (dlopen returns the instance that crypto11
// already loaded, so this shares its state).
func (m *module) handle() (*pkcs11.Ctx, error) {
	m.ctxMu.Lock()
	defer m.ctxMu.Unlock()
	if m.ctx == nil {
		if m.ctx = pkcs11.New(m.path); m.ctx == nil {
			return nil, fmt.Errorf("hsm: loading PKCS#11 module %s; check module-path or %s", m.path, EnvModule)
		}
	}
	return m.ctx, nil
}

// initialize calls C_Initialize, re-arming a library that someone
// finalised; the epoch advances if it did. It must not run before crypto11
// has initialised the library in this process (crypto11 refuses a library
// initialised by someone else), so only contexts that exist call it. The
// caller holds mu, shared or exclusive.
func (m *module) initialize() error {
	c, err := m.handle()
	if err != nil {
		return err
	}
	if err := c.Initialize(); err != nil {
		if isCode(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
			return nil
		}
		return fmt.Errorf("hsm: C_Initialize on %s: %w", m.path, err)
	}
	m.epoch.Add(1)
	return nil
}

// reinitialize calls C_Finalize and C_Initialize: the cure for a library
// whose internal state is broken (SoftHSM after running out of file
// descriptors answers CKR_GENERAL_ERROR to every new context until then).
// It ends every session of every token of the library in this process;
// their contexts are stale from now on and are reopened on their next use.
// The caller holds mu exclusively.
func (m *module) reinitialize() error {
	c, err := m.handle()
	if err != nil {
		return err
	}
	if err := c.Finalize(); err != nil && !isCode(err, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED) {
		return fmt.Errorf("hsm: C_Finalize on %s: %w", m.path, err)
	}
	m.epoch.Add(1) // handles are void now, whether or not C_Initialize succeeds
	if err := c.Initialize(); err != nil && !isCode(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		return fmt.Errorf("hsm: C_Initialize on %s: %w", m.path, err)
	}
	return nil
}
