package hsm

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// Wrapped keys: a token cannot hold millions of key objects, so a
// long-term key per citizen is kept outside it, wrapped (PKCS#11 v2.40
// section 2.14.4, CKM_AES_KEY_WRAP_PAD, RFC 5649) under an AES-256 wrapping
// key that never leaves the token, and unwrapped as a session object only
// for the moment of a signature. The citizen keys are CKA_WRAP_WITH_TRUSTED,
// so the token lets them out only wrapped under a CKA_TRUSTED key, and only
// the security officer can mark a key trusted.

// GenerateWrappingKey creates the trusted wrapping key in the token: AES-256,
// CKA_TRUSTED, wrap and unwrap only, sensitive and not extractable. Setting
// CKA_TRUSTED needs the security officer, so this logs in as SO with soPIN:
// run it in a process of its own (a key ceremony) before the token is used
// with the user PIN. PKCS#11 lets the SO create public objects only, so the
// key is CKA_PRIVATE false; it is still sensitive and never leaves the token.
func (h *HSM) GenerateWrappingKey(ctx context.Context, keyURI, soPIN string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ref, id, err := parseNewKeyURI(keyURI)
	if err != nil {
		return err
	}
	mod := moduleFor(ref.module)
	mod.mu.RLock()
	defer mod.mu.RUnlock()
	c := pkcs11.New(ref.module)
	if c == nil {
		return fmt.Errorf("hsm: loading PKCS#11 module %s", ref.module)
	}
	defer c.Destroy() // drops this handle on the library; never C_Finalize
	if err := c.Initialize(); err != nil && !isCode(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		return fmt.Errorf("hsm: C_Initialize on %s: %w", ref.module, err)
	}
	slot, err := findSlot(c, ref.token)
	if err != nil {
		return fmt.Errorf("%w: no token labelled %q", ErrTokenNotFound, ref.token)
	}
	s, err := c.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return fmt.Errorf("hsm: opening a session on token %q: %w", ref.token, err)
	}
	defer func() { _ = c.CloseSession(s) }()
	if err := c.Login(s, pkcs11.CKU_SO, soPIN); err != nil {
		if isCode(err, pkcs11.CKR_USER_ANOTHER_ALREADY_LOGGED_IN) {
			return fmt.Errorf("hsm: the token %q is logged in as user in this process; make the wrapping key in a process of its own: %w", ref.token, err)
		}
		return fmt.Errorf("hsm: logging in to token %q as security officer: %w", ref.token, err)
	}
	defer func() { _ = c.Logout(s) }()
	found, err := findAny(c, s, ref.label)
	if err != nil {
		return err
	}
	if found {
		return fmt.Errorf("%w: token %q already holds an object labelled %q", ErrKeyExists, ref.token, ref.label)
	}
	template := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_TRUSTED, true),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, true),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, false),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, ref.label),
	}
	if _, err := c.GenerateKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, template); err != nil {
		return fmt.Errorf("hsm: generating wrapping key %q in token %q: %w", ref.label, ref.token, err)
	}
	h.logger.Info("hsm: generated trusted wrapping key", "key", ref.label, "token", ref.token)
	return nil
}

func findAny(c *pkcs11.Ctx, s pkcs11.SessionHandle, label string) (bool, error) {
	if err := c.FindObjectsInit(s, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, label)}); err != nil {
		return false, err
	}
	hs, _, err := c.FindObjects(s, 1)
	if ferr := c.FindObjectsFinal(s); err == nil {
		err = ferr
	}
	return len(hs) > 0, err
}

// GenerateWrappedKey makes a P-256 key pair as session objects that may
// leave the token only wrapped under a trusted key, wraps the private key
// under the wrapping key the URI names, and returns the wrapped key and the
// live session key (to sign a certificate request with, say). The caller
// stores the wrapped key and destroys the session key.
func (h *HSM) GenerateWrappedKey(ctx context.Context, wrapKeyURI string) (*SessionKey, []byte, error) {
	r, err := h.secret(wrapKeyURI)
	if err != nil {
		return nil, nil, err
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, nil, fmt.Errorf("hsm: choosing a key id: %w", err)
	}
	k := &SessionKey{sessionObjects: sessionObjects{t: r.t, label: "wrapped-" + hex.EncodeToString(id)}}
	var point, wrapped []byte
	st, err := r.t.run(func(st *tokenState) error {
		if st.aux == nil {
			return errRawClosed
		}
		wk, err := r.handle(st)
		if err != nil {
			return err
		}
		k.gen = st.gen
		if k.pbh, k.priv, point, err = st.aux.generateSessionECWith(id, k.label, true); err != nil {
			return err
		}
		wrapped, err = st.aux.wrap(wk, k.priv)
		return err
	})
	if err != nil {
		if k.priv != 0 {
			_ = k.Destroy()
		}
		if isRecoverable(err) {
			_ = r.t.recover(st.gen, err)
		}
		return nil, nil, fmt.Errorf("hsm: generating a wrapped key under %s: %w", r.ref.name(), err)
	}
	if k.pub, err = parseECPoint(point); err != nil {
		_ = k.Destroy()
		return nil, nil, err
	}
	return k, wrapped, nil
}

// UnwrapKey unwraps a key made by GenerateWrappedKey into a session object
// (sensitive, not extractable, signing only) whose public key is pub. The
// caller destroys it after the signature.
func (h *HSM) UnwrapKey(ctx context.Context, wrapKeyURI string, wrapped []byte, pub *ecdsa.PublicKey) (*SessionKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if pub == nil {
		return nil, errors.New("hsm: unwrapping needs the key's public key")
	}
	r, err := h.secret(wrapKeyURI)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("hsm: choosing a key id: %w", err)
	}
	k := &SessionKey{sessionObjects: sessionObjects{t: r.t, label: "unwrapped-" + hex.EncodeToString(id)}, pub: pub}
	err = r.t.do(func(st *tokenState) error {
		if st.aux == nil {
			return errRawClosed
		}
		wk, err := r.handle(st)
		if err != nil {
			return err
		}
		k.gen = st.gen
		k.priv, err = st.aux.unwrapEC(wk, wrapped, id, k.label)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("hsm: unwrapping a key under %s: %w", r.ref.name(), err)
	}
	return k, nil
}

// wrap wraps key under wk with CKM_AES_KEY_WRAP_PAD.
func (r *rawToken) wrap(wk, key pkcs11.ObjectHandle) (out []byte, err error) {
	err = r.with(func(s pkcs11.SessionHandle) error {
		out, err = r.ctx.WrapKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil)}, wk, key)
		return err
	})
	return out, err
}

// unwrapEC unwraps a P-256 private key as a session object.
func (r *rawToken) unwrapEC(wk pkcs11.ObjectHandle, wrapped, id []byte, label string) (h pkcs11.ObjectHandle, err error) {
	template := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}
	err = r.with(func(s pkcs11.SessionHandle) error {
		h, err = r.ctx.UnwrapKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil)}, wk, wrapped, template)
		return err
	})
	return h, err
}
