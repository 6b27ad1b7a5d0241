package hsm_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/softhsmtest"
)

func TestSessionKeyLifecycle(t *testing.T) {
	tok := softhsmtest.New(t)
	h := hsm.New(nil)
	defer h.Close()
	ctx := context.Background()
	k, err := h.GenerateSessionKey(ctx, tok.TokenURI())
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := h.ObjectExists(ctx, tok.TokenURI(), k.Label()); err != nil || !ok {
		t.Fatalf("session key not visible before Destroy: %v %v", ok, err)
	}
	digest := sha256.Sum256([]byte("document"))
	sig, err := k.Sign(nil, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), digest[:], sig) {
		t.Fatal("signature does not verify with the session key's public key")
	}
	// A session object never reaches the token's storage: another process
	// (pkcs11-tool) does not see it even while it exists.
	if out := listObjects(t, tok); strings.Contains(out, k.Label()) {
		t.Fatalf("pkcs11-tool lists the session key:\n%s", out)
	}
	if err := k.Destroy(); err != nil {
		t.Fatal(err)
	}
	if ok, err := h.ObjectExists(ctx, tok.TokenURI(), k.Label()); err != nil || ok {
		t.Fatalf("session key still visible after Destroy: %v %v", ok, err)
	}
	if _, err := k.Sign(nil, digest[:], crypto.SHA256); !errors.Is(err, hsm.ErrKeyDestroyed) {
		t.Fatalf("Sign after Destroy: %v, want ErrKeyDestroyed", err)
	}
	if err := k.Destroy(); err != nil {
		t.Fatalf("second Destroy: %v", err)
	}
}

func listObjects(t *testing.T, tok *softhsmtest.Token) string {
	t.Helper()
	if _, err := exec.LookPath("pkcs11-tool"); err != nil {
		t.Skip("pkcs11-tool not installed")
	}
	cmd := exec.Command("pkcs11-tool", "--module", tok.Module(), "--token-label", tok.Label(), "--login", "--pin", tok.PIN(), "--list-objects")
	cmd.Env = append(cmd.Environ(), tok.Env()...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pkcs11-tool: %v\n%s", err, out)
	}
	return string(out)
}

func TestSealOpen(t *testing.T) {
	tok := softhsmtest.New(t)
	h := hsm.New(nil)
	defer h.Close()
	ctx := context.Background()
	uri := tok.KeyURI("seed-key")
	if err := h.GenerateAESKey(ctx, uri); err != nil {
		t.Fatal(err)
	}
	if err := h.GenerateAESKey(ctx, uri); !errors.Is(err, hsm.ErrKeyExists) {
		t.Fatalf("second GenerateAESKey: %v, want ErrKeyExists", err)
	}
	sealed, err := h.Seal(ctx, uri, []byte("seed bytes"), []byte("user-1"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), "seed bytes") {
		t.Fatal("sealed data holds the plaintext")
	}
	got, err := h.Open(ctx, uri, sealed, []byte("user-1"))
	if err != nil || string(got) != "seed bytes" {
		t.Fatalf("Open: %q, %v", got, err)
	}
	tests := map[string]struct {
		sealed, aad []byte
	}{
		"other aad":   {sealed, []byte("user-2")},
		"flipped bit": {append(append([]byte{}, sealed[:len(sealed)-1]...), sealed[len(sealed)-1]^1), []byte("user-1")},
		"truncated":   {sealed[:20], []byte("user-1")},
	}
	for name, tc := range tests {
		if _, err := h.Open(ctx, uri, tc.sealed, tc.aad); err == nil {
			t.Errorf("%s: Open succeeded", name)
		}
	}
}
