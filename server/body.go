package server

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"time"
)

var (
	// errSlowBody is a request body that came slower than MinBodyRate.
	errSlowBody = errors.New("server: request body too slow")
	// errBufferFull is a body that would take a service past its
	// MaxBufferedBytes.
	errBufferFull = errors.New("server: too many request bodies in memory")
)

// readBody reads the request body into memory before the request takes a
// concurrency slot, so that a slow client occupies a connection but no
// slot. It demands l.MinBodyRate bytes a second once l.BodyRateGrace has
// passed: the n-th byte must have come by start + grace + n/rate (and the
// whole body within l.ReadTimeout). The bytes held count against the
// service's l.MaxBufferedBytes; the caller releases reserved when the
// request is done.
//
// A body larger than l.MaxBodyBytes is not refused here: the handler gets
// the bytes up to the bound and then the *http.MaxBytesError, so that it
// answers 413 in its own protocol (an OCSP, RFC 3161 or JSON error).
func readBody(w http.ResponseWriter, r *http.Request, l *Limits, svc *service) (body io.ReadCloser, reserved int64, err error) {
	rc := http.NewResponseController(w)
	start := time.Now()
	hard := start.Add(l.ReadTimeout)
	src := http.MaxBytesReader(w, r.Body, l.MaxBodyBytes)
	// The buffer grows with what arrives, so that a client holds only as
	// much of the service's buffer budget as it has sent (a declared
	// Content-Length reserves nothing). One byte more than the body, to see
	// its end (or one byte too many) without growing.
	want := l.MaxBodyBytes + 1
	if r.ContentLength >= 0 && r.ContentLength < l.MaxBodyBytes {
		want = r.ContentLength + 1
	}
	var buf []byte
	grow := func(n int64) error {
		if !svc.reserve(n) {
			return errBufferFull
		}
		reserved += n
		next := make([]byte, len(buf), int64(cap(buf))+n)
		copy(next, buf)
		buf = next
		return nil
	}
	if err := grow(min(want, 4<<10)); err != nil {
		return nil, reserved, err
	}
	for {
		if len(buf) == cap(buf) {
			if err := grow(max(1, min(int64(cap(buf)), want-int64(cap(buf))))); err != nil {
				return nil, reserved, err
			}
		}
		due := start.Add(l.BodyRateGrace + time.Duration(float64(len(buf)+1)/float64(l.MinBodyRate)*float64(time.Second)))
		if due.After(hard) {
			due = hard
		}
		_ = rc.SetReadDeadline(due)
		n, rerr := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		var tooBig *http.MaxBytesError
		switch {
		case rerr == nil:
		case errors.Is(rerr, io.EOF):
			// No deadline once the body is in, as net/http has it: the
			// connection's background read (which notices a client going
			// away) must not time out, and cancel the request, while the
			// handler works.
			_ = rc.SetReadDeadline(time.Time{})
			return &bufferedBody{r: bytes.NewReader(buf)}, reserved, nil
		case errors.As(rerr, &tooBig):
			_ = rc.SetReadDeadline(time.Time{}) // the connection closes after the answer
			return &bufferedBody{r: bytes.NewReader(buf), err: rerr}, reserved, nil
		case errors.Is(rerr, os.ErrDeadlineExceeded):
			return nil, reserved, errSlowBody
		default:
			return nil, reserved, rerr
		}
	}
}

// bufferedBody is a request body read ahead: the bytes, then err (or EOF).
// Only Read: a WriteTo (io.Copy's shortcut) would skip err.
type bufferedBody struct {
	r   *bytes.Reader
	err error
}

func (b *bufferedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF && b.err != nil {
		err = b.err
	}
	return n, err
}

func (b *bufferedBody) Close() error { return nil }
