package citizen_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"errors"
	"image/png"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oces-pki/oces/citizen"
)

// RFC 6238 appendix B, SHA-1 rows, cut to 6 digits.
func TestTOTPVectors(t *testing.T) {
	seed := []byte("12345678901234567890")
	for unix, want := range map[int64]string{59: "287082", 1111111109: "081804", 1111111111: "050471", 1234567890: "005924", 2000000000: "279037"} {
		if got := citizen.TOTP(seed, unix/30); got != want {
			t.Errorf("T=%d: %s, want %s", unix, got, want)
		}
	}
}

func TestCodeApp(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	en := e.enrol(t, "karen.j", cpr, password)
	sess, err := e.svc.Password(ctx, "karen.j", password)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := e.svc.AppChallenge(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := e.svc.AppChallenge(ctx, sess.ID); again != keys {
		t.Fatalf("activation keys changed: %v then %v", keys, again)
	}
	if _, err := e.svc.ActivateApp(ctx, sess.ID, code(t, en.Card, keys[0]), wrong(t, en.Card, keys[1])); !errors.Is(err, citizen.ErrAuthFailed) {
		t.Fatalf("activation with a wrong code: %v", err)
	}
	app, err := e.svc.ActivateApp(ctx, sess.ID, code(t, en.Card, keys[0]), code(t, en.Card, keys[1]))
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(app.URI)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Query().Get("issuer") != "OCES" {
		t.Fatalf("URI %q: %v", app.URI, err)
	}
	img, err := png.Decode(bytes.NewReader(app.QR))
	if err != nil || img.Bounds().Dx() < 200 {
		t.Fatalf("QR code PNG: %v", err)
	}
	seed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(u.Query().Get("secret")))
	if err != nil || len(seed) != 20 {
		t.Fatalf("seed: %v", err)
	}
	step := func(d int64) string { return citizen.TOTP(seed, e.clock.Now().Unix()/30+d) }

	login := func(c string) error {
		s, err := e.svc.Password(ctx, "karen.j", password)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Code(ctx, s.ID, c)
		return err
	}
	if err := login(step(-1)); err != nil {
		t.Fatalf("code of the previous step: %v", err)
	}
	if err := login(step(-1)); !errors.Is(err, citizen.ErrAuthFailed) {
		t.Fatalf("a code accepted twice: %v", err)
	}
	if err := login(step(1)); err != nil {
		t.Fatalf("code of the next step: %v", err)
	}
	if err := login(step(0)); !errors.Is(err, citizen.ErrAuthFailed) {
		t.Fatalf("a code older than the last accepted one: %v", err)
	}
	e.clock.Add(2 * time.Minute)
	if err := login(step(2)); !errors.Is(err, citizen.ErrAuthFailed) {
		t.Fatalf("a code two steps ahead: %v", err)
	}
	if err := login(step(0)); err != nil {
		t.Fatalf("current code: %v", err)
	}
	assertNoSecrets(t, e, en, password, u.Query().Get("secret"))
}
