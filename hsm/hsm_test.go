package hsm_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/softhsmtest"
)

func newHSM(t *testing.T) *hsm.HSM {
	t.Helper()
	h := hsm.New(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func digest(msg string) []byte {
	d := sha256.Sum256([]byte(msg))
	return d[:]
}

// signAndVerify signs with every scheme the key supports and verifies with
// the public key.
func signAndVerify(t *testing.T, s crypto.Signer) {
	t.Helper()
	d := digest("to be signed")
	switch pub := s.Public().(type) {
	case *rsa.PublicKey:
		sig, err := s.Sign(rand.Reader, d, crypto.SHA256)
		if err != nil {
			t.Fatalf("PKCS#1 v1.5 sign: %v", err)
		}
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, d, sig); err != nil {
			t.Fatalf("PKCS#1 v1.5 verify: %v", err)
		}
		pss := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
		sig, err = s.Sign(rand.Reader, d, pss)
		if err != nil {
			t.Fatalf("PSS sign: %v", err)
		}
		if err := rsa.VerifyPSS(pub, crypto.SHA256, d, sig, pss); err != nil {
			t.Fatalf("PSS verify: %v", err)
		}
	case *ecdsa.PublicKey:
		sig, err := s.Sign(rand.Reader, d, crypto.SHA256)
		if err != nil {
			t.Fatalf("ECDSA sign: %v", err)
		}
		if !ecdsa.VerifyASN1(pub, d, sig) {
			t.Fatal("ECDSA verify failed")
		}
	default:
		t.Fatalf("unexpected public key %T", pub)
	}
}

// boolAttrs reads boolean attributes of the object of class with label,
// through a PKCS#11 handle independent of the hsm package.
func boolAttrs(t *testing.T, tok *softhsmtest.Token, class uint, label string, types ...uint) map[uint]bool {
	t.Helper()
	got := map[uint]bool{}
	tok.WithSession(t, func(ctx *pkcs11.Ctx, s pkcs11.SessionHandle) {
		tmpl := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class), pkcs11.NewAttribute(pkcs11.CKA_LABEL, label)}
		if err := ctx.FindObjectsInit(s, tmpl); err != nil {
			t.Fatal(err)
		}
		hs, _, err := ctx.FindObjects(s, 2)
		_ = ctx.FindObjectsFinal(s)
		if err != nil || len(hs) != 1 {
			t.Fatalf("finding %q: %d objects, %v", label, len(hs), err)
		}
		var q []*pkcs11.Attribute
		for _, typ := range types {
			q = append(q, pkcs11.NewAttribute(typ, nil))
		}
		attrs, err := ctx.GetAttributeValue(s, hs[0], q)
		if err != nil {
			t.Fatalf("C_GetAttributeValue: %v", err)
		}
		for _, a := range attrs {
			got[a.Type] = len(a.Value) == 1 && a.Value[0] != 0
		}
	})
	return got
}

func checkProtected(t *testing.T, tok *softhsmtest.Token, class uint, label string) {
	t.Helper()
	want := map[uint]bool{
		pkcs11.CKA_TOKEN: true, pkcs11.CKA_SENSITIVE: true, pkcs11.CKA_EXTRACTABLE: false,
		pkcs11.CKA_NEVER_EXTRACTABLE: true, pkcs11.CKA_ALWAYS_SENSITIVE: true,
	}
	var types []uint
	for typ := range want {
		types = append(types, typ)
	}
	got := boolAttrs(t, tok, class, label, types...)
	for typ, v := range want {
		if got[typ] != v {
			t.Errorf("attribute 0x%x of %q = %v, want %v", typ, label, got[typ], v)
		}
	}
}

func TestGenerateKeySignVerify(t *testing.T) {
	t.Parallel()
	for _, alg := range []hsm.KeyAlgorithm{hsm.RSA2048, hsm.RSA3072, hsm.RSA4096, hsm.ECP256, hsm.ECP384} {
		t.Run(alg.String(), func(t *testing.T) {
			t.Parallel()
			tok := softhsmtest.New(t)
			h := newHSM(t)
			s, err := h.GenerateKey(context.Background(), tok.KeyURI("ca-key"), alg)
			if err != nil {
				t.Fatal(err)
			}
			signAndVerify(t, s)
			checkProtected(t, tok, pkcs11.CKO_PRIVATE_KEY, "ca-key")
			again, err := h.Signer(context.Background(), tok.KeyURI("ca-key"))
			if err != nil || again != s {
				t.Fatalf("Signer after GenerateKey = %v, %v; want the cached signer", again, err)
			}
		})
	}
}

func TestGenerateKeyRefusesExisting(t *testing.T) {
	t.Parallel()
	tok := softhsmtest.New(t)
	ctx := context.Background()
	h := newHSM(t)
	orig, err := h.GenerateKey(ctx, tok.KeyURI("root"), hsm.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []hsm.KeyAlgorithm{hsm.ECP256, hsm.RSA2048} {
		if _, err := h.GenerateKey(ctx, tok.KeyURI("root"), alg); !errors.Is(err, hsm.ErrKeyExists) {
			t.Fatalf("GenerateKey over existing label (%v) = %v, want ErrKeyExists", alg, err)
		}
	}
	if err := h.GenerateSecret(ctx, tok.KeyURI("root")); !errors.Is(err, hsm.ErrKeyExists) {
		t.Fatalf("GenerateSecret over existing key pair = %v, want ErrKeyExists", err)
	}
	// A fresh HSM finds the original key, unchanged.
	s, err := newHSM(t).Signer(ctx, tok.KeyURI("root"))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Public().(*ecdsa.PublicKey).Equal(orig.Public()) {
		t.Fatal("the original key was replaced")
	}
	signAndVerify(t, s)
}

func TestBadURIs(t *testing.T) {
	t.Parallel()
	tok := softhsmtest.New(t)
	h := newHSM(t)
	if _, err := h.GenerateKey(context.Background(), tok.KeyURI("present"), hsm.ECP256); err != nil {
		t.Fatal(err)
	}
	base := "pkcs11:module-path=" + tok.Module() + ";token=" + tok.Label()
	tests := []struct {
		name    string
		uri     string
		is      error
		message string
	}{
		{"pin-value refused", base + ";object=present?pin-value=1234", hsm.ErrPINValue, "pin-source"},
		{"missing pin-source file", base + ";object=present?pin-source=" + filepath.Join(t.TempDir(), "nope"), nil, "reading the PIN"},
		{"unknown token", "pkcs11:module-path=" + tok.Module() + ";token=no-such-token;object=x?pin-source=" + tok.PINFile(), hsm.ErrTokenNotFound, "softhsm2-util --init-token"},
		{"unknown object", base + ";object=absent?pin-source=" + tok.PINFile(), hsm.ErrKeyNotFound, `"absent"`},
		{"no token", "pkcs11:object=x?pin-source=" + tok.PINFile(), nil, "token=<label>"},
		{"no object", base + "?pin-source=" + tok.PINFile(), nil, "object=<label>"},
		{"not pkcs11", "file:/etc/key.pem", nil, "RFC 7512"},
		{"bad max-sessions", base + ";object=present;max-sessions=1?pin-source=" + tok.PINFile(), nil, "max-sessions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newHSM(t).Signer(context.Background(), tc.uri) // fresh: the PIN is read when a token opens
			if err == nil {
				t.Fatal("Signer succeeded")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if !strings.HasPrefix(err.Error(), "hsm: ") || !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error %q lacks prefix or %q", err, tc.message)
			}
			if strings.Contains(err.Error(), "1234") {
				t.Errorf("error %q leaks the PIN", err)
			}
		})
	}
}

func TestPINFromEnvironment(t *testing.T) {
	tok := softhsmtest.New(t)
	t.Setenv(hsm.EnvPIN, tok.PIN())
	uri := "pkcs11:module-path=" + tok.Module() + ";token=" + tok.Label() + ";object=env-key"
	s, err := newHSM(t).GenerateKey(context.Background(), uri, hsm.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, s)
	t.Setenv(hsm.EnvPIN, "")
	if _, err := newHSM(t).Signer(context.Background(), uri); err == nil || !strings.Contains(err.Error(), hsm.EnvPIN) {
		t.Fatalf("Signer without PIN = %v, want an error naming %s", err, hsm.EnvPIN)
	}
}

func TestPINSourceFilePrefix(t *testing.T) {
	t.Parallel()
	tok := softhsmtest.New(t)
	h := newHSM(t)
	if _, err := h.GenerateKey(context.Background(), tok.KeyURI("k"), hsm.ECP256); err != nil {
		t.Fatal(err)
	}
	uri := strings.Replace(tok.KeyURI("k"), "pin-source=", "pin-source=file:", 1)
	if _, err := newHSM(t).Signer(context.Background(), uri); err != nil {
		t.Fatalf("pin-source=file:... : %v", err)
	}
}

func TestMAC(t *testing.T) {
	t.Parallel()
	tok := softhsmtest.New(t)
	ctx := context.Background()
	h := newHSM(t)
	for _, label := range []string{"cpr-1", "cpr-2"} {
		if err := h.GenerateSecret(ctx, tok.KeyURI(label)); err != nil {
			t.Fatal(err)
		}
		checkProtected(t, tok, pkcs11.CKO_SECRET_KEY, label)
	}
	if err := h.GenerateSecret(ctx, tok.KeyURI("cpr-1")); !errors.Is(err, hsm.ErrKeyExists) {
		t.Fatalf("GenerateSecret over existing = %v, want ErrKeyExists", err)
	}
	if _, err := h.GenerateKey(ctx, tok.KeyURI("cpr-1"), hsm.ECP256); !errors.Is(err, hsm.ErrKeyExists) {
		t.Fatalf("GenerateKey over existing secret = %v, want ErrKeyExists", err)
	}
	a1, err := h.MAC(ctx, tok.KeyURI("cpr-1"), []byte("0101701234"))
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := h.MAC(ctx, tok.KeyURI("cpr-1"), []byte("0101701234"))
	b1, _ := h.MAC(ctx, tok.KeyURI("cpr-2"), []byte("0101701234"))
	c1, _ := h.MAC(ctx, tok.KeyURI("cpr-1"), []byte("0101701235"))
	if len(a1) != 32 || !bytes.Equal(a1, a2) {
		t.Fatalf("MAC not deterministic or not 32 bytes: %x %x", a1, a2)
	}
	if bytes.Equal(a1, b1) || bytes.Equal(a1, c1) {
		t.Fatal("MAC does not depend on key and data")
	}
	// A second HSM agrees: the key is in the token, not in memory.
	if a3, err := newHSM(t).MAC(ctx, tok.KeyURI("cpr-1"), []byte("0101701234")); err != nil || !bytes.Equal(a1, a3) {
		t.Fatalf("MAC from a second HSM = %x, %v", a3, err)
	}
	if _, err := h.MAC(ctx, tok.KeyURI("absent"), nil); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Fatalf("MAC with absent key = %v, want ErrKeyNotFound", err)
	}
}

func TestParseKeyAlgorithm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want hsm.KeyAlgorithm
		ok   bool
	}{
		{"rsa-2048", hsm.RSA2048, true}, {"RSA-3072", hsm.RSA3072, true}, {"rsa-4096", hsm.RSA4096, true},
		{"p-256", hsm.ECP256, true}, {"P-384", hsm.ECP384, true}, {"ecdsa-p256", hsm.ECP256, true},
		{"rsa-1024", 0, false}, {"ed25519", 0, false}, {"", 0, false},
	}
	for _, tc := range tests {
		got, err := hsm.ParseKeyAlgorithm(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseKeyAlgorithm(%q) = %v, %v", tc.in, got, err)
		}
		if tc.ok && got.String() != strings.ToLower(tc.in) && tc.in != "ecdsa-p256" {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
