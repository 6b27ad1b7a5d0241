package server_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oces-pki/oces/server"
)

func probe(h http.Handler) (int, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	return rec.Code, strings.TrimSpace(rec.Body.String())
}

// TestReadyRunsChecksAtMostOncePerTTL: however many ask, the checks (an
// HSM operation each) run once per ttl, concurrent callers sharing a run.
func TestReadyRunsChecksAtMostOncePerTTL(t *testing.T) {
	t.Parallel()
	var runs atomic.Int64
	h := server.Ready(time.Second, time.Second, server.Check{Name: "hsm", Run: func(context.Context) error {
		runs.Add(1)
		time.Sleep(50 * time.Millisecond)
		return nil
	}})
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if code, body := probe(h); code != http.StatusOK || body != "ok" {
				t.Errorf("%d %q", code, body)
			}
		})
	}
	wg.Wait()
	for range 20 {
		probe(h)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("70 probes within the ttl ran the checks %d times, want 1", n)
	}
	time.Sleep(1100 * time.Millisecond)
	probe(h)
	if n := runs.Load(); n != 2 {
		t.Errorf("after the ttl the checks ran %d times in all, want 2", n)
	}
}

func TestReadyFailures(t *testing.T) {
	t.Parallel()
	ok := server.Check{Name: "store", Run: func(context.Context) error { return nil }}
	cases := []struct {
		name  string
		check server.Check
		want  string
	}{
		{"named", server.Check{Name: "hsm", Run: func(context.Context) error { return errors.New("token down") }}, "hsm: token down"},
		{"prefixed once", server.Check{Name: "hsm", Run: func(context.Context) error { return errors.New("hsm: token down") }}, "hsm: token down"},
		{"too slow", server.Check{Name: "hsm", Run: func(context.Context) error { time.Sleep(time.Second); return nil }}, "checks did not finish within 100ms"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, body := probe(server.Ready(time.Second, 100*time.Millisecond, ok, tc.check))
			if code != http.StatusServiceUnavailable || body != tc.want {
				t.Errorf("%d %q, want 503 %q", code, body, tc.want)
			}
		})
	}
}
