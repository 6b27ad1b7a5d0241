package citizen_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"errors"
	"strings"

	"github.com/oces-pki/oces/internal/softhsmtest"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/oces-pki/oces/cades"
	"github.com/oces-pki/oces/citizen"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/catest"
	"github.com/oces-pki/oces/internal/pkitest"
	"github.com/oces-pki/oces/revocation"
	"github.com/oces-pki/oces/signer"
)

// clock is an injected clock that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	*catest.HSMCA
	svc   *citizen.Service
	clock *clock
	pki   *pkitest.PKI // set by newSigningEnv

	mu        sync.Mutex
	keys      []string // labels of the one-time and unwrapped keys made
	wrapToken string   // the token of the wrapping key
}

// newEnv wires a Service to a CA on a fresh SoftHSM token and bbolt file,
// with its pepper, code card and code app keys in the token.
func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvOn(t, catest.NewHSMCA(t, hsm.ECP256, "http://127.0.0.1:1"), nil)
}

// newSigningEnv is newEnv on a running PKI (OCSP, CRL, TSA over HTTP),
// with signing wired as oces serve wires it, on the real clock.
func newSigningEnv(t testing.TB) *env {
	t.Helper()
	return newSigningEnvWith(t, hsm.ECP256, cades.LevelBLTA, -1)
}

// newSigningEnvWith is newSigningEnv with an issuing CA key of alg,
// signatures at level, and status answers cached for maxAge (-1: never,
// as tests want; oces serve caches for 10 seconds).
func newSigningEnvWith(t testing.TB, alg hsm.KeyAlgorithm, level cades.Level, maxAge time.Duration) *env {
	t.Helper()
	p := pkitest.New(t, alg)
	e := newEnvOn(t, p.HSMCA, time.Now)
	e.pki = p
	fetcher := revocation.New(revocation.Config{MaxAge: maxAge})
	sg, err := signer.New(signer.Config{
		TSA:        &signer.TSAClient{URL: p.TSAURL, Roots: p.Roots(), Revocation: fetcher},
		Revocation: fetcher, Audit: p.Store,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The wrapping key is the security officer's, in a token of its own.
	tokenURI, soPIN := softhsmtest.NewSO(t, "cwrap")
	wrapURI := strings.Replace(tokenURI, "?", ";object=citizen-wrap?", 1)
	if err := p.HSM.GenerateWrappingKey(context.Background(), wrapURI, soPIN); err != nil {
		t.Fatal(err)
	}
	e.wrapToken = tokenURI
	err = e.svc.SetSigning(citizen.Signing{Signer: sg, CA: p.CA, Level: level,
		NewWrappedKey: func(ctx context.Context) (citizen.OneTimeKey, []byte, error) {
			return p.HSM.GenerateWrappedKey(ctx, wrapURI)
		},
		Unwrap: func(ctx context.Context, wrapped []byte, pub crypto.PublicKey) (citizen.OneTimeKey, error) {
			ec, ok := pub.(*ecdsa.PublicKey)
			if !ok {
				return nil, errors.New("not a P-256 key")
			}
			k, err := p.HSM.UnwrapKey(ctx, wrapURI, wrapped, ec)
			if err == nil {
				e.mu.Lock()
				e.keys = append(e.keys, k.Label())
				e.mu.Unlock()
			}
			return k, err
		},
		NewKey: func(ctx context.Context) (citizen.OneTimeKey, error) {
			k, err := p.HSM.GenerateSessionKey(ctx, p.Token.TokenURI())
			if err == nil {
				e.mu.Lock()
				e.keys = append(e.keys, k.Label())
				e.mu.Unlock()
			}
			return k, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func newEnvOn(t testing.TB, c *catest.HSMCA, now func() time.Time) *env {
	t.Helper()
	ctx := context.Background()
	for _, k := range []string{"citizen-pepper", "citizen-codes"} {
		if err := c.HSM.GenerateSecret(ctx, c.Token.KeyURI(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.HSM.GenerateAESKey(ctx, c.Token.KeyURI("citizen-app")); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	if now == nil {
		now = clk.Now
	}
	svc, err := citizen.New(citizen.Config{
		Store: citizen.Records(c.Store), Registry: c.CA, Keys: c.HSM, Sealer: c.HSM,
		PepperKey: c.Token.KeyURI("citizen-pepper"), CodeKey: c.Token.KeyURI("citizen-codes"), AppKey: c.Token.KeyURI("citizen-app"),
		Clock: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &env{HSMCA: c, svc: svc, clock: clk}
}

// enrol enrols a citizen and changes the initial password to password.
func (e *env) enrol(t *testing.T, userID, cpr, password string) *citizen.Enrolment {
	t.Helper()
	ctx := context.Background()
	en, err := e.svc.Enrol(ctx, citizen.EnrolRequest{Name: "Karen Jensen", CPR: cpr, UserID: userID})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := e.svc.Password(ctx, userID, en.InitialPassword)
	if err != nil {
		t.Fatal(err)
	}
	if !sess.MustChangePassword {
		t.Fatal("first login does not ask for a new password")
	}
	if err := e.svc.ChangePassword(ctx, sess.ID, password); err != nil {
		t.Fatal(err)
	}
	e.svc.Logout(sess.ID)
	return en
}

// code returns the card code of key number num.
func code(t testing.TB, card *citizen.Card, num string) string {
	t.Helper()
	for _, k := range card.Keys {
		if k.Number == num {
			return k.Code
		}
	}
	t.Fatalf("key %q is not on card %s", num, card.Serial)
	return ""
}

// wrong returns a 6-digit code that is not the code of key num.
func wrong(t *testing.T, card *citizen.Card, num string) string {
	t.Helper()
	if code(t, card, num) == "000000" {
		return "000001"
	}
	return "000000"
}

// login logs in with both factors.
func (e *env) login(t *testing.T, userID, password string, card *citizen.Card) *citizen.Session {
	t.Helper()
	ctx := context.Background()
	sess, err := e.svc.Password(ctx, userID, password)
	if err != nil {
		t.Fatalf("password: %v", err)
	}
	sess, err = e.svc.Code(ctx, sess.ID, code(t, card, sess.Challenge))
	if err != nil {
		t.Fatalf("code: %v", err)
	}
	return sess
}

// pkcs11List is pkcs11-tool's listing of the token's objects.
func pkcs11List(t *testing.T, e *env) string {
	t.Helper()
	if _, err := exec.LookPath("pkcs11-tool"); err != nil {
		t.Skip("pkcs11-tool not installed")
	}
	cmd := exec.Command("pkcs11-tool", "--module", e.Token.Module(), "--token-label", e.Token.Label(), "--login", "--pin", e.Token.PIN(), "--list-objects")
	cmd.Env = append(cmd.Environ(), e.Token.Env()...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pkcs11-tool: %v\n%s", err, out)
	}
	return string(out)
}
