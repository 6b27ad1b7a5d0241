package web_test

import (
	"bytes"
	"crypto/sha256"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oces-pki/oces/internal/ratelimit"
	"github.com/oces-pki/oces/internal/textpdf"
	"github.com/oces-pki/oces/pades/testdata/corpus"
	"github.com/oces-pki/oces/web"
)

func sha256Sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// upload posts a file as the sign page's form does.
func (e *env) upload(t *testing.T, c *http.Client, name string, data []byte) (*http.Response, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest("POST", e.srv.URL+"/sign/upload", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp, b.String()
}

func TestSecurityHeadersAndCookies(t *testing.T) {
	e := newEnv(t)
	en := e.enrol(t, "karen.j", testCPR, false)
	c := e.client(t)
	e.login(t, c, "karen.j", testPassword, en.Card)
	var session *http.Cookie
	u, _ := url.Parse(e.srv.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "__Host-oces-session" {
			session = ck
		}
	}
	if session == nil || len(session.Value) < 43 {
		t.Fatalf("no session cookie of 256 bits: %+v", session)
	}
	// The jar drops attributes: read them from a fresh login's Set-Cookie.
	c2 := e.client(t)
	resp, _ := e.do(t, c2, "POST", "/login", url.Values{"user_id": {"karen.j"}, "password": {testPassword}})
	sc := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"__Host-oces-session=", "Path=/", "HttpOnly", "Secure", "SameSite=Strict"} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %s", sc, want)
		}
	}
	if strings.Contains(strings.ToLower(sc), "domain=") {
		t.Errorf("Set-Cookie %q names a domain", sc)
	}
	cases := []struct {
		name, path string
		status     int
		cache      string
	}{
		{"login page, logged in", "/login", 303, "no-store"},
		{"sign page", "/sign", 200, "no-store"},
		{"account page", "/me", 200, "no-store"},
		{"stylesheet", "/static/style.css", 200, "public, max-age=3600"},
		{"unknown page", "/nope", 404, "no-store"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.do(t, c, "GET", tc.path, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			h := resp.Header
			want := map[string]string{
				"Content-Security-Policy":   "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
				"X-Content-Type-Options":    "nosniff",
				"Referrer-Policy":           "no-referrer",
				"Strict-Transport-Security": "max-age=63072000",
				"Cache-Control":             tc.cache,
			}
			for k, v := range want {
				if h.Get(k) != v {
					t.Errorf("%s: %q, want %q", k, h.Get(k), v)
				}
			}
			if resp.StatusCode != http.StatusSeeOther && strings.HasPrefix(h.Get("Content-Type"), "text/html") {
				if !regexp.MustCompile(`<html lang="(da|en)">`).MatchString(body) || strings.Contains(body, "<script>") || strings.Contains(body, " style=") {
					t.Errorf("page without lang, or with inline script or style")
				}
			}
		})
	}
}

// httptestRecorder serves one request without TLS and returns the status.
func httptestRecorder(h http.Handler, method, path string) int {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Code
}

func TestPlainHTTPRefused(t *testing.T) {
	e := newEnv(t)
	rec := httptestRecorder(e.h, "GET", "/login")
	if rec != http.StatusBadRequest {
		t.Fatalf("plain HTTP: %d", rec)
	}
}

func TestCrossOriginRefused(t *testing.T) {
	e := newEnv(t)
	e.enrol(t, "karen.j", testCPR, false)
	c := e.client(t)
	form := url.Values{"user_id": {"karen.j"}, "password": {testPassword}}
	cases := []struct {
		name    string
		headers map[string]string
		status  int
	}{
		{"same origin", map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusSeeOther},
		{"cross site", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"same site, other port", map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"other origin, no fetch metadata", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", e.srv.URL+"/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t, func(c *web.Config) { c.Retention = 5 * time.Minute })
	en := e.enrol(t, "karen.j", testCPR, false)
	pdf, _ := textpdf.Render("Et dokument.", 1)

	signedIn := func(c *http.Client) bool {
		resp, _ := e.do(t, c, "GET", "/sign", nil)
		return resp.StatusCode == http.StatusOK
	}
	// Idle: 15 minutes without a request end the session.
	c := e.client(t)
	e.login(t, c, "karen.j", testPassword, en.Card)
	if resp, _ := e.upload(t, c, "a.pdf", pdf); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("upload: %d", resp.StatusCode)
	}
	e.clock.Add(14 * time.Minute)
	if !signedIn(c) {
		t.Fatal("session ended before its idle time")
	}
	e.clock.Add(15 * time.Minute)
	if signedIn(c) {
		t.Fatal("session outlived 15 idle minutes")
	}
	// The document is kept for the retention after the session, then goes.
	if _, docs := e.h.Held(); docs != 1 {
		t.Fatalf("%d documents held right after the session ended", docs)
	}
	e.clock.Add(5 * time.Minute)
	e.h.Sweep()
	if live, docs := e.h.Held(); live != 0 || docs != 0 {
		t.Fatalf("after the retention: %d sessions, %d documents", live, docs)
	}

	// Absolute: a session in use ends an hour after login.
	c = e.client(t)
	e.login(t, c, "karen.j", testPassword, en.Card)
	for range 5 {
		e.clock.Add(11 * time.Minute)
		if !signedIn(c) {
			t.Fatal("a session in use ended before the hour")
		}
	}
	e.clock.Add(6 * time.Minute)
	if signedIn(c) {
		t.Fatal("session outlived its hour")
	}

	// Logout ends the session at once.
	c = e.client(t)
	e.login(t, c, "karen.j", testPassword, en.Card)
	e.do(t, c, "POST", "/logout", url.Values{})
	if signedIn(c) {
		t.Fatal("session outlived logout")
	}
}

func TestUploadBounds(t *testing.T) {
	slow := filepath.Join(t.TempDir(), "slow-pdftoppm")
	if err := os.WriteFile(slow, []byte("#!/bin/sh\nexec sleep 10\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *web.Config) { c.MaxUploadBytes = 64 << 10; c.MaxPages = 2 })
	en := e.enrol(t, "karen.j", testCPR, false)
	c := e.client(t)
	e.login(t, c, "karen.j", testPassword, en.Card)
	three, _ := textpdf.Render(strings.Repeat("linje\n", 120), 10)
	cases := []struct {
		name   string
		data   []byte
		status int
		msg    string
	}{
		{"too large", corpus.SizedBytes(100 << 10), http.StatusRequestEntityTooLarge, "Filen er for stor."},
		{"too many pages", three, http.StatusRequestEntityTooLarge, "Dokumentet har for mange sider."},
		{"not a PDF", []byte("hello, not a PDF"), http.StatusBadRequest, "Filen er ikke en PDF, vi kan læse."},
		{"empty", nil, http.StatusBadRequest, "Vælg en fil eller skriv en tekst."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.upload(t, c, "x.pdf", tc.data)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.msg) {
				t.Fatalf("status %d (want %d), message %q in:\n%s", resp.StatusCode, tc.status, tc.msg, body)
			}
			if !strings.Contains(body, `aria-invalid="true"`) || !strings.Contains(body, `href="#file"`) {
				t.Error("the error is not linked to the file field")
			}
		})
	}
	// A text that needs more than two pages is refused the same way.
	resp, body := e.do(t, c, "POST", "/sign/text", url.Values{"text": {strings.Repeat("linje\n", 200)}})
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "for mange sider") {
		t.Fatalf("long text: %d", resp.StatusCode)
	}

	// Rendering is bounded in time.
	e2 := newEnv(t, func(c *web.Config) { c.Pdftoppm = slow; c.RenderTimeout = 300 * time.Millisecond })
	en2 := e2.enrol(t, "jens.h", "0202901234", false)
	c2 := e2.client(t)
	e2.login(t, c2, "jens.h", testPassword, en2.Card)
	start := time.Now()
	resp, body = e2.upload(t, c2, "a.pdf", corpus.Read(t, "v13-classic.pdf"))
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("a stuck renderer held the request %s", took)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "Siderne kunne ikke vises i tide") {
		t.Fatalf("slow renderer: %d\n%s", resp.StatusCode, body)
	}
}

func TestLanguage(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	get := func(lang string) string {
		req, _ := http.NewRequest("GET", e.srv.URL+"/login", nil)
		if lang != "" {
			req.Header.Set("Accept-Language", lang)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return b.String()
	}
	for _, tc := range []struct{ accept, want string }{
		{"", `lang="da"`}, {"en-GB,en;q=0.9", `lang="en"`}, {"de, da;q=0.5, en;q=0.8", `lang="en"`}, {"fr", `lang="da"`},
	} {
		if got := get(tc.accept); !strings.Contains(got, "<html "+tc.want) {
			t.Errorf("Accept-Language %q: want %s", tc.accept, tc.want)
		}
	}
	// The switch sets a cookie that wins over Accept-Language.
	resp, _ := e.do(t, c, "GET", "/lang?to=en&next=/login", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("switch: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := get("da"); !strings.Contains(got, `<html lang="en">`) || !strings.Contains(got, "User ID") {
		t.Error("the lang cookie does not win")
	}
	// The switch goes back only to this site.
	resp, _ = e.do(t, c, "GET", "/lang?to=da&next=//evil.example/", nil)
	if resp.Header.Get("Location") != "/" {
		t.Errorf("switch followed an outside address: %s", resp.Header.Get("Location"))
	}
}

// TestCatalogue checks every message has both languages, and every key
// the templates and handlers use is in the catalogue.
func TestCatalogue(t *testing.T) {
	cat := web.Catalogue()
	for k, v := range cat {
		if strings.TrimSpace(v[0]) == "" || strings.TrimSpace(v[1]) == "" {
			t.Errorf("%s lacks a language: %q", k, v)
		}
		if strings.Count(v[0], "%") != strings.Count(v[1], "%") {
			t.Errorf("%s: the languages take different arguments: %q", k, v)
		}
	}
	used := regexp.MustCompile(`(?:\.T|\.Tf|\btext\([^,]+,)\s*"([a-z_]+\.[a-zA-Z_.-]+)"|"((?:err|me|title|done|login|code|sign|preview|app|password)\.[a-z_.A-Z-]+)"`)
	err := fs.WalkDir(os.DirFS("."), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".html") || strings.HasSuffix(path, ".go")) || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range used.FindAllStringSubmatch(string(b), -1) {
			k := m[1] + m[2]
			if strings.HasSuffix(k, ".") || strings.Contains(k, "%") {
				continue
			}
			if _, ok := cat[k]; !ok {
				t.Errorf("%s uses %q, which the catalogue lacks", path, k)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, ind := range []string{"TOTAL-PASSED", "TOTAL-FAILED", "INDETERMINATE"} {
		if _, ok := cat["done."+ind]; !ok {
			t.Errorf("no text for the indication %s", ind)
		}
	}
	for _, st := range []string{"good", "suspended", "revoked", "expired"} {
		if _, ok := cat["me.status."+st]; !ok {
			t.Errorf("no text for the status %s", st)
		}
	}
}

// TestLoginLimitPerAddress: one address trying passwords on many accounts
// meets the per-address limit (429, Retry-After) that the per-account
// lockout cannot see, before any password is checked; the bucket refills
// with time.
func TestLoginLimitPerAddress(t *testing.T) {
	lim := ratelimit.New(1.0/30, 2) // 2 at once, then one every 30 s
	e := newEnv(t, func(c *web.Config) { c.LoginLimit = lim })
	c := e.client(t)
	try := func(user string) (*http.Response, string) {
		return e.do(t, c, "POST", "/login", url.Values{"user_id": {user}, "password": {"guess-1234"}})
	}
	for _, u := range []string{"anna.a", "bo.b"} {
		if resp, body := try(u); resp.StatusCode == http.StatusTooManyRequests || !strings.Contains(body, "adgangskode eller kode") {
			t.Fatalf("attempt for %s within the burst: %d", u, resp.StatusCode)
		}
	}
	resp, body := try("carl.c")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "For mange forsøg") {
		t.Fatalf("third attempt from one address: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	e.clock.Add(31 * time.Second)
	if resp, _ := try("carl.c"); resp.StatusCode == http.StatusTooManyRequests {
		t.Error("the limit does not refill")
	}
}
