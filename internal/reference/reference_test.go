package reference

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRead finds the set through OCES_REFERENCE and fails the test on a
// file missing from it; without a set it fails in CI and only logs
// elsewhere.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "oces"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oces", "x.crl"), []byte("crl"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OCES_REFERENCE", dir)
	if got := string(Read(t, "oces/x.crl")); got != "crl" {
		t.Errorf("Read = %q", got)
	}
	missing := &recorder{TB: t}
	runHelper(missing, func() { Read(missing, "oces/none.crl") })
	if !missing.fatal {
		t.Error("a file missing from the set did not fail the test")
	}

	t.Setenv("OCES_REFERENCE", "")
	t.Chdir(t.TempDir()) // no shared/reference above a fresh temporary directory
	if Dir() != "" {
		t.Skipf("a reference set is above %s", os.TempDir())
	}
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		t.Setenv("OCES_REQUIRE_REFERENCE", "")
		r := &recorder{TB: t}
		var got []byte
		runHelper(r, func() { got = Read(r, "oces/x.crl") })
		if r.fatal != (ci != "") || got != nil {
			t.Errorf("CI=%q without a set: fatal %v, data %q", ci, r.fatal, got)
		}
	}
}

// recorder is a testing.TB that records Fatalf instead of stopping the test.
type recorder struct {
	testing.TB
	fatal bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Logf(string, ...any)   {}
func (r *recorder) Fatalf(string, ...any) { r.fatal = true; panic(errStop) }
func (r *recorder) Errorf(string, ...any) { r.fatal = true }
func (r *recorder) Log(...any)            {}
func (r *recorder) Fatal(...any)          { r.fatal = true; panic(errStop) }
func (r *recorder) Skipf(string, ...any)  {}

type stop struct{}

var errStop = stop{}

// runHelper runs fn, recovering the stop that recorder's Fatal raises.
func runHelper(_ *recorder, fn func()) {
	defer func() {
		if v := recover(); v != nil && v != errStop {
			panic(v)
		}
	}()
	fn()
}
