package citizen_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oces-pki/oces/citizen"
	"github.com/oces-pki/oces/internal/pdfcheck"
	"github.com/oces-pki/oces/pades"
	"github.com/oces-pki/oces/pades/testdata/corpus"
)

func TestSignDocumentOneTimeKey(t *testing.T) {
	e := newSigningEnv(t)
	ctx := context.Background()
	en := e.enrol(t, "karen.j", cpr, password)
	pdf := corpus.Read(t, "v17-fonts.pdf")
	digest := sha256.Sum256(pdf)
	other := sha256.Sum256([]byte("another document"))

	authorize := func(hashes ...[]byte) *citizen.SAD {
		t.Helper()
		ch, err := e.svc.Challenge(ctx, "karen.j")
		if err != nil {
			t.Fatal(err)
		}
		sad, err := e.svc.Authorize(ctx, citizen.AuthorizeRequest{UserID: "karen.j", Password: password, Code: code(t, en.Card, ch), Hashes: hashes})
		if err != nil {
			t.Fatal(err)
		}
		return sad
	}
	// A SAD made for another document's digest does not sign this one,
	// and is used up by the attempt.
	sadB := authorize(other[:])
	if _, err := e.svc.SignDocument(ctx, citizen.DocumentRequest{UserID: "karen.j", SAD: sadB.Token, Document: pdf, PDF: true}); !errors.Is(err, citizen.ErrSAD) {
		t.Fatalf("SAD for hash B signed document A: %v", err)
	}

	sad := authorize(digest[:])
	signed, err := e.svc.SignDocument(ctx, citizen.DocumentRequest{UserID: "karen.j", SAD: sad.Token, Document: pdf, PDF: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SignDocument(ctx, citizen.DocumentRequest{UserID: "karen.j", SAD: sad.Token, Document: pdf, PDF: true}); !errors.Is(err, citizen.ErrSAD) {
		t.Fatalf("the same SAD signed twice: %v", err)
	}
	cert := signed.Certificate
	if !strings.HasPrefix(cert.Subject.SerialNumber, "UI:DK-P:G:") || cert.NotAfter.Sub(cert.NotBefore).Hours() != 1 {
		t.Fatalf("certificate %s valid %s to %s", cert.Subject, cert.NotBefore, cert.NotAfter)
	}

	// pdfsig (poppler) checks the signature; pades finds the B-LTA
	// structure (a document time-stamp after the signature).
	path := filepath.Join(t.TempDir(), "signed.pdf")
	if err := os.WriteFile(path, signed.Data, 0o600); err != nil {
		t.Fatal(err)
	}
	sigs := pdfcheck.Pdfsig(t, path, "")
	if len(sigs) != 2 || !sigs[0].SignatureValid || sigs[0].SignerCommonName != "Karen Jensen" {
		t.Fatalf("pdfsig: %+v", sigs)
	}
	doc, err := pades.Open(signed.Data)
	if err != nil {
		t.Fatal(err)
	}
	all, err := doc.Signatures()
	if err != nil || len(all) != 2 || all[1].Type != "DocTimeStamp" {
		t.Fatalf("signatures: %+v %v", all, err)
	}
	// The key is gone from the token.
	assertNoSessionKeys(t, e)
	assertAudited(t, e, map[string]int{citizen.ActionSignConfirm: 2, citizen.ActionKeyDestroy: 1, "signer.sign.after": 1})
}

// assertNoSessionKeys checks that no one-time key object is left in the
// token: none in this process (the objects are session objects, invisible
// elsewhere) and none in storage, as pkcs11-tool lists it.
func assertNoSessionKeys(t *testing.T, e *env) {
	t.Helper()
	e.mu.Lock()
	keys := append([]string(nil), e.keys...)
	e.mu.Unlock()
	if len(keys) == 0 {
		t.Fatal("no one-time key was made")
	}
	for _, k := range keys {
		for _, tok := range []string{e.Token.TokenURI(), e.wrapToken} {
			if ok, err := e.HSM.ObjectExists(context.Background(), tok, k); err != nil || ok {
				t.Fatalf("key %s still in the token (%v)", k, err)
			}
		}
	}
	out := pkcs11List(t, e)
	if strings.Contains(out, "session-") {
		t.Fatalf("pkcs11-tool lists a one-time key:\n%s", out)
	}
}

func TestLongTermKey(t *testing.T) {
	e := newSigningEnv(t)
	ctx := context.Background()
	en := e.enrol(t, "karen.j", cpr, password)
	chain, err := e.svc.Credential(ctx, "karen.j")
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.svc.Credential(ctx, "karen.j")
	if err != nil || !again[0].Equal(chain[0]) {
		t.Fatalf("a second credential: %v", err)
	}
	leaf := chain[0]
	if !strings.HasPrefix(leaf.Subject.SerialNumber, "PID:9208-2002-2-") || leaf.Subject.SerialNumber != en.Citizen.PID {
		t.Fatalf("POCES subject %s, PID %s", leaf.Subject, en.Citizen.PID)
	}
	authorize := func(hashes ...[]byte) *citizen.SAD {
		t.Helper()
		ch, err := e.svc.Challenge(ctx, "karen.j")
		if err != nil {
			t.Fatal(err)
		}
		sad, err := e.svc.Authorize(ctx, citizen.AuthorizeRequest{UserID: "karen.j", Password: password, Code: code(t, en.Card, ch), Hashes: hashes})
		if err != nil {
			t.Fatal(err)
		}
		return sad
	}
	a, b := sha256.Sum256([]byte("A")), sha256.Sum256([]byte("B"))
	sad := authorize(a[:])
	if _, err := e.svc.SignHash(ctx, citizen.HashRequest{UserID: "karen.j", SAD: sad.Token, Hashes: [][]byte{b[:]}, Hash: crypto.SHA256}); !errors.Is(err, citizen.ErrSAD) {
		t.Fatalf("a SAD for hash A signed hash B: %v", err)
	}
	sad = authorize(a[:])
	sigs, err := e.svc.SignHash(ctx, citizen.HashRequest{UserID: "karen.j", SAD: sad.Token, Hashes: [][]byte{a[:]}, Hash: crypto.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(leaf.PublicKey.(*ecdsa.PublicKey), a[:], sigs[0]) {
		t.Fatal("the signature does not verify under the POCES certificate")
	}
	if _, err := e.svc.SignHash(ctx, citizen.HashRequest{UserID: "karen.j", SAD: sad.Token, Hashes: [][]byte{a[:]}, Hash: crypto.SHA256}); !errors.Is(err, citizen.ErrSAD) {
		t.Fatalf("the same SAD signed twice: %v", err)
	}
	// A PDF signed in the NemID model: pdfsig finds it valid.
	pdf := corpus.Read(t, "v14-forms.pdf")
	d := sha256.Sum256(pdf)
	signed, err := e.svc.SignDocument(ctx, citizen.DocumentRequest{UserID: "karen.j", SAD: authorize(d[:]).Token, Document: pdf, PDF: true, LongTerm: true})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "signed.pdf")
	if err := os.WriteFile(path, signed.Data, 0o600); err != nil {
		t.Fatal(err)
	}
	if sigs := pdfcheck.Pdfsig(t, path, ""); len(sigs) != 2 || !sigs[0].SignatureValid || !strings.Contains(sigs[0].SignerDN, en.Citizen.PID) {
		t.Fatalf("pdfsig: %+v", sigs)
	}
	assertNoSessionKeys(t, e)
	// The store holds the key only wrapped: grep finds no PKCS#8 P-256
	// private key header, and the citizen record has the wrapped form.
	raw, err := os.ReadFile(e.Store.Path())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte{0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01}) {
		t.Fatal("the store holds a PKCS#8 EC private key in the clear")
	}
}
