package hsm_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/softhsmtest"
)

func TestWrappedKey(t *testing.T) {
	so := softhsmtest.NewSOToken(t, "wrap")
	tokenURI, soPIN, c, slot := so.URI, so.SOPIN, so.Ctx, so.Slot
	wrapURI := strings.Replace(tokenURI, "?", ";object=wrap?", 1)
	h := hsm.New(nil)
	defer h.Close()
	ctx := context.Background()
	if err := h.GenerateWrappingKey(ctx, wrapURI, "wrong-so-pin"); err == nil {
		t.Fatal("a wrong SO PIN made a wrapping key")
	}
	if err := h.GenerateWrappingKey(ctx, wrapURI, soPIN); err != nil {
		t.Fatal(err)
	}
	key, wrapped, err := h.GenerateWrappedKey(ctx, wrapURI)
	if err != nil {
		t.Fatal(err)
	}
	pub := key.Public().(*ecdsa.PublicKey)
	// The key may leave the token only under a trusted key: an ordinary
	// AES key of the user's with CKA_WRAP is refused.
	s, err := c.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseSession(s)
	untrusted, err := c.GenerateKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY), pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32), pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false), pkcs11.NewAttribute(pkcs11.CKA_WRAP, true),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.FindObjectsInit(s, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, key.Label()), pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)}); err != nil {
		t.Fatal(err)
	}
	hs, _, err := c.FindObjects(s, 1)
	_ = c.FindObjectsFinal(s)
	if err != nil || len(hs) != 1 {
		t.Fatalf("finding the session key: %v %v", hs, err)
	}
	if _, err := c.WrapKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil)}, untrusted, hs[0]); err == nil {
		t.Fatal("the citizen key was wrapped under an untrusted key")
	}
	if err := key.Destroy(); err != nil {
		t.Fatal(err)
	}

	// Unwrapped, it signs, as a session object that is gone after Destroy.
	digest := sha256.Sum256([]byte("aftale"))
	for range 2 {
		k, err := h.UnwrapKey(ctx, wrapURI, wrapped, pub)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := k.Sign(nil, digest[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if !ecdsa.VerifyASN1(pub, digest[:], sig) {
			t.Fatal("the unwrapped key's signature does not verify")
		}
		if err := k.Destroy(); err != nil {
			t.Fatal(err)
		}
		if ok, err := h.ObjectExists(ctx, tokenURI, k.Label()); err != nil || ok {
			t.Fatalf("unwrapped key left in the token: %v %v", ok, err)
		}
	}
	wrapped[len(wrapped)-1] ^= 1
	if _, err := h.UnwrapKey(ctx, wrapURI, wrapped, pub); err == nil {
		t.Fatal("a damaged wrapped key was unwrapped")
	}
}
