package hsm

import (
	"context"
	"crypto"
	"crypto/rsa"
	"fmt"
	"io"
	"math/big"

	"github.com/miekg/pkcs11"
)

// RSASessionKey is an RSA-3072 key pair that exists only as session
// objects (CKA_TOKEN false), the RSA twin of SessionKey: never written to
// the token's storage, gone if the process dies, destroyed after its one
// use. The private key can sign and do nothing else (CKA_SIGN only: no
// decrypt, unwrap, sign-recover or derive). An RSA-3072 key takes a
// fraction of a second to make, so callers make these ahead of time.
// Sign takes PKCS#1 v1.5 (RFC 8017 section 8.2) or, with *rsa.PSSOptions,
// RSASSA-PSS (section 8.1) with the salt as long as the hash.
type RSASessionKey struct {
	sessionObjects
	pub *rsa.PublicKey
}

var _ crypto.Signer = (*RSASessionKey)(nil)

// sessionRSABits is the size of the one-time RSA keys.
const sessionRSABits = 3072

// GenerateSessionRSAKey creates an RSA-3072 key pair (public exponent
// 65537) as session objects in the token the URI names (object= is
// ignored; the label is random). The private key is CKA_PRIVATE,
// CKA_SENSITIVE, not CKA_EXTRACTABLE, and CKA_SIGN only.
func (h *HSM) GenerateSessionRSAKey(ctx context.Context, tokenURI string) (*RSASessionKey, error) {
	k := &RSASessionKey{}
	ref, id, err := k.open(ctx, h, tokenURI, "session-rsa-")
	if err != nil {
		return nil, err
	}
	var n, e []byte
	err = k.generate(func(aux *rawToken) (pub, priv pkcs11.ObjectHandle, err error) {
		pub, priv, n, e, err = aux.generateSessionRSA(id, k.label)
		return pub, priv, err
	})
	if err != nil {
		return nil, fmt.Errorf("hsm: generating an RSA session key in token %q: %w", ref.token, err)
	}
	exp := new(big.Int).SetBytes(e)
	mod := new(big.Int).SetBytes(n)
	if exp.Cmp(big.NewInt(65537)) != 0 || mod.BitLen() != sessionRSABits {
		_ = k.Destroy()
		return nil, fmt.Errorf("hsm: the token made an RSA key of %d bits, exponent %s; want %d bits, 65537", mod.BitLen(), exp, sessionRSABits)
	}
	k.pub = &rsa.PublicKey{N: mod, E: 65537}
	return k, nil
}

// Public returns the RSA public key.
func (k *RSASessionKey) Public() crypto.PublicKey { return k.pub }

// Sign signs a SHA-256, SHA-384 or SHA-512 digest: CKM_RSA_PKCS over the
// DigestInfo, or CKM_RSA_PKCS_PSS when opts is *rsa.PSSOptions.
func (k *RSASessionKey) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil {
		return nil, fmt.Errorf("hsm: signing with session key %s: a hash is required", k.label)
	}
	h := opts.HashFunc()
	prefix, ok := digestInfoPrefix[h]
	if !ok || len(digest) != h.Size() {
		return nil, fmt.Errorf("hsm: signing with session key %s: %d-byte digest of %v; SHA-256, -384 or -512 only", k.label, len(digest), h)
	}
	mech := pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil)
	data := append(append([]byte(nil), prefix...), digest...)
	if pss, isPSS := opts.(*rsa.PSSOptions); isPSS {
		if pss.SaltLength != rsa.PSSSaltLengthEqualsHash && pss.SaltLength != h.Size() {
			return nil, fmt.Errorf("hsm: signing with session key %s: PSS salt length %d; only the hash length", k.label, pss.SaltLength)
		}
		mech = pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_PSS, pkcs11.NewPSSParams(pssParams[h][0], pssParams[h][1], uint(h.Size())))
		data = digest
	}
	return k.sign(func(aux *rawToken, priv pkcs11.ObjectHandle) ([]byte, error) {
		return aux.signMech(priv, mech, data)
	})
}

// digestInfoPrefix is the DER DigestInfo before the digest (RFC 8017
// section 9.2, note 1).
var digestInfoPrefix = map[crypto.Hash][]byte{
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

// pssParams are CK_RSA_PKCS_PSS_PARAMS' hashAlg and mgf per hash.
var pssParams = map[crypto.Hash][2]uint{
	crypto.SHA256: {pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256},
	crypto.SHA384: {pkcs11.CKM_SHA384, pkcs11.CKG_MGF1_SHA384},
	crypto.SHA512: {pkcs11.CKM_SHA512, pkcs11.CKG_MGF1_SHA512},
}

// generateSessionRSA makes an RSA-3072 key pair of session objects that
// can only sign, and returns the handles, the modulus and the exponent.
func (r *rawToken) generateSessionRSA(id []byte, label string) (pub, priv pkcs11.ObjectHandle, n, e []byte, err error) {
	pubTmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, sessionRSABits),
		pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{0x01, 0x00, 0x01}),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}
	privTmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN_RECOVER, false),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil)}
	err = r.with(func(s pkcs11.SessionHandle) error {
		var err error
		pub, priv, err = r.ctx.GenerateKeyPair(s, mech, pubTmpl, privTmpl)
		if err != nil {
			return err
		}
		attrs, err := r.ctx.GetAttributeValue(s, pub, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, nil), pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, nil)})
		if err != nil {
			_ = r.ctx.DestroyObject(s, priv)
			_ = r.ctx.DestroyObject(s, pub)
			return err
		}
		n, e = attrs[0].Value, attrs[1].Value
		return nil
	})
	return pub, priv, n, e, err
}

// signMech runs a single-part C_Sign with a mechanism that may carry
// parameters (signOnce takes a bare mechanism number).
func (r *rawToken) signMech(key pkcs11.ObjectHandle, mech *pkcs11.Mechanism, data []byte) (sig []byte, err error) {
	err = r.with(func(s pkcs11.SessionHandle) error {
		if err := r.ctx.SignInit(s, []*pkcs11.Mechanism{mech}, key); err != nil {
			return err
		}
		sig, err = r.ctx.Sign(s, data)
		return err
	})
	return sig, err
}
