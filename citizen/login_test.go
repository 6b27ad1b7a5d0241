package citizen_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/citizen"
)

const (
	cpr      = "0101901234"
	password = "correct horse 7"
)

func TestEnrolAndLogin(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	en := e.enrol(t, "karen.j", cpr, password)
	if len(en.Card.Keys) != 148 {
		t.Fatalf("card has %d keys, want 148", len(en.Card.Keys))
	}
	seen := map[string]bool{}
	for _, k := range en.Card.Keys {
		if len(k.Number) != 4 || len(k.Code) != 6 || seen[k.Number] {
			t.Fatalf("bad or repeated key %+v", k)
		}
		seen[k.Number] = true
	}
	if !strings.HasPrefix(en.Citizen.PID, "PID:9208-2002-2-") {
		t.Fatalf("PID %q", en.Citizen.PID)
	}
	// The PID is the registry's: issuing a POCES certificate for the same
	// CPR number finds the same subject.
	s, err := e.CA.Subject(ctx, en.Citizen.PID)
	if err != nil || s.Kind != "person" {
		t.Fatalf("registry subject: %+v %v", s, err)
	}
	if ok, err := e.CA.MatchCPR(ctx, en.Citizen.PID, cpr); err != nil || !ok {
		t.Fatalf("MatchCPR: %v %v", ok, err)
	}
	if _, err := e.svc.Enrol(ctx, citizen.EnrolRequest{Name: "Karen Jensen", CPR: cpr, UserID: "karen.other"}); !errors.Is(err, citizen.ErrExists) {
		t.Fatalf("second enrolment of the person: %v, want ErrExists", err)
	}

	sess, err := e.svc.Password(ctx, "karen.j", password)
	if err != nil {
		t.Fatal(err)
	}
	if sess.Level != citizen.LevelLow || sess.Challenge == "" || sess.MustChangePassword {
		t.Fatalf("after password: %+v", sess)
	}
	// The challenge stays the same across retries.
	again, err := e.svc.Password(ctx, "karen.j", password)
	if err != nil || again.Challenge != sess.Challenge {
		t.Fatalf("challenge changed on retry: %q then %q (%v)", sess.Challenge, again.Challenge, err)
	}
	if ch, err := e.svc.Challenge(ctx, "karen.j"); err != nil || ch != sess.Challenge {
		t.Fatalf("Challenge: %q %v, want %q", ch, err, sess.Challenge)
	}
	if _, err := e.svc.Code(ctx, sess.ID, wrong(t, en.Card, sess.Challenge)); !errors.Is(err, citizen.ErrAuthFailed) {
		t.Fatalf("wrong code: %v", err)
	}
	used := code(t, en.Card, sess.Challenge)
	full, err := e.svc.Code(ctx, sess.ID, used)
	if err != nil {
		t.Fatal(err)
	}
	if full.Level != citizen.LevelSubstantial || full.Level.String() != "substantial" {
		t.Fatalf("after code: level %v", full.Level)
	}
	sum, err := e.svc.Show(ctx, "karen.j")
	if err != nil || sum.KeysLeft != 147 || sum.CardSuspended {
		t.Fatalf("show: %+v %v", sum, err)
	}
	// A used key is never asked for again: its code is gone.
	next, err := e.svc.Password(ctx, "karen.j", password)
	if err != nil || next.Challenge == sess.Challenge {
		t.Fatalf("used key asked again: %q (%v)", next.Challenge, err)
	}
	if _, err := e.svc.Code(ctx, next.ID, used); !errors.Is(err, citizen.ErrAuthFailed) {
		t.Fatalf("an old code accepted: %v", err)
	}
	assertNoSecrets(t, e, en, password, used)
}

func TestUnknownUserAndWrongPasswordAlike(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.enrol(t, "karen.j", cpr, password)
	_, errWrong := e.svc.Password(ctx, "karen.j", "not the password")
	_, errUnknown := e.svc.Password(ctx, "nobody.here", "not the password")
	if errWrong != errUnknown || errWrong.Error() != errUnknown.Error() {
		t.Fatalf("wrong password %v and unknown user %v differ", errWrong, errUnknown)
	}
	ch1, err1 := e.svc.Challenge(ctx, "nobody.here")
	ch2, err2 := e.svc.Challenge(ctx, "nobody.here")
	if err1 != nil || err2 != nil || len(ch1) != 4 || ch1 != ch2 {
		t.Fatalf("decoy challenge for an unknown user: %q %q %v %v", ch1, ch2, err1, err2)
	}
}

func TestLockout(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	en := e.enrol(t, "karen.j", cpr, password)
	wrongPasswords := func(n int) {
		t.Helper()
		for range n {
			if _, err := e.svc.Password(ctx, "karen.j", "wrong password"); !errors.Is(err, citizen.ErrAuthFailed) {
				t.Fatalf("wrong password: %v", err)
			}
		}
	}
	refused := func(when string) {
		t.Helper()
		if _, err := e.svc.Password(ctx, "karen.j", password); !errors.Is(err, citizen.ErrAuthFailed) {
			t.Fatalf("%s: right password accepted during a lock: %v", when, err)
		}
	}
	// Three temporary locks of 1, 2 and 3 minutes, each after 5 wrong
	// passwords; the right password is refused during each, with the
	// same error, and accepted when it ends.
	for k := 1; k <= 3; k++ {
		wrongPasswords(4)
		if sum, _ := e.svc.Show(ctx, "karen.j"); !sum.LockedUntil.IsZero() {
			t.Fatalf("lock %d: locked after 4 wrong passwords", k)
		}
		wrongPasswords(1)
		sum, _ := e.svc.Show(ctx, "karen.j")
		want := e.clock.Now().Add(time.Duration(k) * time.Minute)
		if !sum.LockedUntil.Equal(want) || sum.TemporaryLocks != k || sum.Locked {
			t.Fatalf("lock %d: %+v, want until %s", k, sum, want)
		}
		e.clock.Add(time.Duration(k)*time.Minute - time.Second)
		refused("a second before the end")
		e.clock.Add(time.Second)
		if k < 3 {
			// Logging in with the password alone keeps the count of locks.
			if _, err := e.svc.Password(ctx, "karen.j", password); err != nil {
				t.Fatalf("lock %d over: %v", k, err)
			}
		}
	}
	// After three temporary locks, the next five wrong passwords lock the
	// account until support unlocks it.
	wrongPasswords(5)
	sum, _ := e.svc.Show(ctx, "karen.j")
	if !sum.Locked {
		t.Fatalf("not locked for good after 3 temporary locks: %+v", sum)
	}
	e.clock.Add(24 * time.Hour)
	refused("a day later")
	if err := e.svc.Unlock(ctx, "karen.j", audit.System); err != nil {
		t.Fatal(err)
	}
	e.login(t, "karen.j", password, en.Card)

	// Three wrong codes suspend the card.
	sess, err := e.svc.Password(ctx, "karen.j", password)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		_, err := e.svc.Code(ctx, sess.ID, wrong(t, en.Card, sess.Challenge))
		if i < 3 && !errors.Is(err, citizen.ErrAuthFailed) || i == 3 && !errors.Is(err, citizen.ErrCardSuspended) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	if _, err := e.svc.Code(ctx, sess.ID, code(t, en.Card, sess.Challenge)); !errors.Is(err, citizen.ErrCardSuspended) {
		t.Fatalf("right code on a suspended card: %v", err)
	}
	card, err := e.svc.NewCard(ctx, "karen.j", audit.System)
	if err != nil {
		t.Fatal(err)
	}
	e.login(t, "karen.j", password, card)
	assertAudited(t, e, map[string]int{citizen.ActionLock: 4, citizen.ActionCardSuspend: 1, citizen.ActionUnlock: 1, citizen.ActionCardNew: 1})
}

func TestHourlyFailureBound(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	en := e.enrol(t, "karen.j", cpr, password)
	p := citizen.DefaultPolicy()
	p.MaxFailuresPerHour = 6
	p.MaxWrongPasswords = 20
	svc, err := citizen.New(citizen.Config{Store: citizen.Records(e.Store), Registry: e.CA, Keys: e.HSM,
		PepperKey: e.Token.KeyURI("citizen-pepper"), CodeKey: e.Token.KeyURI("citizen-codes"), Clock: e.clock.Now, Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		_, _ = svc.Password(ctx, "karen.j", "wrong password")
		e.clock.Add(time.Minute)
	}
	if _, err := svc.Password(ctx, "karen.j", password); !errors.Is(err, citizen.ErrAuthFailed) {
		t.Fatalf("right password accepted over the hourly bound: %v", err)
	}
	e.clock.Add(55 * time.Minute) // the first failure is now over an hour old
	sess, err := svc.Password(ctx, "karen.j", password)
	if err != nil {
		t.Fatalf("an hour later: %v", err)
	}
	if _, err := svc.Code(ctx, sess.ID, code(t, en.Card, sess.Challenge)); err != nil {
		t.Fatal(err)
	}
}

// assertAudited checks the audit chain has at least want[action] records of each action.
func assertAudited(t *testing.T, e *env, want map[string]int) {
	t.Helper()
	got := map[string]int{}
	err := e.Store.AuditRecords(context.Background(), 1, func(_ uint64, data []byte) error {
		for a := range want {
			if bytes.Contains(data, []byte(a)) {
				got[a]++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for a, n := range want {
		if got[a] < n {
			t.Errorf("audit chain has %d %s records, want %d", got[a], a, n)
		}
	}
}

// assertNoSecrets greps the store file and the audit chain for the
// password, codes and the CPR number.
func assertNoSecrets(t *testing.T, e *env, en *citizen.Enrolment, secrets ...string) {
	t.Helper()
	secrets = append(secrets, en.InitialPassword, cpr, cpr[:6]+"-"+cpr[6:])
	for _, k := range en.Card.Keys[:10] {
		secrets = append(secrets, k.Number+k.Code, k.Code)
	}
	raw, err := os.ReadFile(e.Store.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if bytes.Contains(raw, []byte(s)) {
			// A 6-digit code may occur by chance in binary data: tell
			// which, grep confirms independently.
			out, _ := exec.Command("grep", "-c", "-a", "-F", s, e.Store.Path()).CombinedOutput()
			t.Errorf("store file holds secret %q (grep -c: %s)", s, bytes.TrimSpace(out))
		}
	}
}
