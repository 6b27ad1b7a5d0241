package web_test

import (
	"context"
	"encoding/base32"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oces-pki/oces/citizen"
)

func TestSelfServicePages(t *testing.T) {
	e := newEnv(t)
	en := e.enrol(t, "karen.j", testCPR, false)
	c := e.client(t)
	e.login(t, c, "karen.j", testPassword, en.Card)

	// The password changes only with the current one, twice the same and
	// within the rules; each refusal names its field.
	for _, tc := range []struct {
		name                string
		current, nw, repeat string
		status              int
		field, msg          string
	}{
		{"wrong current", "not the password", "a new one 12", "a new one 12", http.StatusUnauthorized, "current", "Forkert bruger-ID, adgangskode eller kode"},
		{"different", testPassword, "a new one 12", "a new one 13", http.StatusBadRequest, "repeat", "ikke ens"},
		{"too short", testPassword, "short", "short", http.StatusBadRequest, "new", "8 til 64 tegn"},
		{"missing current", "", "a new one 12", "a new one 12", http.StatusBadRequest, "current", "Udfyld feltet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.do(t, c, "POST", "/me/password", url.Values{"current": {tc.current}, "new": {tc.nw}, "repeat": {tc.repeat}})
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.msg) || !strings.Contains(body, `href="#`+tc.field+`"`) {
				t.Fatalf("status %d (want %d), %q linked to %s in:\n%s", resp.StatusCode, tc.status, tc.msg, tc.field, body)
			}
		})
	}
	resp, _ := e.do(t, c, "POST", "/me/password", url.Values{"current": {testPassword}, "new": {"a new one 12"}, "repeat": {"a new one 12"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("change: %d", resp.StatusCode)
	}
	if _, body := e.do(t, c, "GET", "/me", nil); !strings.Contains(body, "Din adgangskode er skiftet.") {
		t.Error("no notice after the change")
	}

	// Another's certificate cannot be suspended through the pages.
	resp, _ = e.do(t, c, "POST", "/me/certificates/"+strings.Repeat("ab", 16)+"/suspend", url.Values{})
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("suspending an unknown serial: %d", resp.StatusCode)
	}

	// The code app: two card codes give the QR code (served from the
	// session, once) and the URI; its codes then log in.
	_, body := e.do(t, c, "GET", "/me/app", nil)
	keys := regexp.MustCompile(`nøgle (\d{4})`).FindAllStringSubmatch(body, -1)
	if len(keys) != 2 {
		t.Fatalf("the activation page names %d keys", len(keys))
	}
	resp, body = e.do(t, c, "POST", "/me/app", url.Values{"code1": {code(t, en.Card, keys[0][1])}, "code2": {code(t, en.Card, keys[1][1])}})
	m := regexp.MustCompile(`otpauth://totp/[^<"]+`).FindString(body)
	if resp.StatusCode != http.StatusOK || m == "" {
		t.Fatalf("activation: %d\n%s", resp.StatusCode, body)
	}
	u, err := url.Parse(html.UnescapeString(m))
	if err != nil {
		t.Fatal(err)
	}
	seed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(u.Query().Get("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := e.do(t, c, "GET", "/me/app/qr.png", nil); resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "\x89PNG") {
		t.Fatalf("QR code: %d", resp.StatusCode)
	}
	e.do(t, c, "GET", "/me", nil)
	if resp, _ := e.do(t, c, "GET", "/me/app/qr.png", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the QR code is served again after the account page: %d", resp.StatusCode)
	}
	c2 := e.client(t)
	e.do(t, c2, "POST", "/login", url.Values{"user_id": {"karen.j"}, "password": {"a new one 12"}})
	_, body = e.do(t, c2, "GET", "/login/code", nil)
	if !strings.Contains(body, "kodeappen") {
		t.Error("the code page does not offer the code app")
	}
	totp := citizen.TOTP(seed, time.Now().Unix()/30)
	if resp, _ := e.do(t, c2, "POST", "/login/code", url.Values{"code": {totp}}); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/sign" {
		t.Fatalf("login with the code app: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Ordering a card shows the order, and support's new card clears it.
	if resp, _ := e.do(t, c2, "POST", "/me/card", url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("order: %d", resp.StatusCode)
	}
	if _, body := e.do(t, c2, "GET", "/me", nil); !strings.Contains(body, `id="card-ordered"`) {
		t.Error("the order is not shown")
	}
	if _, err := e.svc.NewCard(context.Background(), "karen.j", citizenSupport); err != nil {
		t.Fatal(err)
	}
	if _, body := e.do(t, c2, "GET", "/me", nil); strings.Contains(body, `id="card-ordered"`) || !strings.Contains(body, "Bestil nyt nøglekort") {
		t.Error("the order is still shown after the new card")
	}
}
