// Package reference reads the real OCES certificates and CRLs that the
// tests compare the CA's output with (DESIGN.md: "Real certificates of
// each kind are in ../shared/reference/oces/: match their structure").
// The set lives beside the repository, not in it: $OCES_REFERENCE names
// its directory, otherwise the nearest "shared/reference" above the
// working directory is used. Where the set is missing the comparison is
// left out with a log line, except in CI (CI or OCES_REQUIRE_REFERENCE
// set), where it fails the test: a check that silently does nothing is
// not a check.
package reference

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir is the reference set's directory, or "" if none is found.
func Dir() string {
	if d := os.Getenv("OCES_REFERENCE"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for d := wd; ; d = filepath.Dir(d) {
		if fi, err := os.Stat(filepath.Join(d, "shared", "reference")); err == nil && fi.IsDir() {
			return filepath.Join(d, "shared", "reference")
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// required tells whether a missing set fails the test.
func required() bool {
	return os.Getenv("CI") != "" || os.Getenv("OCES_REQUIRE_REFERENCE") != ""
}

// Read returns the file at rel (slash-separated, e.g.
// "oces/oces2/partitioned-crl-tdc.crl") in the reference set. Without the
// set it returns nil after logging why, or fails the test in CI. A file
// missing from a set that is there always fails the test.
func Read(tb testing.TB, rel string) []byte {
	tb.Helper()
	dir := Dir()
	if dir == "" {
		if required() {
			tb.Fatalf("reference set not found (set OCES_REFERENCE or put it at ../shared/reference): %s cannot be compared", rel)
		}
		tb.Logf("reference set not found: the comparison with %s is left out (CI requires it)", rel)
		return nil
	}
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		tb.Fatalf("reference %s: %v", rel, err)
	}
	return data
}
