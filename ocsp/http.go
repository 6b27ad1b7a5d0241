package ocsp

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Path is where the responder is served: POST Path, GET Path/<base64>.
const Path = "/ocsp"

var (
	hdrResponseType = []string{"application/ocsp-response"}
	hdrNoStore      = []string{"no-store"}
	hdrAllow        = []string{"GET, HEAD, POST"}
)

// Handler serves POST /ocsp and GET /ocsp/<base64 request> (RFC 6960
// appendix A.1, RFC 5019 section 5). Mount it in front of any
// http.ServeMux, or with Wrap: a ServeMux cleans paths, which would
// corrupt a base64 request containing "//".
func (r *Responder) Handler() http.Handler { return http.HandlerFunc(r.serveHTTP) }

// Wrap sends /ocsp and /ocsp/... to the responder and everything else to
// next, without the path cleaning of http.ServeMux.
func (r *Responder) Wrap(next http.Handler) http.Handler {
	h := r.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == Path || strings.HasPrefix(req.URL.Path, Path+"/") {
			h.ServeHTTP(w, req)
			return
		}
		next.ServeHTTP(w, req)
	})
}

func (r *Responder) serveHTTP(w http.ResponseWriter, req *http.Request) {
	var der []byte
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		enc, ok := strings.CutPrefix(req.URL.Path, Path+"/")
		if !ok {
			http.NotFound(w, req)
			return
		}
		var err error
		if der, err = r.decodeGET(enc); err != nil {
			r.write(w, req, respMalformed)
			return
		}
	case http.MethodPost:
		if req.URL.Path != Path && req.URL.Path != Path+"/" {
			http.NotFound(w, req)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, int64(r.cfg.MaxRequestSize)))
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "ocsp: request larger than "+strconv.Itoa(r.cfg.MaxRequestSize)+" bytes", http.StatusRequestEntityTooLarge)
			return
		}
		if err != nil {
			http.Error(w, "ocsp: reading request: "+err.Error(), http.StatusBadRequest)
			return
		}
		der = body
	default:
		w.Header()["Allow"] = hdrAllow
		http.Error(w, "ocsp: use GET or POST", http.StatusMethodNotAllowed)
		return
	}
	resp := r.respond(req.Context(), der)
	r.write(w, req, resp) // net/http copies the body: io.Writer must not retain it
	recycle(resp)
}

// decodeGET decodes the base64 of a GET request. The path arrives
// unescaped (%2B, %2F, %3D decoded by net/http); clients that leave '/' or
// '+' raw, drop the padding, use the URL-safe alphabet or let '+' become a
// space are all understood.
func (r *Responder) decodeGET(enc string) ([]byte, error) {
	if len(enc) > base64.StdEncoding.EncodedLen(r.cfg.MaxRequestSize) {
		return nil, errMalformed
	}
	if strings.ContainsAny(enc, " -_") {
		enc = strings.NewReplacer(" ", "+", "-", "+", "_", "/").Replace(enc)
	}
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(enc, "="))
}

// write sends an OCSPResponse with the caching headers of RFC 5019
// section 6.2, answering a matching conditional GET with 304.
func (r *Responder) write(w http.ResponseWriter, req *http.Request, resp *response) {
	h := w.Header()
	h["Content-Type"] = hdrResponseType
	if resp.etag == nil || resp.unique || resp.single.nextUpdate.IsZero() {
		h["Cache-Control"] = hdrNoStore
		h["Content-Length"] = r.headers.contentLength(len(resp.der))
		if req.Method != http.MethodHead {
			_, _ = w.Write(resp.der)
		}
		return
	}
	maxAge := max(0, int64(resp.single.nextUpdate.Sub(r.now())/time.Second))
	h["Cache-Control"] = r.headers.cacheControl(maxAge)
	h["Expires"] = r.headers.date(resp.single.nextUpdate)
	h["Last-Modified"] = r.headers.date(resp.single.thisUpdate)
	h["Etag"] = resp.etag
	if req.Method != http.MethodPost && notModified(req, resp) {
		delete(h, "Content-Type")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h["Content-Length"] = r.headers.contentLength(len(resp.der))
	if req.Method != http.MethodHead {
		_, _ = w.Write(resp.der)
	}
}

// notModified evaluates If-None-Match, or failing that If-Modified-Since
// (RFC 9110 section 13.2.2).
func notModified(req *http.Request, resp *response) bool {
	if inm := req.Header.Get("If-None-Match"); inm != "" {
		for _, tag := range strings.Split(inm, ",") {
			tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
			if tag == "*" || tag == resp.etag[0] {
				return true
			}
		}
		return false
	}
	if ims := req.Header.Get("If-Modified-Since"); ims != "" {
		t, err := http.ParseTime(ims)
		return err == nil && !resp.single.thisUpdate.After(t)
	}
	return false
}
