package crl_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/crl"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	e := newEnv(t, newHierarchy(t, "rsa-2048", "p-256"), 2, crl.Config{})
	e.issue(t)
	srv := httptest.NewServer(e.pub.Handler())
	t.Cleanup(srv.Close)

	// Before the first run the CRLs are not there yet: 503, never 500.
	resp, err := http.Get(srv.URL + "/crl/issuing-1.crl")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("before the first run: %s", resp.Status)
	}
	if err := e.pub.Generate(context.Background(), "issuing-1"); err != nil {
		t.Fatal(err)
	}
	full := e.file(t, "issuing-1.crl")
	info, err := crl.Show(full)
	if err != nil {
		t.Fatal(err)
	}
	etag := func(path string) string {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("ETag")
	}

	tests := []struct {
		name, method, path string
		header             map[string]string
		status             int
		body               []byte // checked when set
	}{
		{"full", "GET", "/crl/issuing-1.crl", nil, 200, full},
		{"partition", "GET", "/crl/issuing-1/0.crl", nil, 200, e.file(t, "issuing-1/0.crl")},
		{"delta", "GET", "/crl/issuing-1/delta.crl", nil, 200, e.file(t, "issuing-1/delta.crl")},
		{"head", "HEAD", "/crl/issuing-1.crl", nil, 200, []byte{}},
		{"if-none-match", "GET", "/crl/issuing-1.crl", map[string]string{"If-None-Match": etag("/crl/issuing-1.crl")}, 304, nil},
		{"if-modified-since", "GET", "/crl/issuing-1.crl", map[string]string{"If-Modified-Since": info.ThisUpdate.Add(time.Second).UTC().Format(http.TimeFormat)}, 304, nil},
		{"stale etag", "GET", "/crl/issuing-1.crl", map[string]string{"If-None-Match": `"0000"`}, 200, full},
		{"unknown CA", "GET", "/crl/nope.crl", nil, 404, nil},
		{"unknown partition", "GET", "/crl/issuing-1/7.crl", nil, 404, nil},
		{"non-canonical partition", "GET", "/crl/issuing-1/00.crl", nil, 404, nil},
		{"negative partition", "GET", "/crl/issuing-1/-1.crl", nil, 404, nil},
		{"garbage", "GET", "/crl/issuing-1/x/y.crl", nil, 404, nil},
		{"no suffix", "GET", "/crl/issuing-1", nil, 404, nil},
		{"post", "POST", "/crl/issuing-1.crl", nil, 405, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %s, want %d (%s)", resp.Status, tc.status, body)
			}
			if tc.body != nil && string(body) != string(tc.body) {
				t.Errorf("body of %d bytes, want %d", len(body), len(tc.body))
			}
			if tc.status >= 400 && (len(body) == 0 || len(body) > 100) {
				t.Errorf("error body %q: want a short text", body)
			}
			if tc.status != 200 {
				return
			}
			h := resp.Header
			maxAge, _ := strconv.Atoi(strings.TrimPrefix(h.Get("Cache-Control"), "public, max-age="))
			wantAge := int(info.NextUpdate.Sub(e.clock.Now()) / time.Second)
			if h.Get("Content-Type") != "application/pkix-crl" || h.Get("ETag") == "" ||
				h.Get("Last-Modified") != info.ThisUpdate.UTC().Format(http.TimeFormat) ||
				h.Get("Expires") != info.NextUpdate.UTC().Format(http.TimeFormat) || maxAge < wantAge-2 || maxAge > wantAge {
				t.Errorf("headers %v (want max-age %d)", h, wantAge)
			}
		})
	}
}

// TestRunOnChange checks that a status change reaches the served CRL
// through the background loop, not through the request.
func TestRunOnChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, newHierarchy(t, "rsa-2048", "p-256"), 2, crl.Config{MinGap: 20 * time.Millisecond, Clock: time.Now})
	c := e.issue(t)
	srv := httptest.NewServer(e.pub.Handler())
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.pub.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	waitFor := func(path, serial string, present bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if resp, err := http.Get(srv.URL + path); err == nil {
				der, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					_, got := entries(t, der)
					if _, ok := got[serial]; ok == present {
						return
					}
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("%s: serial %s present=%t never served", path, serial, !present)
	}
	waitFor("/crl/issuing-1.crl", serialHex(c), false)
	e.clock.Set(time.Now()) // the CA's clock: revoke now, not an hour ago
	if _, err := e.ca.Suspend(context.Background(), c.Serial, audit.System); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ca.Revoke(context.Background(), c.Serial, ca.ReasonKeyCompromise, time.Time{}, audit.System); err != nil {
		t.Fatal(err)
	}
	waitFor("/crl/issuing-1.crl", serialHex(c), true)
	waitFor("/crl/issuing-1/0.crl", serialHex(c), true)
}
