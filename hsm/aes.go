package hsm

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// AES-GCM sealing of small secrets (a TOTP seed, say) under an AES-256 key
// that never leaves the token: CKM_AES_GCM (PKCS#11 v2.40 section 2.11.8,
// NIST SP 800-38D) with a random 96-bit IV and a 128-bit tag.
const (
	gcmIVLen  = 12
	gcmTagLen = 16
)

// GenerateAESKey creates an AES-256 key for Seal and Open in the token
// (CKA_SENSITIVE true, CKA_EXTRACTABLE false, CKA_TOKEN true, encrypt and
// decrypt only). It fails with ErrKeyExists if the label or id is taken.
func (h *HSM) GenerateAESKey(ctx context.Context, keyURI string) error {
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
	template := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, false),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, ref.label),
	}
	err = t.create(id, ref.label, func(st *tokenState) error {
		return st.aux.generateKey(pkcs11.CKM_AES_KEY_GEN, template)
	})
	if err != nil {
		return err
	}
	h.logger.Info("hsm: generated AES key", "key", ref.label, "token", ref.token)
	return nil
}

// Seal encrypts plaintext with AES-256-GCM under the key the URI names,
// authenticating aad too, and returns IV || ciphertext || tag.
func (h *HSM) Seal(ctx context.Context, keyURI string, plaintext, aad []byte) ([]byte, error) {
	iv := make([]byte, gcmIVLen)
	if _, err := rand.Read(iv); err != nil {
		return nil, fmt.Errorf("hsm: drawing an IV: %w", err)
	}
	out, err := h.gcm(ctx, keyURI, iv, aad, plaintext, true)
	if err != nil {
		return nil, err
	}
	return append(iv, out...), nil
}

// Open decrypts what Seal returned; it fails if sealed or aad was changed.
func (h *HSM) Open(ctx context.Context, keyURI string, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < gcmIVLen+gcmTagLen {
		return nil, errors.New("hsm: sealed data too short")
	}
	return h.gcm(ctx, keyURI, sealed[:gcmIVLen], aad, sealed[gcmIVLen:], false)
}

func (h *HSM) gcm(ctx context.Context, keyURI string, iv, aad, in []byte, encrypt bool) ([]byte, error) {
	return h.withSecret(ctx, keyURI, "AES-GCM", func(aux *rawToken, key pkcs11.ObjectHandle) ([]byte, error) {
		return aux.gcm(key, iv, aad, in, encrypt)
	})
}

// generateKey runs C_GenerateKey with mech and template.
func (r *rawToken) generateKey(mech uint, template []*pkcs11.Attribute) error {
	return r.with(func(s pkcs11.SessionHandle) error {
		_, err := r.ctx.GenerateKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, template)
		return err
	})
}

// gcm runs a single-part CKM_AES_GCM encryption or decryption.
func (r *rawToken) gcm(key pkcs11.ObjectHandle, iv, aad, in []byte, encrypt bool) (out []byte, err error) {
	params := pkcs11.NewGCMParams(iv, aad, 8*gcmTagLen)
	defer params.Free()
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}
	err = r.with(func(s pkcs11.SessionHandle) error {
		if encrypt {
			if err := r.ctx.EncryptInit(s, mech, key); err != nil {
				return err
			}
			out, err = r.ctx.Encrypt(s, in)
			return err
		}
		if err := r.ctx.DecryptInit(s, mech, key); err != nil {
			return err
		}
		out, err = r.ctx.Decrypt(s, in)
		return err
	})
	return out, err
}
