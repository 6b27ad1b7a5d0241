package hsm

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/oces-pki/oces/internal/softhsmtest"
)

// TestRSASessionKey makes a one-time RSA-3072 key, checks in the token
// that it is a session object that can only sign and never leave, that
// both signature schemes verify with crypto/rsa, and that it is gone
// after Destroy.
func TestRSASessionKey(t *testing.T) {
	tok := softhsmtest.New(t)
	h := New(nil)
	defer h.Close()
	ctx := context.Background()
	k, err := h.GenerateSessionRSAKey(ctx, tok.TokenURI())
	if err != nil {
		t.Fatal(err)
	}
	pub := k.Public().(*rsa.PublicKey)
	if pub.N.BitLen() != 3072 || pub.E != 65537 {
		t.Fatalf("key of %d bits, exponent %d", pub.N.BitLen(), pub.E)
	}
	want := map[uint]bool{
		pkcs11.CKA_TOKEN: false, pkcs11.CKA_PRIVATE: true, pkcs11.CKA_SENSITIVE: true, pkcs11.CKA_EXTRACTABLE: false,
		pkcs11.CKA_SIGN: true, pkcs11.CKA_DECRYPT: false, pkcs11.CKA_UNWRAP: false, pkcs11.CKA_SIGN_RECOVER: false,
		pkcs11.CKA_DERIVE: false, pkcs11.CKA_NEVER_EXTRACTABLE: true, pkcs11.CKA_ALWAYS_SENSITIVE: true,
	}
	for attr, v := range want {
		if got := boolAttr(t, k, attr); got != v {
			t.Errorf("attribute %#x is %v, want %v", attr, got, v)
		}
	}

	d256 := sha256.Sum256([]byte("document"))
	d512 := sha512.Sum512([]byte("document"))
	for _, tc := range []struct {
		name   string
		digest []byte
		opts   crypto.SignerOpts
	}{
		{"pkcs1v15 sha256", d256[:], crypto.SHA256},
		{"pkcs1v15 sha512", d512[:], crypto.SHA512},
		{"pss sha256", d256[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}},
		{"pss sha512", d512[:], &rsa.PSSOptions{SaltLength: 64, Hash: crypto.SHA512}},
	} {
		sig, err := k.Sign(nil, tc.digest, tc.opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if pss, ok := tc.opts.(*rsa.PSSOptions); ok {
			err = rsa.VerifyPSS(pub, pss.Hash, tc.digest, sig, &rsa.PSSOptions{SaltLength: pss.Hash.Size()})
		} else {
			err = rsa.VerifyPKCS1v15(pub, tc.opts.HashFunc(), tc.digest, sig)
		}
		if err != nil {
			t.Errorf("%s: the signature does not verify: %v", tc.name, err)
		}
	}
	for _, bad := range []struct {
		name   string
		digest []byte
		opts   crypto.SignerOpts
	}{
		{"no hash", d256[:], nil},
		{"digest of the wrong size", d256[:], crypto.SHA512},
		{"sha1", d256[:20], crypto.SHA1},
		{"pss maximal salt", d256[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: crypto.SHA256}},
	} {
		if _, err := k.Sign(nil, bad.digest, bad.opts); err == nil {
			t.Errorf("%s: signed", bad.name)
		}
	}

	if ok, err := h.ObjectExists(ctx, tok.TokenURI(), k.Label()); err != nil || !ok {
		t.Fatalf("key not visible before Destroy: %v %v", ok, err)
	}
	if err := k.Destroy(); err != nil {
		t.Fatal(err)
	}
	if ok, err := h.ObjectExists(ctx, tok.TokenURI(), k.Label()); err != nil || ok {
		t.Fatalf("key still visible after Destroy: %v %v", ok, err)
	}
	if _, err := k.Sign(nil, d256[:], crypto.SHA256); !errors.Is(err, ErrKeyDestroyed) {
		t.Fatalf("Sign after Destroy: %v, want ErrKeyDestroyed", err)
	}
	if err := k.Destroy(); err != nil {
		t.Fatalf("second Destroy: %v", err)
	}
}

// boolAttr reads a boolean attribute of k's private key in the token.
func boolAttr(t *testing.T, k *RSASessionKey, attr uint) bool {
	t.Helper()
	var v []byte
	err := k.t.do(func(st *tokenState) error {
		return st.aux.with(func(s pkcs11.SessionHandle) error {
			attrs, err := st.aux.ctx.GetAttributeValue(s, k.priv, []*pkcs11.Attribute{pkcs11.NewAttribute(attr, nil)})
			if err == nil {
				v = attrs[0].Value
			}
			return err
		})
	})
	if err != nil || len(v) != 1 {
		t.Fatalf("reading attribute %#x: %v (%x)", attr, err, v)
	}
	return v[0] != 0
}

// TestRSASessionKeyValid: a key is valid until destroyed, and dead once
// the token has lost its sessions (which takes session objects with
// them); asking starts the recovery, after which new keys work.
func TestRSASessionKeyValid(t *testing.T) {
	tok := softhsmtest.New(t)
	h := New(nil)
	defer h.Close()
	ctx := context.Background()
	k, err := h.GenerateSessionRSAKey(ctx, tok.TokenURI())
	if err != nil {
		t.Fatal(err)
	}
	if !k.Valid() {
		t.Fatal("a new key is not valid")
	}
	tok.CloseAllSessions(t) // another PKCS#11 user closes every session
	if k.Valid() {
		t.Fatal("a key whose sessions were closed is valid")
	}
	k2, err := h.GenerateSessionRSAKey(ctx, tok.TokenURI())
	if err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if !k2.Valid() || k.Valid() {
		t.Fatalf("after recovery: new key valid %v, old key valid %v", k2.Valid(), k.Valid())
	}
	d := sha256.Sum256([]byte("x"))
	if _, err := k2.Sign(nil, d[:], crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	if err := k2.Destroy(); err != nil || k2.Valid() {
		t.Fatalf("destroyed key: %v, valid %v", err, k2.Valid())
	}
	_ = k.Destroy()
}
