package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"
)

// CAFiles serves GET /ca/<name>.cer: each CA certificate in DER, as the
// caIssuers URLs in issued certificates name them (RFC 5280 4.2.2.1).
func CAFiles(certs map[string]*x509.Certificate) http.Handler {
	type file struct {
		der  []byte
		etag string
		mod  time.Time
	}
	files := make(map[string]file, len(certs))
	for name, c := range certs {
		sum := sha256.Sum256(c.Raw)
		files[name] = file{der: c.Raw, etag: `"` + hex.EncodeToString(sum[:16]) + `"`, mod: c.NotBefore}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/ca/"), ".cer")
		f, found := files[name]
		if !ok || !found {
			http.Error(w, "no such CA certificate", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-cert")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Header().Set("ETag", f.etag)
		http.ServeContent(w, r, "", f.mod, bytes.NewReader(f.der))
	})
}

// Check is one probe for /healthz or /readyz.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// Health serves GET /healthz: 200 "ok" when every check passes within a
// second, 503 with the failing checks otherwise.
func Health(checks ...Check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		var failed []string
		for _, c := range checks {
			if err := c.Run(ctx); err != nil {
				failed = append(failed, c.failure(err))
			}
		}
		writeProbe(w, failed)
	})
}

// failure is the line naming the check and its error (once: errors of
// package hsm already start "hsm: ").
func (c Check) failure(err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, c.Name+": ") {
		return msg
	}
	return c.Name + ": " + msg
}

func writeProbe(w http.ResponseWriter, failed []string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if len(failed) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(strings.Join(failed, "\n") + "\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// Ready serves GET /readyz, the readiness probe that takes a broken node
// out of a load balancer: 200 "ok" when every check passes, 503 naming the
// failing checks otherwise. Unlike /healthz (is the process serving?) its
// checks exercise what the services need, such as the HSM. They run at most
// once per ttl, whoever asks and however often, and concurrent callers share
// one run, so the endpoint cannot be used to load the HSM. A run that takes
// longer than timeout is answered 503.
func Ready(ttl, timeout time.Duration, checks ...Check) http.Handler {
	rd := &readiness{ttl: ttl, timeout: timeout, checks: checks}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		failed, ok := rd.result(r.Context())
		if !ok {
			failed = []string{"checks did not finish within " + timeout.String()}
		}
		writeProbe(w, failed)
	})
}

type readiness struct {
	ttl, timeout time.Duration
	checks       []Check

	mu      sync.Mutex
	at      time.Time     // when the last run finished
	failed  []string      // its failures
	running chan struct{} // closed when the run in progress finishes; nil if none
}

// result returns the failures of a run no older than ttl, waiting up to
// timeout for one; ok is false if none finished in time.
func (rd *readiness) result(ctx context.Context) (failed []string, ok bool) {
	rd.mu.Lock()
	if !rd.at.IsZero() && time.Since(rd.at) < rd.ttl {
		defer rd.mu.Unlock()
		return rd.failed, true
	}
	done := rd.running
	if done == nil {
		done = make(chan struct{})
		rd.running = done
		go rd.run(done)
	}
	rd.mu.Unlock()
	timer := time.NewTimer(rd.timeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		return nil, false
	case <-ctx.Done():
		return nil, false
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return rd.failed, true
}

// run runs every check, outside any request's context.
func (rd *readiness) run(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), rd.timeout)
	defer cancel()
	var failed []string
	for _, c := range rd.checks {
		if err := c.Run(ctx); err != nil {
			failed = append(failed, c.failure(err))
		}
	}
	rd.mu.Lock()
	rd.at, rd.failed, rd.running = time.Now(), failed, nil
	rd.mu.Unlock()
	close(done)
}
