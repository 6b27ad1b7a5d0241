package citizen_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/oces-pki/oces/citizen"
)

func TestSigningRequests(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	reqs := citizen.NewSigningRequests(citizen.RequestsConfig{Retention: 10 * time.Minute, Clock: clk.Now})
	sp := citizen.ServiceProvider{ID: "shop", ReturnOrigins: []string{"https://shop.example"}}
	doc := []byte("%PDF-1.7 a document")

	for _, tc := range []struct{ name, url, hint string }{
		{"other origin", "https://evil.example/back", ""},
		{"other port", "https://shop.example:8443/back", ""},
		{"user info", "https://x@shop.example/back", ""},
		{"fragment", "https://shop.example/back#x", ""},
		{"relative", "/back", ""},
		{"javascript", "javascript:alert(1)", ""},
		{"bad hint", "https://shop.example/back", "0101901234"},
	} {
		if _, err := reqs.Create(ctx, sp, citizen.NewRequest{Document: doc, ReturnURL: tc.url, UserHint: tc.hint}); !errors.Is(err, citizen.ErrInvalidRequest) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}

	// A host with sub-delimiters is refused even when registered: the
	// origin goes into the preview's Content-Security-Policy.
	odd := citizen.ServiceProvider{ID: "odd", ReturnOrigins: []string{"https://shop.example;script-src"}}
	if _, err := reqs.Create(ctx, odd, citizen.NewRequest{Document: doc, ReturnURL: "https://shop.example;script-src/back"}); !errors.Is(err, citizen.ErrInvalidRequest) {
		t.Errorf("a host with ';': %v", err)
	}

	r, err := reqs.Create(ctx, sp, citizen.NewRequest{Document: doc, ReturnURL: "https://shop.example/back?order=7", UserHint: "karen.j"})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := reqs.Pending(r.ID); err != nil || string(p.Document) != string(doc) || p.UserHint != "karen.j" {
		t.Fatalf("pending: %+v %v", p, err)
	}
	back, err := reqs.Complete(ctx, r.ID, "karen.j", []byte("signed"))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(back)
	ref := u.Query().Get("reference")
	if u.Host != "shop.example" || u.Query().Get("order") != "7" || u.Query().Get("status") != "signed" || len(ref) != 43 {
		t.Fatalf("return address %s", back)
	}
	if _, err := reqs.Complete(ctx, r.ID, "karen.j", []byte("again")); !errors.Is(err, citizen.ErrRequestGone) {
		t.Errorf("completed twice: %v", err)
	}
	if _, err := reqs.Pending(r.ID); !errors.Is(err, citizen.ErrRequestGone) {
		t.Errorf("still pending: %v", err)
	}
	if _, err := reqs.Collect(ctx, "other-shop", ref); !errors.Is(err, citizen.ErrRequestNotFound) {
		t.Errorf("another provider collected: %v", err)
	}
	got, err := reqs.Collect(ctx, "shop", ref)
	if err != nil || string(got.Signed) != "signed" || got.SignedBy != "karen.j" {
		t.Fatalf("collect: %+v %v", got, err)
	}
	if _, err := reqs.Collect(ctx, "shop", ref); !errors.Is(err, citizen.ErrRequestGone) {
		t.Errorf("collected twice: %v", err)
	}

	// A cancelled request returns with status=cancelled and gives nothing.
	c, _ := reqs.Create(ctx, sp, citizen.NewRequest{Document: doc, ReturnURL: "https://shop.example/back"})
	back, err = reqs.Cancel(ctx, c.ID, "karen.j")
	if err != nil {
		t.Fatal(err)
	}
	u, _ = url.Parse(back)
	if u.Query().Get("status") != "cancelled" {
		t.Fatalf("cancel address %s", back)
	}
	if _, err := reqs.Collect(ctx, "shop", u.Query().Get("reference")); !errors.Is(err, citizen.ErrRequestGone) {
		t.Errorf("collected a cancelled request: %v", err)
	}

	// Nothing outlives the retention.
	p, _ := reqs.Create(ctx, sp, citizen.NewRequest{Document: doc, ReturnURL: "https://shop.example/back"})
	clk.Add(10 * time.Minute)
	if _, err := reqs.Pending(p.ID); !errors.Is(err, citizen.ErrRequestNotFound) {
		t.Errorf("pending after the retention: %v", err)
	}
	if n := reqs.Sweep(); n != 3 || reqs.Len() != 0 {
		t.Errorf("sweep dropped %d, %d left", n, reqs.Len())
	}
}
