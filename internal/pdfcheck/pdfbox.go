package pdfcheck

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

//go:embed java/PDFBoxCheck.java
var pdfboxSource []byte

// pdfboxJars are Debian's PDFBox 2 (libpdfbox2-java) and Bouncy Castle
// (libbcpkix-java, which brings bcprov and bcutil).
var pdfboxJars = []string{
	"/usr/share/java/pdfbox2.jar", "/usr/share/java/fontbox2.jar", "/usr/share/java/commons-logging.jar",
	"/usr/share/java/bcprov.jar", "/usr/share/java/bcpkix.jar", "/usr/share/java/bcutil.jar",
}

// PDFBoxSignature is what PDFBox and Bouncy Castle saw of one signature.
type PDFBoxSignature struct {
	Field               string   `json:"field"`     // fully qualified field name
	Type                string   `json:"type"`      // /Type: "Sig", "DocTimeStamp" or ""
	Filter              string   `json:"filter"`    // e.g. "Adobe.PPKLite"
	SubFilter           string   `json:"subFilter"` // e.g. "ETSI.CAdES.detached", "ETSI.RFC3161"
	Name                string   `json:"name"`
	Reason              string   `json:"reason"`
	SignDate            string   `json:"signDate"` // /M as an RFC 3339 instant, "" if absent
	ByteRange           []int64  `json:"byteRange"`
	ByteRangeWellFormed bool     `json:"byteRangeWellFormed"` // [0 a b c], 0<a<b, b+c within the file
	GapIsContents       bool     `json:"gapIsContents"`       // the gap is exactly /Contents' <…> string
	CoversDocument      bool     `json:"coversDocument"`      // b+c is the file's length
	ContentsLength      int      `json:"contentsLength"`      // decoded /Contents, zero padding included
	Signer              string   `json:"signer"`              // subject of the signer's (or TSA's) certificate
	CMSValid            bool     `json:"cmsValid"`            // signature and digest (imprint) verify over the ByteRange
	GenTime             string   `json:"genTime"`             // of a document time-stamp
	Problems            []string `json:"problems"`
}

// PDFBoxReport is what PDFBox reported of a whole file.
type PDFBoxReport struct {
	Pages      int               `json:"pages"`
	Version    string            `json:"version"`
	Encrypted  bool              `json:"encrypted"`
	Signatures []PDFBoxSignature `json:"signatures"`
	Error      string            `json:"error"` // PDFBox could not open the file
}

// PDFBoxSignatures opens path with PDFBox and returns its signatures; it
// fails tb if PDFBox cannot open the file or reports a problem with any
// signature (a malformed /ByteRange, a CMS that does not verify). A
// signature of an earlier revision does not cover the whole document; that
// is reported in CoversDocument, not as a problem.
func PDFBoxSignatures(tb testing.TB, path string) []PDFBoxSignature {
	tb.Helper()
	rep := PDFBox(tb, path, "")
	if rep.Error != "" {
		tb.Fatalf("pdfcheck: PDFBox could not open %s: %s", path, rep.Error)
	}
	for _, s := range rep.Signatures {
		if len(s.Problems) > 0 || !s.CMSValid {
			tb.Fatalf("pdfcheck: PDFBox, signature %q of %s: cmsValid=%v, problems: %s", s.Field, path, s.CMSValid, strings.Join(s.Problems, "; "))
		}
	}
	return rep.Signatures
}

// PDFBox opens path (with password, if not empty) in the Java program
// java/PDFBoxCheck.java and returns its report without judging it.
func PDFBox(tb testing.TB, path, password string) PDFBoxReport {
	tb.Helper()
	java := lookPath(tb, "java")
	classes := pdfboxClasses(tb)
	args := []string{"-cp", classes + ":" + strings.Join(pdfboxJars, ":"), "PDFBoxCheck", path}
	if password != "" {
		args = append(args, password)
	}
	r := run(tb, nil, java, args...)
	var rep PDFBoxReport
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &rep); err != nil {
		tb.Fatalf("pdfcheck: PDFBoxCheck %s: exit status %d, output not understood (%v):\n%s", path, r.code, err, r.combined())
	}
	if (r.code != 0) != (rep.Error != "") {
		tb.Fatalf("pdfcheck: PDFBoxCheck %s: exit status %d with report %+v:\n%s", path, r.code, rep, r.stderr)
	}
	return rep
}

var (
	pdfboxOnce    sync.Once
	pdfboxDir     string
	pdfboxErr     error
	pdfboxMissing string
)

// pdfboxClasses compiles PDFBoxCheck.java once per test binary, into a
// directory under the user cache named by a hash of the source, so that
// the test binaries of other packages reuse it.
func pdfboxClasses(tb testing.TB) string {
	tb.Helper()
	pdfboxOnce.Do(func() {
		for _, j := range pdfboxJars {
			if _, err := os.Stat(j); err != nil {
				pdfboxMissing = fmt.Sprintf("%s not found (Debian packages libpdfbox2-java and libbcpkix-java)", j)
				return
			}
		}
		javac, err := exec.LookPath("javac")
		if err != nil {
			pdfboxMissing = "javac not found in PATH (Debian package default-jdk-headless)"
			return
		}
		pdfboxDir, pdfboxErr = compilePDFBox(javac)
	})
	if pdfboxMissing != "" {
		missing(tb, "%s", pdfboxMissing)
	}
	if pdfboxErr != nil {
		tb.Fatalf("pdfcheck: compiling PDFBoxCheck.java: %v", pdfboxErr)
	}
	return pdfboxDir
}

func compilePDFBox(javac string) (string, error) {
	sum := sha256.Sum256(append(append([]byte{}, pdfboxSource...), strings.Join(pdfboxJars, ":")...))
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "oces-pdfcheck", hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(filepath.Join(dir, "PDFBoxCheck.class")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "PDFBoxCheck.java")
	if err := os.WriteFile(src, pdfboxSource, 0o644); err != nil {
		return "", err
	}
	out := filepath.Join(tmp, "classes")
	if b, err := exec.Command(javac, "-nowarn", "-cp", strings.Join(pdfboxJars, ":"), "-d", out, src).CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w: %s", err, b)
	}
	// Another test binary may have won the race; its classes are the same.
	if err := os.Rename(out, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "PDFBoxCheck.class")); statErr != nil {
			return "", err
		}
	}
	return dir, nil
}
