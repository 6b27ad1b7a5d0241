package hsm

import (
	"crypto"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"

	"go.step.sm/crypto/kms/apiv1"
)

// binding is a signer resolved against one generation of a token's
// contexts, or the error that resolving it gave.
type binding struct {
	gen    uint64
	signer crypto.Signer
	err    error
}

// signer is the crypto.Signer handed out by HSM.Signer. It stays valid
// across token recoveries: each recovery rebinds it to a freshly found key
// handle, and Sign reads the current binding with one atomic load.
type signer struct {
	t   *token
	ref keyRef
	pub crypto.PublicKey
	cur atomic.Pointer[binding]
}

var _ crypto.Signer = (*signer)(nil)

// Public returns the public key, fixed when the key was first found.
func (s *signer) Public() crypto.PublicKey { return s.pub }

// Sign signs digest with the private key in the token. A failure caused by
// lost sessions, a lost login or stale handles triggers one token recovery
// and one retry.
func (s *signer) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	b := s.cur.Load()
	if b.err != nil {
		if b = s.retryBind(b); b.err != nil {
			return nil, b.err
		}
	}
	sig, err := s.signWith(b, rand, digest, opts)
	if err == nil {
		return sig, nil
	}
	if isRecoverable(err) {
		if rerr := s.t.recover(b.gen, err); rerr != nil {
			return nil, fmt.Errorf("hsm: signing with key %s: %w", s.ref.name(), rerr)
		}
	}
	next := s.cur.Load()
	if next == b { // not recovered, by us or by a concurrent caller
		return nil, fmt.Errorf("hsm: signing with key %s: %w", s.ref.name(), err)
	}
	if next.err != nil {
		return nil, next.err
	}
	if sig, err = s.signWith(next, rand, digest, opts); err != nil {
		return nil, fmt.Errorf("hsm: signing with key %s after recovering the token: %w", s.ref.name(), err)
	}
	return sig, nil
}

// signWith signs with binding b while holding the module's lock shared. A
// binding of an older generation than the token's current state is not
// used (errStale): its sessions may have been closed, or handed to another
// context, by the reopen that replaced it.
func (s *signer) signWith(b *binding, rand io.Reader, digest []byte, opts crypto.SignerOpts) (sig []byte, err error) {
	_, err = s.t.run(func(st *tokenState) error {
		if st.gen != b.gen {
			return errStale
		}
		sig, err = b.signer.Sign(rand, digest, opts)
		return err
	})
	return sig, err
}

// retryBind tries again to find the key after a recovery could not. On a
// state from an earlier epoch of the module it reopens the token instead.
func (s *signer) retryBind(b *binding) *binding {
	s.t.mu.Lock()
	if cur := s.cur.Load(); cur != b {
		s.t.mu.Unlock()
		return cur
	}
	s.t.mod.mu.RLock()
	st := s.t.state.Load()
	stale := st.epoch != s.t.mod.epoch.Load()
	if !stale {
		s.rebind(st)
	}
	s.t.mod.mu.RUnlock()
	s.t.mu.Unlock()
	if stale {
		if err := s.t.recover(st.gen, errStale); err != nil {
			return &binding{gen: st.gen, err: fmt.Errorf("hsm: signing with key %s: %w", s.ref.name(), err)}
		}
	}
	return s.cur.Load()
}

// rebind resolves the key against st; the caller holds t.mu and the
// module's lock. A key whose public key changed (a different token under
// the same label) is refused.
func (s *signer) rebind(st *tokenState) {
	b := bind(st, s.ref)
	if b.err == nil && !publicKeyEqual(b.signer.Public(), s.pub) {
		b = &binding{gen: st.gen, err: fmt.Errorf(
			"hsm: key %s has a different public key than when it was loaded; the token was replaced, check it and restart", s.ref.name())}
	}
	s.cur.Store(b)
}

func publicKeyEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// bind looks up the private key ref names in st: one object search.
func bind(st *tokenState, ref keyRef) *binding {
	sg, err := st.kms.CreateSigner(&apiv1.CreateSignerRequest{SigningKey: stepKeyURI(ref.id, ref.label)})
	switch {
	case errors.Is(err, apiv1.NotFoundError{}):
		err = fmt.Errorf("%w: no private key %s (with its public key); check object= and id= in the key uri, or generate the key", ErrKeyNotFound, ref.name())
	case err != nil:
		err = fmt.Errorf("hsm: finding key %s: %w", ref.name(), err)
	}
	return &binding{gen: st.gen, signer: sg, err: err}
}

// newSigner finds the key and registers a signer for recovery.
func (t *token) newSigner(ref keyRef) (*signer, error) {
	for range 3 {
		var b *binding
		err := t.do(func(st *tokenState) error {
			b = bind(st, ref)
			return b.err
		})
		if errors.Is(err, ErrKeyNotFound) {
			// A token that lost its login hides private keys: make sure
			// "not found" is not that (recoverable) case.
			if lerr := t.checkLogin(); lerr != nil {
				return nil, lerr
			}
			if t.state.Load().gen != b.gen { // the login was back only after a reopen: look again
				continue
			}
		}
		if err != nil {
			return nil, err
		}
		t.mu.Lock()
		if t.state.Load().gen != b.gen { // a recovery ran meanwhile: find again
			t.mu.Unlock()
			continue
		}
		s := &signer{t: t, ref: ref, pub: b.signer.Public()}
		s.cur.Store(b)
		t.signers = append(t.signers, s)
		t.mu.Unlock()
		return s, nil
	}
	return nil, fmt.Errorf("hsm: finding key %s: token %q keeps being reopened; check the HSM", ref.name(), ref.token)
}

// forget drops a signer that lost a race to be cached.
func (t *token) forget(s *signer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.signers = slices.DeleteFunc(t.signers, func(x *signer) bool { return x == s })
}
