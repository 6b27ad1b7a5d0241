package hsm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/miekg/pkcs11"
)

// sessionObjects is what SessionKey and RSASessionKey share: a private key
// (and usually its public key) held as session objects in one token's
// current sessions. After a token reopen (a new generation) the objects
// are gone with the sessions that held them; after Destroy they are gone
// for good. Either way the key refuses to sign.
type sessionObjects struct {
	t     *token
	gen   uint64
	label string

	mu        sync.Mutex
	priv, pbh pkcs11.ObjectHandle
	destroyed bool
}

// open opens the token tokenURI names for objects still to make,
// labelled prefix<random id>, and returns the token's reference and that
// id (CKA_ID).
func (o *sessionObjects) open(ctx context.Context, h *HSM, tokenURI, prefix string) (keyRef, []byte, error) {
	if err := ctx.Err(); err != nil {
		return keyRef{}, nil, err
	}
	ref, err := parseKeyURI(tokenURI, false)
	if err != nil {
		return keyRef{}, nil, err
	}
	t, err := h.token(ref)
	if err != nil {
		return keyRef{}, nil, err
	}
	if _, err := t.withAux(); err != nil {
		return keyRef{}, nil, err
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return keyRef{}, nil, fmt.Errorf("hsm: choosing a session key id: %w", err)
	}
	o.t, o.label = t, prefix+hex.EncodeToString(id)
	return ref, id, nil
}

// generate runs gen in the token's current sessions, recording their
// generation and the handles gen returns; a failure that a reopen cures
// starts the token's recovery.
func (o *sessionObjects) generate(gen func(aux *rawToken) (pub, priv pkcs11.ObjectHandle, err error)) error {
	st, err := o.t.run(func(st *tokenState) error {
		if st.aux == nil {
			return errRawClosed
		}
		o.gen = st.gen
		var gerr error
		o.pbh, o.priv, gerr = gen(st.aux)
		return gerr
	})
	if err != nil && isRecoverable(err) {
		_ = o.t.recover(st.gen, err)
	}
	return err
}

// sign runs sign with the private key, unless the key is destroyed or its
// sessions are gone.
func (o *sessionObjects) sign(sign func(aux *rawToken, priv pkcs11.ObjectHandle) ([]byte, error)) ([]byte, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.destroyed {
		return nil, ErrKeyDestroyed
	}
	var sig []byte
	_, err := o.t.run(func(st *tokenState) error {
		if st.gen != o.gen || st.aux == nil {
			return ErrKeyDestroyed
		}
		var err error
		sig, err = sign(st.aux, o.priv)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("hsm: signing with session key %s: %w", o.label, err)
	}
	return sig, nil
}

// Valid reports whether the key can still sign: not destroyed, made in
// the token's current sessions, and its object still there (one
// C_GetAttributeValue). Session objects die with the sessions, so a key
// made ahead of time is dead once the token lost its sessions or
// restarted; a failure that a reopen cures starts the token's recovery,
// after which keys are made in the new sessions.
func (o *sessionObjects) Valid() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.destroyed {
		return false
	}
	st, err := o.t.run(func(st *tokenState) error {
		if st.gen != o.gen || st.aux == nil {
			return ErrKeyDestroyed
		}
		return st.aux.with(func(s pkcs11.SessionHandle) error {
			_, err := st.aux.ctx.GetAttributeValue(s, o.priv, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_SIGN, nil)})
			return err
		})
	})
	if err != nil && isRecoverable(err) {
		_ = o.t.recover(st.gen, err)
	}
	return err == nil
}

// Label is the key's CKA_LABEL, for logs and for checking that it is gone.
func (o *sessionObjects) Label() string { return o.label }

// Destroy destroys the key's objects. It is safe to call more than once;
// a key whose sessions were ended by a token reopen is gone already and
// Destroy returns nil.
func (o *sessionObjects) Destroy() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.destroyed {
		return nil
	}
	o.destroyed = true
	_, err := o.t.run(func(st *tokenState) error {
		if st.gen != o.gen || st.aux == nil {
			return nil
		}
		objs := []pkcs11.ObjectHandle{o.priv}
		if o.pbh != 0 {
			objs = append(objs, o.pbh)
		}
		return st.aux.destroy(objs...)
	})
	if err != nil {
		return fmt.Errorf("hsm: destroying session key %s: %w", o.label, err)
	}
	return nil
}
