package citizen_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/oces-pki/oces/citizen"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/catest"
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
}

// newEnv wires a Service to a CA on a fresh SoftHSM token and bbolt file,
// with its pepper, code card and code app keys in the token.
func newEnv(t *testing.T) *env {
	t.Helper()
	c := catest.NewHSMCA(t, hsm.ECP256, "http://127.0.0.1:1")
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
	svc, err := citizen.New(citizen.Config{
		Store: c.Store, Registry: c.CA, Keys: c.HSM, Sealer: c.HSM,
		PepperKey: c.Token.KeyURI("citizen-pepper"), CodeKey: c.Token.KeyURI("citizen-codes"), AppKey: c.Token.KeyURI("citizen-app"),
		Clock: clk.Now,
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
func code(t *testing.T, card *citizen.Card, num string) string {
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
