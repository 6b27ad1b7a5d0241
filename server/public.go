package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"net/http"
	"strings"
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

// Check is one readiness probe for /healthz.
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
				failed = append(failed, c.Name+": "+err.Error())
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if len(failed) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(strings.Join(failed, "\n") + "\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
}
