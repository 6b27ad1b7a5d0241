package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/citizen"
	"github.com/oces-pki/oces/internal/pdfcheck"
	"github.com/oces-pki/oces/pades/testdata/corpus"
	"github.com/oces-pki/oces/revocation"
)

// The pages in a real browser: Debian's chromium, headless, driven over
// the DevTools protocol (chromedp). One browser serves every flow, each
// in a browser context of its own (its own cookies). Each step leaves a
// full-page screenshot in the artefact directory.

// chromiumPath finds the browser, or skips (fails with CI or
// OCES_REQUIRE_BROWSER=1), as internal/pdfcheck does for its tools.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("OCES_CHROMIUM"), "/usr/bin/chromium", "chromium"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	msg := "chromium is not installed; install it with scripts/deps.sh --test (Debian package chromium)"
	if os.Getenv("OCES_REQUIRE_BROWSER") == "1" || os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// artefactDir is where the screenshots go: $OCES_WEB_ARTEFACTS, else
// artefacts/web at the module root (gitignored).
func artefactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("OCES_WEB_ARTEFACTS")
	if dir == "" {
		root, err := filepath.Abs("..")
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, "artefacts", "web")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// tab is one browser context on the pages.
type tab struct {
	t    *testing.T
	e    *env
	ctx  context.Context
	dir  string
	step int
}

func (b *tab) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	b.step++
	if err := os.WriteFile(filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.step, name)), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// do runs actions and fails the test on an error.
func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// submit clicks sel and waits for the page it leads to; it returns the
// HTTP status of that page.
func (b *tab) submit(sel string) int64 {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("clicking %s: %v", sel, err)
	}
	return resp.Status
}

// html is the outer HTML of sel (DOM only: it works with scripts off).
func (b *tab) html(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("reading %s: %v", sel, err)
	}
	return s
}

func (b *tab) location() string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return s
}

var tags = regexp.MustCompile(`<[^>]*>`)

// textOf is the text of sel without markup.
func (b *tab) textOf(sel string) string {
	return strings.Join(strings.Fields(tags.ReplaceAllString(b.html(sel), " ")), " ")
}

// keyNumberOf is the code card key the page asks for.
func (b *tab) keyNumber() string {
	b.t.Helper()
	m := keyNumber.FindStringSubmatch(b.html("main"))
	if m == nil {
		b.t.Fatalf("the page names no key number:\n%s", b.html("main"))
	}
	return m[1]
}

// login logs in from the login page; newPassword, when set, is chosen
// on the way (first login with the initial password).
func (b *tab) login(userID, password, newPassword string, card *citizen.Card) {
	b.t.Helper()
	b.do("filling the login form", chromedp.SendKeys(chromedp.ID("user_id"), userID), chromedp.SendKeys(chromedp.ID("password"), password))
	b.shot("login")
	b.submit("main form button[type=submit]")
	if newPassword != "" {
		b.shot("new-password")
		b.do("choosing a password", chromedp.SendKeys(chromedp.ID("new"), newPassword), chromedp.SendKeys(chromedp.ID("repeat"), newPassword))
		b.submit("main form button[type=submit]")
	}
	b.shot("code")
	b.do("typing the code", chromedp.SendKeys(chromedp.ID("code"), code(b.t, card, b.keyNumber())))
	if st := b.submit("main form button[type=submit]"); st != http.StatusOK {
		b.t.Fatalf("after the code: HTTP %d at %s", st, b.location())
	}
}

// confirm signs the document on the preview page.
func (b *tab) confirm(password string, card *citizen.Card) int64 {
	b.t.Helper()
	b.shot("preview")
	b.do("confirming", chromedp.SendKeys(chromedp.ID("password"), password), chromedp.SendKeys(chromedp.ID("code"), code(b.t, card, b.keyNumber())))
	return b.submit(`form[action$="/confirm"] button[type=submit]`)
}

// download clicks the download link and returns the file the browser saved.
func (b *tab) download() []byte {
	b.t.Helper()
	dir := b.t.TempDir()
	id := chromedp.FromContext(b.ctx).BrowserContextID
	_, err := chromedp.CallBrowser(b.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: "allowAndName", BrowserContextID: id, DownloadPath: dir, EventsEnabled: new(true)})
	if err != nil {
		b.t.Fatal(err)
	}
	progress := chromedp.BrowserEvents(b.ctx, browser.DownloadProgress)
	b.do("clicking download", chromedp.Click(chromedp.ID("download")))
	for ev, err := range progress {
		if err != nil {
			b.t.Fatalf("waiting for the download: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			b.t.Fatal("the download was cancelled")
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			data, err := os.ReadFile(filepath.Join(dir, ev.GUID))
			if err != nil {
				b.t.Fatal(err)
			}
			return data
		}
	}
	b.t.Fatal("no download")
	return nil
}

// pdfsigValid checks an independent verifier (poppler's pdfsig) finds a
// valid signature by Karen Jensen and, after it, a document time-stamp
// (B-LTA; pdfsig does not verify document time-stamps itself).
func pdfsigValid(t *testing.T, signed []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "signed.pdf")
	if err := os.WriteFile(path, signed, 0o600); err != nil {
		t.Fatal(err)
	}
	sigs := pdfcheck.Pdfsig(t, path, "")
	if len(sigs) != 2 || !sigs[0].SignatureValid || sigs[0].SignerCommonName != "Karen Jensen" || sigs[1].SignerCommonName != "OCES PKI Test Time-Stamping Unit" {
		t.Fatalf("pdfsig: %+v", sigs)
	}
}

func TestBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	artefacts := artefactDir(t)
	start := time.Now()
	e := newEnv(t)
	karen := e.enrol(t, "karen.j", testCPR, true)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.Headless,
		chromedp.IgnoreCertErrors, chromedp.WindowSize(1024, 900), chromedp.Flag("accept-lang", "da"))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	allocCtx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	browserCtx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	newTab := func(t *testing.T, name string) *tab {
		ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
		t.Cleanup(cancelT)
		dir := filepath.Join(artefacts, name)
		_ = os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return &tab{t: t, e: e, ctx: ctx, dir: dir}
	}
	password := "mit eget kodeord 9"

	t.Run("first login, text, sign, download", func(t *testing.T) {
		b := newTab(t, "text")
		b.do("opening", chromedp.Navigate(e.srv.URL+"/"))
		b.login("karen.j", karen.InitialPassword, password, karen.Card)
		text := "Jeg, Karen Jensen, bekræfter hermed aftalen om køb af blåbær og ærter.\n\nÅrhus, 1. december 2026."
		b.do("writing the text", chromedp.SendKeys(chromedp.ID("text"), text))
		b.shot("sign")
		b.submit(`form[action="/sign/text"] button`)
		if n := b.textOf("#page-count"); n != "1" {
			t.Errorf("page count %q", n)
		}
		if st := b.confirm(password, karen.Card); st != http.StatusOK {
			t.Fatalf("signing: HTTP %d", st)
		}
		b.shot("done")
		if ind := b.textOf("#indication"); !strings.Contains(ind, "TOTAL-PASSED") {
			t.Errorf("validation summary: %q", ind)
		}
		signed := b.download()
		pdfsigValid(t, signed)
		cmd := exec.Command("pdftotext", "-enc", "UTF-8", "-", "-")
		cmd.Stdin = bytes.NewReader(signed)
		if out, err := cmd.Output(); err == nil && !strings.Contains(string(out), "blåbær og ærter") {
			t.Errorf("the signed PDF does not hold the text: %q", out)
		}
	})

	t.Run("upload, sign, download without JavaScript", func(t *testing.T) {
		b := newTab(t, "nojs")
		if _, err := chromedp.Call(b.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatal(err)
		}
		b.do("opening", chromedp.Navigate(e.srv.URL+"/login"))
		b.login("karen.j", password, "", karen.Card)
		pdf := corpus.Read(t, "v16-images.pdf")
		path := filepath.Join(t.TempDir(), "kontrakt.pdf")
		if err := os.WriteFile(path, pdf, 0o600); err != nil {
			t.Fatal(err)
		}
		b.do("choosing the file", chromedp.SetUploadFiles(chromedp.ID("file"), []string{path}))
		b.submit(`form[action="/sign/upload"] button`)
		sum := sha256.Sum256(pdf)
		if got := b.textOf("#sha256"); got != hex.EncodeToString(sum[:]) {
			t.Fatalf("the page shows SHA-256 %s, the file's is %x", got, sum)
		}
		if !strings.Contains(b.html("ol.pages"), ".png") {
			t.Error("no page images")
		}
		if st := b.confirm(password, karen.Card); st != http.StatusOK {
			t.Fatalf("signing: HTTP %d", st)
		}
		b.shot("done")
		pdfsigValid(t, b.download())
	})

	t.Run("service provider", func(t *testing.T) {
		refs := make(chan url.Values, 2)
		back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/done" { // the browser asks for /favicon.ico too
				http.NotFound(w, r)
				return
			}
			refs <- r.URL.Query()
			fmt.Fprintf(w, "<!DOCTYPE html><html lang=en><title>Shop</title><h1>Back at the shop: %s</h1>", r.URL.Query().Get("status"))
		}))
		defer back.Close()
		api, client := e.spServer(t, back.URL)
		create := func(doc []byte) (id, signURL string) {
			body, _ := json.Marshal(map[string]string{"document": base64.StdEncoding.EncodeToString(doc), "return_url": back.URL + "/done?order=42", "user_hint": "karen.j"})
			resp, err := client.Post(api.URL+"/api/v1/signing-requests", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var raw map[string]string
			json.NewDecoder(resp.Body).Decode(&raw)
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("creating the request: %d %v", resp.StatusCode, raw)
			}
			return raw["id"], raw["sign_url"]
		}
		doc := corpus.Read(t, "v13-classic.pdf")
		_, signURL := create(doc)
		b := newTab(t, "provider")
		b.do("following the signing address", chromedp.Navigate(signURL))
		if v, _ := chromedp.Run(b.ctx, chromedp.Value(chromedp.ID("user_id"))); v != "karen.j" {
			t.Errorf("the user hint is not offered: %q", v)
		}
		b.do("clearing", chromedp.Clear(chromedp.ID("user_id")))
		b.login("karen.j", password, "", karen.Card)
		if !strings.Contains(b.textOf("main"), "shop") {
			t.Error("the preview does not name the service provider")
		}
		b.confirm(password, karen.Card)
		b.shot("returned")
		q := <-refs
		if q.Get("status") != "signed" || q.Get("order") != "42" || q.Get("reference") == "" {
			t.Fatalf("returned with %v", q)
		}
		get := func() (*http.Response, []byte) {
			resp, err := client.Get(api.URL + "/api/v1/signing-requests/" + q.Get("reference"))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var buf bytes.Buffer
			buf.ReadFrom(resp.Body)
			return resp, buf.Bytes()
		}
		resp, signed := get()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/pdf" {
			t.Fatalf("fetching the signed document: %d %s", resp.StatusCode, signed)
		}
		pdfsigValid(t, signed)
		if resp, _ := get(); resp.StatusCode != http.StatusGone {
			t.Errorf("fetched twice: %d", resp.StatusCode)
		}
		// A refused request goes back with status=cancelled.
		_, signURL = create(doc)
		b.do("following the second address", chromedp.Navigate(signURL))
		b.shot("second-request")
		b.submit(`form[action$="/cancel"] button`)
		if q := <-refs; q.Get("status") != "cancelled" {
			t.Fatalf("refusal returned with %v", q)
		}
	})

	t.Run("self-service: suspend, order a card, code app", func(t *testing.T) {
		b := newTab(t, "selfservice")
		b.do("opening", chromedp.Navigate(e.srv.URL+"/login"))
		b.login("karen.j", password, "", karen.Card)
		b.do("account", chromedp.Navigate(e.srv.URL+"/me"))
		b.shot("account")
		b.submit(`a[hreflang="en"]`) // the language switch, kept in a cookie
		b.shot("account-en")
		if !strings.Contains(b.html("html"), `lang="en"`) || !strings.Contains(b.textOf("h1"), "My account") {
			t.Errorf("the switch did not give English: %q", b.textOf("h1"))
		}
		m := regexp.MustCompile(`/me/certificates/([0-9a-f]+)/suspend`).FindStringSubmatch(b.html("main"))
		if m == nil {
			t.Fatal("no certificate to suspend")
		}
		serial, _ := ca.ParseSerial(m[1])
		stored, err := e.pki.CA.Certificate(context.Background(), serial)
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := stored.X509()
		clicked := time.Now()
		b.submit(`form[action="/me/certificates/` + m[1] + `/suspend"] button`)
		b.shot("suspended")
		if !strings.Contains(b.textOf(".notice"), "certificateHold") {
			t.Errorf("notice: %q", b.textOf(".notice"))
		}
		f := revocation.New(revocation.Config{MaxAge: -1, DisableCRL: true})
		for {
			res, err := f.Check(context.Background(), cert, e.pki.Issuing)
			if err == nil && res.Status == revocation.Hold {
				t.Logf("OCSP says certificateHold %s after the click", time.Since(clicked).Round(time.Millisecond))
				break
			}
			if time.Since(clicked) > 5*time.Second {
				t.Fatalf("OCSP after 5 s: %+v %v", res, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		b.submit(`form[action="/me/card"] button`)
		b.shot("card-ordered")
		if sum, _ := e.svc.Show(context.Background(), "karen.j"); sum.CardOrdered.IsZero() {
			t.Error("the card order is not on the record")
		}
		b.do("code app", chromedp.Navigate(e.srv.URL+"/me/app"))
		keys := regexp.MustCompile(`(?:nøgle|key) (\d{4})`).FindAllStringSubmatch(b.html("main form"), -1)
		if len(keys) != 2 {
			t.Fatalf("the activation asks for %d keys", len(keys))
		}
		b.do("typing the codes", chromedp.SendKeys(chromedp.ID("code1"), code(t, karen.Card, keys[0][1])), chromedp.SendKeys(chromedp.ID("code2"), code(t, karen.Card, keys[1][1])))
		b.shot("app")
		b.submit(`main form button[type=submit]`)
		b.shot("app-activated")
		if !strings.HasPrefix(b.textOf("#otpauth"), "otpauth://totp/") {
			t.Errorf("no otpauth URI: %q", b.textOf("#otpauth"))
		}
		png, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.querySelector("img.qr").naturalWidth > 0`))
		if err != nil || !png {
			t.Errorf("the QR code is not drawn: %v", err)
		}
	})

	t.Run("keyboard only", func(t *testing.T) {
		b := newTab(t, "keyboard")
		b.do("opening", chromedp.Navigate(e.srv.URL+"/login"))
		// tabTo presses Tab until the field has the focus, as a keyboard
		// user does; the skip link and the header come first.
		tabTo := func(id string) {
			t.Helper()
			for range 12 {
				b.do("tab", chromedp.KeyEvent("\t"))
				if got, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.activeElement.id`)); got == id {
					return
				}
			}
			t.Fatalf("Tab never reaches #%s", id)
		}
		tabTo("user_id")
		b.do("typing", chromedp.KeyEvent("karen.j\t"+password))
		b.shot("typed")
		if resp, err := chromedp.RunResponse(b.ctx, chromedp.KeyEvent("\r")); err != nil || resp.Status != http.StatusOK {
			t.Fatalf("Enter on the login form: %v %v", resp, err)
		}
		tabTo("code")
		b.do("typing the code", chromedp.KeyEvent(code(t, karen.Card, b.keyNumber())))
		b.shot("code")
		if resp, err := chromedp.RunResponse(b.ctx, chromedp.KeyEvent("\r")); err != nil || resp.Status != http.StatusOK || !strings.HasSuffix(resp.URL, "/sign") {
			t.Fatalf("Enter on the code form: %v %v", resp, err)
		}
		b.shot("signed-in")
	})

	t.Run("lockout reads as an unknown user", func(t *testing.T) {
		e.enrol(t, "ole.sorensen", "0303901234", false)
		b := newTab(t, "lockout")
		attempt := func(user, pw string) string {
			b.do("opening", chromedp.Navigate(e.srv.URL+"/login"))
			b.do("typing", chromedp.SendKeys(chromedp.ID("user_id"), user), chromedp.SendKeys(chromedp.ID("password"), pw))
			if st := b.submit("main form button[type=submit]"); st != http.StatusUnauthorized {
				t.Errorf("%s: HTTP %d", user, st)
			}
			return b.textOf("#errors")
		}
		unknown := attempt("nobody.here", "whatever 123")
		b.shot("unknown-user")
		for i := range 5 {
			if got := attempt("ole.sorensen", fmt.Sprintf("wrong password %d", i)); got != unknown {
				t.Errorf("wrong password %d: %q, unknown user: %q", i+1, got, unknown)
			}
		}
		locked := attempt("ole.sorensen", testPassword)
		b.shot("locked")
		if locked != unknown {
			t.Errorf("locked account: %q, unknown user: %q", locked, unknown)
		}
	})

	t.Run("a form from another origin is refused", func(t *testing.T) {
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `<!DOCTYPE html><html lang=en><title>Other site</title><form method=post action="%s/login"><input name=user_id value=karen.j><input name=password value=x><button id=go>Go</button></form>`, e.srv.URL)
		}))
		defer evil.Close()
		b := newTab(t, "crossorigin")
		b.do("opening the other site", chromedp.Navigate(evil.URL))
		if st := b.submit("#go"); st != http.StatusForbidden {
			t.Errorf("cross-origin form: HTTP %d", st)
		}
		b.shot("refused")
	})
	t.Logf("browser suite: %s", time.Since(start).Round(100*time.Millisecond))
}
