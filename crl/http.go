package crl

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Handler serves the published CRLs (RFC 5280 section 4.2.1.13, fetched
// by HTTP as RFC 2585 section 4 describes):
//
//	GET /crl/<ca>.crl              the full CRL
//	GET /crl/<ca>/<partition>.crl  a partitioned CRL
//	GET /crl/<ca>/delta.crl        the delta CRL
//
// as application/pkix-crl, cacheable until nextUpdate, with an ETag and
// Last-Modified for conditional requests. It answers from memory only.
func (p *Publisher) Handler() http.Handler { return http.HandlerFunc(p.serveHTTP) }

func (p *Publisher) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: use GET", http.StatusMethodNotAllowed)
		return
	}
	doc, known := p.lookup(r.URL.Path)
	if !known {
		http.Error(w, "no such CRL", http.StatusNotFound)
		return
	}
	if doc == nil {
		w.Header().Set("Retry-After", "60")
		http.Error(w, "CRL not generated yet", http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/pkix-crl")
	h.Set("ETag", doc.etag)
	h.Set("Expires", doc.nextUpdate.UTC().Format(http.TimeFormat))
	maxAge := max(int(doc.nextUpdate.Sub(p.now())/time.Second), 0)
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(maxAge))
	http.ServeContent(w, r, "", doc.thisUpdate, bytes.NewReader(doc.der))
}

// lookup finds the document a path names. known is false when the path
// names no CA or partition; doc is nil when it does but nothing has been
// generated yet.
func (p *Publisher) lookup(path string) (doc *document, known bool) {
	rest, ok := strings.CutPrefix(path, "/crl/")
	if !ok {
		return nil, false
	}
	rest, ok = strings.CutSuffix(rest, ".crl")
	if !ok {
		return nil, false
	}
	name, sub, hasSub := strings.Cut(rest, "/")
	st, ok := p.cas[name]
	if !ok {
		return nil, false
	}
	switch {
	case !hasSub:
		return st.full.Load(), true
	case sub == "delta":
		return st.delta.Load(), true
	}
	n, err := strconv.Atoi(sub)
	if err != nil || n < 0 || strconv.Itoa(n) != sub {
		return nil, false
	}
	if d, ok := (*st.parts.Load())[n]; ok {
		return d, true
	}
	if st.full.Load() == nil {
		return nil, true // nothing generated yet: cannot tell
	}
	return nil, false
}
