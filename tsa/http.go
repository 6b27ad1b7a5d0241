package tsa

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
)

// Media types of RFC 3161 §3.4.
const (
	ContentTypeQuery = "application/timestamp-query"
	ContentTypeReply = "application/timestamp-reply"
)

// Header values of every reply, shared (net/http only reads them).
var (
	hdrReply   = []string{ContentTypeReply}
	hdrNoStore = []string{"no-store"}
)

// ServeHTTP implements the HTTP transport of RFC 3161 §3.4: a POST whose body
// is a TimeStampReq, answered with a TimeStampResp.
//
// A protocol-level rejection (bad algorithm, policy, …) is a normal reply, so
// it is sent with 200 OK like a granted token. Transport problems get a
// matching 4xx and, where a body makes sense, a rejection TimeStampResp:
// wrong method 405, wrong media type 415, oversized body 413 (badRequest).
// A failure on our side (serials, signer) is 503 so that a load balancer
// retries elsewhere; nothing is ever answered with 500.
// Read and write timeouts for slow clients belong to the http.Server.
func (a *Authority) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "tsa: use POST with "+ContentTypeQuery, http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != ContentTypeQuery && !isQueryType(ct) {
		writeReply(w, http.StatusUnsupportedMediaType,
			rejectionResponse(reject(FailBadRequest, "Content-Type must be %s", ContentTypeQuery)))
		return
	}
	if r.ContentLength > a.cfg.MaxRequestBytes {
		writeReply(w, http.StatusRequestEntityTooLarge, tooLarge())
		return
	}
	body, err := readBody(w, r, a.cfg.MaxRequestBytes)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeReply(w, http.StatusRequestEntityTooLarge, tooLarge())
			return
		}
		// The client went away or sent a broken body; tell it if it listens.
		writeReply(w, http.StatusBadRequest,
			rejectionResponse(reject(FailBadRequest, "reading request body failed")))
		return
	}
	resp, rej := a.respond(r.Context(), body)
	status := http.StatusOK
	if rej != nil && (rej.fail == FailSystemFailure || rej.fail == FailTimeNotAvailable) {
		status = http.StatusServiceUnavailable
	}
	writeReply(w, status, resp)
}

// isQueryType reports whether a Content-Type other than the bare media
// type is application/timestamp-query with parameters.
func isQueryType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == ContentTypeQuery
}

// readBody reads at most limit bytes of the request body, in one buffer
// when the client sent a Content-Length.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, limit)
	if r.ContentLength < 0 {
		return io.ReadAll(body)
	}
	// One byte more than announced, so that a body longer than its
	// Content-Length is read to the error net/http gives it.
	buf := make([]byte, r.ContentLength+1)
	n, err := io.ReadFull(body, buf)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return buf[:n], nil
	case err != nil:
		return nil, err
	}
	rest, err := io.ReadAll(body)
	return append(buf, rest...), err
}

func tooLarge() []byte {
	return rejectionResponse(reject(FailBadRequest, "request too large"))
}

func writeReply(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = hdrReply
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	h["Cache-Control"] = hdrNoStore
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client may have gone; nothing left to do
}
