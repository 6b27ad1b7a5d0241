package hsm

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/miekg/pkcs11"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// ErrKeyDestroyed is returned by a SessionKey used after Destroy, or after
// the token was reopened (which ends the sessions that held it).
var ErrKeyDestroyed = errors.New("hsm: session key destroyed")

// oidP256 is the DER of the namedCurve prime256v1 (RFC 5480 section 2.1.1.1),
// the CKA_EC_PARAMS of a P-256 key.
var oidP256 = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}

// SessionKey is a P-256 key pair that exists only as session objects
// (CKA_TOKEN false) in the token: it is never written to the token's
// storage, vanishes if the process dies, and is destroyed (C_DestroyObject)
// after its one use. It is the per-signature key of the one-time signing
// model. Sign refuses after Destroy.
type SessionKey struct {
	sessionObjects
	pub *ecdsa.PublicKey
}

var _ crypto.Signer = (*SessionKey)(nil)

// GenerateSessionKey creates a P-256 key pair as session objects in the
// token the URI names (object= is ignored; the label is random). The private
// key is CKA_SENSITIVE, not CKA_EXTRACTABLE and CKA_PRIVATE.
func (h *HSM) GenerateSessionKey(ctx context.Context, tokenURI string) (*SessionKey, error) {
	k := &SessionKey{}
	ref, id, err := k.open(ctx, h, tokenURI, "session-")
	if err != nil {
		return nil, err
	}
	var point []byte
	err = k.generate(func(aux *rawToken) (pub, priv pkcs11.ObjectHandle, err error) {
		pub, priv, point, err = aux.generateSessionECWith(id, k.label, false)
		return pub, priv, err
	})
	if err != nil {
		return nil, fmt.Errorf("hsm: generating a session key in token %q: %w", ref.token, err)
	}
	if k.pub, err = parseECPoint(point); err != nil {
		_ = k.Destroy()
		return nil, err
	}
	return k, nil
}

// Public returns the P-256 public key.
func (k *SessionKey) Public() crypto.PublicKey { return k.pub }

// Sign signs a SHA-256 digest with CKM_ECDSA and returns the ASN.1
// Ecdsa-Sig-Value that crypto.Signer promises.
func (k *SessionKey) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts != nil && opts.HashFunc() != 0 && len(digest) != opts.HashFunc().Size() {
		return nil, fmt.Errorf("hsm: digest is %d bytes, not a %v digest", len(digest), opts.HashFunc())
	}
	raw, err := k.sign(func(aux *rawToken, priv pkcs11.ObjectHandle) ([]byte, error) {
		return aux.signOnce(priv, pkcs11.CKM_ECDSA, digest)
	})
	if err != nil {
		return nil, err
	}
	return ecdsaSigDER(raw)
}

// ObjectExists reports whether any object (token or session, of any class)
// labelled label is visible in the token the URI names.
func (h *HSM) ObjectExists(ctx context.Context, tokenURI, label string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	ref, err := parseKeyURI(tokenURI, false)
	if err != nil {
		return false, err
	}
	t, err := h.token(ref)
	if err != nil {
		return false, err
	}
	if _, err := t.withAux(); err != nil {
		return false, err
	}
	var found bool
	err = t.do(func(st *tokenState) (err error) {
		if st.aux == nil {
			return errRawClosed
		}
		found, err = st.aux.exists(nil, label)
		return err
	})
	return found, err
}

// generateSessionECWith makes a P-256 key pair of session objects and
// returns the handles and the public point (CKA_EC_POINT, a DER OCTET
// STRING). A wrappable key is extractable, but only under a trusted key.
func (r *rawToken) generateSessionECWith(id []byte, label string, wrappable bool) (pub, priv pkcs11.ObjectHandle, point []byte, err error) {
	pubTmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, oidP256),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}
	privTmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, wrappable),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}
	if wrappable {
		privTmpl = append(privTmpl, pkcs11.NewAttribute(pkcs11.CKA_WRAP_WITH_TRUSTED, true))
	}
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil)}
	err = r.with(func(s pkcs11.SessionHandle) error {
		var err error
		pub, priv, err = r.ctx.GenerateKeyPair(s, mech, pubTmpl, privTmpl)
		if err != nil {
			return err
		}
		attrs, err := r.ctx.GetAttributeValue(s, pub, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
		if err != nil {
			_ = r.ctx.DestroyObject(s, priv)
			_ = r.ctx.DestroyObject(s, pub)
			return err
		}
		point = attrs[0].Value
		return nil
	})
	return pub, priv, point, err
}

// signOnce runs a single-part C_Sign with mechanism mech.
func (r *rawToken) signOnce(key pkcs11.ObjectHandle, mech uint, data []byte) (sig []byte, err error) {
	err = r.with(func(s pkcs11.SessionHandle) error {
		if err := r.ctx.SignInit(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, key); err != nil {
			return err
		}
		sig, err = r.ctx.Sign(s, data)
		return err
	})
	return sig, err
}

// destroy destroys the objects; every one is attempted.
func (r *rawToken) destroy(objs ...pkcs11.ObjectHandle) error {
	return r.with(func(s pkcs11.SessionHandle) error {
		var errs []error
		for _, o := range objs {
			if err := r.ctx.DestroyObject(s, o); err != nil && !isCode(err, pkcs11.CKR_OBJECT_HANDLE_INVALID) {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
}

// parseECPoint decodes CKA_EC_POINT: an OCTET STRING holding the
// uncompressed point (PKCS#11 v2.40 section 2.3.3; SoftHSM wraps it).
func parseECPoint(v []byte) (*ecdsa.PublicKey, error) {
	var inner []byte
	if rest, err := asn1.Unmarshal(v, &inner); err == nil && len(rest) == 0 {
		v = inner
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), v)
	if err != nil {
		return nil, fmt.Errorf("hsm: decoding the session key's public point: %w", err)
	}
	return pub, nil
}

// ecdsaSigDER turns PKCS#11's r||s into an ASN.1 Ecdsa-Sig-Value.
func ecdsaSigDER(raw []byte) ([]byte, error) {
	if len(raw) == 0 || len(raw)%2 != 0 {
		return nil, fmt.Errorf("hsm: ECDSA signature of %d bytes from the token", len(raw))
	}
	n := len(raw) / 2
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(new(big.Int).SetBytes(raw[:n]))
		b.AddASN1BigInt(new(big.Int).SetBytes(raw[n:]))
	})
	return b.Bytes()
}
