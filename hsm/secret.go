package hsm

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/miekg/pkcs11"
)

// secretRef is a cached HMAC key: its handle, found once per token
// generation.
type secretRef struct {
	t   *token
	ref keyRef
	cur atomic.Pointer[secretBinding]
}

type secretBinding struct {
	gen    uint64
	handle pkcs11.ObjectHandle
}

// GenerateSecret creates a 256-bit generic secret for HMAC-SHA256 in the
// token (CKA_SENSITIVE true, CKA_EXTRACTABLE false, CKA_TOKEN true). The URI
// must name it with object=; it fails with ErrKeyExists if any object with
// that label or id already exists.
func (h *HSM) GenerateSecret(ctx context.Context, keyURI string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ref, id, err := parseNewKeyURI(keyURI)
	if err != nil {
		return err
	}
	t, err := h.token(ref)
	if err != nil {
		return err
	}
	err = t.create(id, ref.label, func(st *tokenState) error {
		return st.aux.generateSecret(id, ref.label)
	})
	if err != nil {
		return err
	}
	h.logger.Info("hsm: generated secret", "key", ref.label, "token", ref.token)
	return nil
}

// MAC computes HMAC-SHA256 of data inside the token with the secret the URI
// names. The key handle is looked up once and cached.
func (h *HSM) MAC(ctx context.Context, keyURI string, data []byte) ([]byte, error) {
	return h.withSecret(ctx, keyURI, "computing HMAC", func(aux *rawToken, key pkcs11.ObjectHandle) ([]byte, error) {
		return aux.hmacSHA256(key, data)
	})
}

// withSecret runs op with the raw token and the cached handle of the
// secret keyURI names, through the token's recovery (a lost session or
// handle is reopened and op retried).
func (h *HSM) withSecret(ctx context.Context, keyURI, what string, op func(*rawToken, pkcs11.ObjectHandle) ([]byte, error)) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r, err := h.secret(keyURI)
	if err != nil {
		return nil, err
	}
	var out []byte
	err = r.t.do(func(st *tokenState) error {
		if st.aux == nil {
			return errRawClosed
		}
		key, err := r.handle(st)
		if err != nil {
			return err
		}
		out, err = op(st.aux, key)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("hsm: %s with key %s: %w", what, r.ref.name(), err)
	}
	return out, nil
}

// secret returns the cached secretRef for keyURI.
func (h *HSM) secret(keyURI string) (*secretRef, error) {
	h.mu.Lock()
	r, ok := h.secrets[keyURI]
	h.mu.Unlock()
	if ok {
		return r, nil
	}
	ref, err := parseKeyURI(keyURI, true)
	if err != nil {
		return nil, err
	}
	t, err := h.token(ref)
	if err != nil {
		return nil, err
	}
	if _, err := t.withAux(); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if prev, ok := h.secrets[keyURI]; ok {
		return prev, nil
	}
	r = &secretRef{t: t, ref: ref}
	h.secrets[keyURI] = r
	return r, nil
}

// handle returns the key handle valid for st, searching the token only
// when st is a newer generation than the cached handle.
func (r *secretRef) handle(st *tokenState) (pkcs11.ObjectHandle, error) {
	if b := r.cur.Load(); b != nil && b.gen == st.gen {
		return b.handle, nil
	}
	h, ok, err := st.aux.findSecret(r.ref.id, r.ref.label)
	if err != nil {
		return 0, err
	}
	if !ok && r.cur.Load() != nil {
		return 0, fmt.Errorf("%w: secret key %s", errKeyVanished, r.ref.name())
	}
	if !ok {
		return 0, fmt.Errorf("%w: no secret key %s; check object= and id= in the key uri, or generate it", ErrKeyNotFound, r.ref.name())
	}
	r.cur.Store(&secretBinding{gen: st.gen, handle: h})
	return h, nil
}
