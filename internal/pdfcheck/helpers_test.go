package pdfcheck

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/oces-pki/oces/pades/testdata/corpus"
)

// recorder is a testing.TB that records a failure or skip instead of
// acting on it, so that tests can check that a helper fails when it should.
// Fatal, Fatalf, Skip, Skipf and SkipNow end the goroutine, as they do on a
// real test; everything else is the real test's.
type recorder struct {
	testing.TB
	mu      sync.Mutex
	failed  bool
	skipped bool
	msg     string
}

func (r *recorder) record(skip bool, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if skip {
		r.skipped = true
	} else {
		r.failed = true
	}
	r.msg += msg + "\n"
}

func (r *recorder) Error(args ...any)                 { r.record(false, fmt.Sprint(args...)) }
func (r *recorder) Errorf(format string, args ...any) { r.record(false, fmt.Sprintf(format, args...)) }
func (r *recorder) Fail()                             { r.record(false, "Fail") }
func (r *recorder) FailNow()                          { r.record(false, "FailNow"); runtime.Goexit() }
func (r *recorder) Fatal(args ...any)                 { r.record(false, fmt.Sprint(args...)); runtime.Goexit() }
func (r *recorder) Fatalf(format string, args ...any) {
	r.record(false, fmt.Sprintf(format, args...))
	runtime.Goexit()
}
func (r *recorder) Skip(args ...any) { r.record(true, fmt.Sprint(args...)); runtime.Goexit() }
func (r *recorder) Skipf(format string, args ...any) {
	r.record(true, fmt.Sprintf(format, args...))
	runtime.Goexit()
}
func (r *recorder) SkipNow() { r.record(true, "SkipNow"); runtime.Goexit() }

// mustFail runs f with a recorder and fails t unless f failed; it returns
// the failure message. A skip inside f (a missing tool) skips t.
func mustFail(t *testing.T, f func(tb testing.TB)) string {
	t.Helper()
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	switch {
	case r.skipped:
		t.Skip(r.msg)
	case !r.failed:
		t.Fatal("the helper accepted what it should have refused")
	}
	return r.msg
}

// tampered returns a copy of a corpus file with one byte of its Info
// title changed, inside every signature's signed range, and writes it to
// a temporary file.
func tampered(t *testing.T, name string) (string, []byte) {
	t.Helper()
	data := bytes.Clone(corpus.Read(t, name))
	i := bytes.Index(data, []byte("(OCES corpus"))
	if i < 0 {
		t.Fatalf("%s has no Info title to tamper with", name)
	}
	data[i+6] = 'C'
	return writeTemp(t, "tampered-"+name, data), data
}

// appended returns a copy of a corpus file with a comment appended after
// its last %%EOF, so that its signatures no longer cover the whole file.
func appended(t *testing.T, name string) string {
	t.Helper()
	data := append(bytes.Clone(corpus.Read(t, name)), "% appended after signing\n"...)
	return writeTemp(t, "appended-"+name, data)
}

func signedFiles() []corpus.File {
	var out []corpus.File
	for _, f := range corpus.Files {
		if f.Signatures > 0 {
			out = append(out, f)
		}
	}
	return out
}
