package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/oces-pki/oces/pades/testdata/corpus"
)

func TestSignPages(t *testing.T) {
	e := newEnv(t)
	en := e.enrol(t, "karen.j", testCPR, false)
	c := e.client(t)
	e.login(t, c, "karen.j", testPassword, en.Card)
	pdf := corpus.Read(t, "v14-forms.pdf")
	resp, _ := e.upload(t, c, "aftale.pdf", pdf)
	doc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(doc, "/sign/") {
		t.Fatalf("upload: %d %s", resp.StatusCode, doc)
	}
	_, page := e.do(t, c, "GET", doc, nil)
	sum := sha256.Sum256(pdf)
	if !strings.Contains(page, hex.EncodeToString(sum[:])) || !strings.Contains(page, `src="`+doc+`/page/1.png"`) {
		t.Fatalf("the preview lacks the digest or the first page:\n%s", page)
	}
	if resp, img := e.do(t, c, "GET", doc+"/page/1.png", nil); resp.StatusCode != 200 || !strings.HasPrefix(img, "\x89PNG") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("page image: %d %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	// The images and the document belong to the session: another session
	// gets the login page, an unknown page number an error.
	if resp, _ := e.do(t, e.client(t), "GET", doc+"/page/1.png", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("another session reads the page image: %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, c, "GET", doc+"/page/99.png", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("page 99: %d", resp.StatusCode)
	}

	key := keyNumber.FindStringSubmatch(page)[1]
	wrong := "000000"
	if code(t, en.Card, key) == wrong {
		wrong = "000001"
	}
	resp, page = e.do(t, c, "POST", doc+"/confirm", url.Values{"password": {testPassword}, "code": {wrong}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, `href="#code"`) {
		t.Fatalf("a wrong code: %d\n%s", resp.StatusCode, page)
	}
	if resp, _ := e.do(t, c, "GET", doc+"/signed.pdf", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a signed copy after a wrong code: %d", resp.StatusCode)
	}
	// The key stays the same until its code is given right.
	if k := keyNumber.FindStringSubmatch(page)[1]; k != key {
		t.Errorf("the key changed after a wrong code: %s, then %s", key, k)
	}
	resp, _ = e.do(t, c, "POST", doc+"/confirm", url.Values{"password": {testPassword}, "code": {code(t, en.Card, key)}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != doc+"/done" {
		t.Fatalf("confirm: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A second confirmation (a double click) signs nothing more.
	resp, _ = e.do(t, c, "POST", doc+"/confirm", url.Values{"password": {testPassword}, "code": {"123456"}})
	if resp.Header.Get("Location") != doc+"/done" {
		t.Errorf("a second confirmation: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page = e.do(t, c, "GET", doc+"/done", nil)
	if !regexp.MustCompile(`id="indication"[^>]*>Gyldig \(TOTAL-PASSED\)`).MatchString(page) || !strings.Contains(page, "PAdES B-LTA") || !strings.Contains(page, "Karen Jensen") {
		t.Fatalf("summary:\n%s", page)
	}
	resp, signed := e.do(t, c, "GET", doc+"/signed.pdf", nil)
	if resp.Header.Get("Content-Type") != "application/pdf" || !strings.Contains(resp.Header.Get("Content-Disposition"), `filename="aftale-signed.pdf"`) {
		t.Fatalf("download: %v", resp.Header)
	}
	pdfsigValid(t, []byte(signed))

	// Two confirmations at once (a double click without JavaScript): the
	// second waits for the first and finds the document signed, so one
	// code signs once and no wrong code is counted.
	resp, _ = e.upload(t, c, "to.pdf", pdf)
	doc2 := resp.Header.Get("Location")
	_, page = e.do(t, c, "GET", doc2, nil)
	form := url.Values{"password": {testPassword}, "code": {code(t, en.Card, keyNumber.FindStringSubmatch(page)[1])}}
	var wg sync.WaitGroup
	locations := make([]string, 2)
	for i := range locations {
		wg.Go(func() {
			resp, _ := e.do(t, c, "POST", doc2+"/confirm", form)
			locations[i] = resp.Header.Get("Location")
		})
	}
	wg.Wait()
	if locations[0] != doc2+"/done" || locations[1] != doc2+"/done" {
		t.Errorf("concurrent confirmations went to %v", locations)
	}
	if sum, _ := e.svc.Show(context.Background(), "karen.j"); len(sum.Certificates) != 2 || sum.FailuresLastHour != 1 {
		t.Errorf("after two documents: %d certificates, %d failures (the one wrong code)", len(sum.Certificates), sum.FailuresLastHour)
	}

	// A service provider's address that does not exist says so.
	if resp, body := e.do(t, c, "GET", "/request/no-such-request", nil); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "findes ikke") {
		t.Errorf("unknown request: %d", resp.StatusCode)
	}
}
