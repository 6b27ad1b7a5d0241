package pades

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// The PDFBox and Bouncy Castle jars of Debian's libpdfbox2-java and
// libbcpkix-java.
var pdfboxJars = []string{"pdfbox2.jar", "fontbox2.jar", "commons-logging.jar", "bcprov.jar", "bcpkix.jar", "bcutil.jar"}

var pdfbox struct {
	once    sync.Once
	dir, cp string
	err     string
}

// pdfboxTool compiles testdata/unit/pdfbox/PdfBoxTool.java once per test binary
// and returns a function that runs it.
func pdfboxTool(tb testing.TB) func(args ...string) string {
	tb.Helper()
	java := needTool(tb, "java")
	javac := needTool(tb, "javac")
	var cp []string
	for _, j := range pdfboxJars {
		p := filepath.Join("/usr/share/java", j)
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("OCES_REQUIRE_TOOLS") != "" {
				tb.Fatalf("%s is required (OCES_REQUIRE_TOOLS is set)", p)
			}
			tb.Skipf("%s not installed", p)
		}
		cp = append(cp, p)
	}
	pdfbox.once.Do(func() {
		dir, err := os.MkdirTemp("", "pades-pdfbox-")
		if err != nil {
			pdfbox.err = err.Error()
			return
		}
		pdfbox.dir = dir
		pdfbox.cp = strings.Join(append(cp, dir), ":")
		out, err := exec.Command(javac, "-cp", pdfbox.cp, "-d", dir, filepath.Join("testdata", "unit", "pdfbox", "PdfBoxTool.java")).CombinedOutput()
		if err != nil {
			pdfbox.err = fmt.Sprintf("javac: %v\n%s", err, out)
		}
	})
	if pdfbox.err != "" {
		tb.Fatal(pdfbox.err)
	}
	return func(args ...string) string {
		tb.Helper()
		out, err := exec.Command(java, append([]string{"-cp", pdfbox.cp, "PdfBoxTool"}, args...)...).CombinedOutput()
		if err != nil {
			tb.Fatalf("PdfBoxTool %s: %v\n%s", args[0], err, out)
		}
		return string(out)
	}
}

var pdfboxLine = regexp.MustCompile(`(?m)^signature field=(\S+) subfilter=(\S+) valid=(\w+) whole=(\w+)$`)

// checkPDFBox has PDFBox verify every signature and time-stamp of data
// over its /ByteRange with Bouncy Castle.
func checkPDFBox(tb testing.TB, data []byte, want int) {
	tb.Helper()
	run := pdfboxTool(tb)
	path := filepath.Join(tb.TempDir(), "verify.pdf")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	out := run("verify", path)
	m := pdfboxLine.FindAllStringSubmatch(out, -1)
	if len(m) != want {
		tb.Fatalf("PDFBox found %d signatures, want %d:\n%s", len(m), want, out)
	}
	for i, s := range m {
		if s[3] != "true" {
			tb.Errorf("PDFBox: signature #%d (%s, %s) does not verify:\n%s", i+1, s[1], s[2], out)
		}
		if (s[4] == "true") != (i == want-1) {
			tb.Errorf("PDFBox: signature #%d covers the whole file: %s", i+1, s[4])
		}
	}
}

// pdfboxSign has PDFBox add a signature: an earlier signature by another
// implementation, which every later update must leave valid.
func pdfboxSign(tb testing.TB, data []byte) []byte {
	tb.Helper()
	run := pdfboxTool(tb)
	p := newPKI(tb)
	dir := tb.TempDir()
	key, err := x509.MarshalPKCS8PrivateKey(p.signer)
	if err != nil {
		tb.Fatal(err)
	}
	files := map[string][]byte{"in.pdf": data, "key.p8": key, "cert.der": p.cert.Raw, "issuing.der": p.issuing.Raw}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	f := func(n string) string { return filepath.Join(dir, n) }
	run("sign", f("in.pdf"), f("out.pdf"), f("key.p8"), f("cert.der"), f("issuing.der"))
	out, err := os.ReadFile(f("out.pdf"))
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestEarlierPDFBoxSignature: a file signed by PDFBox, then by us, then a
// DSS and a document time-stamp; pdfsig and PDFBox must find every
// signature valid after each step.
func TestEarlierPDFBoxSignature(t *testing.T) {
	t.Parallel()
	for _, sh := range shapesNamed(t, "pdf-1.7 CRLF three pages", "form with indirect fields", "object streams (qpdf)") {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			orig := sh.make(t)
			first := pdfboxSign(t, orig)
			if !bytes.HasPrefix(first, orig) {
				t.Fatal("PDFBox did not save incrementally")
			}
			d := mustOpen(t, first)
			sigs, err := d.Signatures()
			if err != nil || len(sigs) != 1 || !sigs[0].CoversWholeFile || sigs[0].Name != "PDFBox signer" {
				t.Fatalf("Signatures of the PDFBox file: %+v, %v", sigs, err)
			}
			checkPdfsig(t, first, 1)

			second := signPKCS7(t, d, SignatureOptions{Name: "Jens Hansen"})
			checkPdfsig(t, second, 2)
			checkPDFBox(t, second, 2)
			qpdfCheck(t, second)

			var lt bytes.Buffer
			if err := mustOpen(t, second).AddDSS(&lt, DSS{Certs: [][]byte{newPKI(t).issuing.Raw}}); err != nil {
				t.Fatal(err)
			}
			token, _ := newTSA(t)
			var lta bytes.Buffer
			if err := mustOpen(t, lt.Bytes()).AddDocTimeStamp(context.Background(), &lta, TimeStampOptions{}, token); err != nil {
				t.Fatal(err)
			}
			checkPdfsig(t, lta.Bytes(), 3)
			checkPDFBox(t, lta.Bytes(), 3)
			qpdfCheck(t, lta.Bytes())
		})
	}
}

var pdfcpuCLI struct {
	once sync.Once
	dir  string
	err  string
}

// pdfcpuBinary builds the pdfcpu CLI of the module version this package
// uses, once per test binary.
func pdfcpuBinary(tb testing.TB) string {
	tb.Helper()
	goTool := needTool(tb, "go")
	pdfcpuCLI.once.Do(func() {
		dir, err := os.MkdirTemp("", "pades-pdfcpu-")
		if err != nil {
			pdfcpuCLI.err = err.Error()
			return
		}
		pdfcpuCLI.dir = dir
		cmd := exec.Command(goTool, "install", "github.com/pdfcpu/pdfcpu/cmd/pdfcpu@v0.15.0")
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-buildvcs=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			pdfcpuCLI.err = fmt.Sprintf("building pdfcpu: %v\n%s", err, out)
		}
	})
	if pdfcpuCLI.err != "" {
		tb.Fatal(pdfcpuCLI.err)
	}
	return filepath.Join(pdfcpuCLI.dir, "pdfcpu")
}

// pdfcpuValidate runs `pdfcpu validate` (relaxed mode: the test files use
// standard 14 fonts without widths, which strict mode wants) over data.
func pdfcpuValidate(tb testing.TB, data []byte) {
	tb.Helper()
	bin := pdfcpuBinary(tb)
	path := filepath.Join(tb.TempDir(), "validate.pdf")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	// -c disable: no configuration directory in the user's home.
	out, err := exec.Command(bin, "validate", "-c", "disable", path).CombinedOutput()
	// Relaxed mode repairs what it can and says so: a repair is a failure.
	if err != nil || !strings.Contains(string(out), "validation ok") || strings.Contains(string(out), "repaired") {
		tb.Errorf("pdfcpu validate: %v\n%s", err, out)
	} else if strings.Contains(string(out), "skipped") {
		tb.Logf("pdfcpu validate:\n%s", out)
	}
}

// viaProducer rewrites the file of s with another PDF writer: run gets the
// input and output paths.
func viaProducer(s pdfSpec, run func(tb testing.TB, in, out string) *exec.Cmd) func(testing.TB) []byte {
	return func(tb testing.TB) []byte {
		tb.Helper()
		dir := tb.TempDir()
		in, out := filepath.Join(dir, "in.pdf"), filepath.Join(dir, "out.pdf")
		if err := os.WriteFile(in, genPDF(tb, s), 0o600); err != nil {
			tb.Fatal(err)
		}
		cmd := run(tb, in, out)
		if msg, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("%s: %v\n%s", cmd.Path, err, msg)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
}

var producerShapes = []shape{
	{"written by cairo (pdftocairo)", viaProducer(pdfSpec{Pages: 2, Image: true}, func(tb testing.TB, in, out string) *exec.Cmd {
		return exec.Command(needTool(tb, "pdftocairo"), "-pdf", in, out)
	}), false},
	{"written by poppler (pdfunite)", viaProducer(pdfSpec{Pages: 2, Form: true}, func(tb testing.TB, in, out string) *exec.Cmd {
		return exec.Command(needTool(tb, "pdfunite"), in, in, out)
	}), true},
	{"written by pdfcpu (optimize)", viaProducer(pdfSpec{Pages: 3, Form: true, Inherit: true, Tree: true}, func(tb testing.TB, in, out string) *exec.Cmd {
		return exec.Command(pdfcpuBinary(tb), "optimize", "-c", "disable", in, out)
	}), true},
}

// TestSignProducers signs files other writers made.
func TestSignProducers(t *testing.T) {
	t.Parallel()
	for _, sh := range producerShapes {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			orig := sh.make(t)
			d := mustOpen(t, orig)
			out := signPKCS7(t, d, SignatureOptions{Name: "Jens Hansen", Reason: "Godkendt", Location: "København"})
			checkStructure(t, d, out)
			if names, _ := mustOpen(t, out).reader().fieldNames(); sh.form != names["Navn"] {
				t.Errorf("field Navn present %v, want %v", names["Navn"], sh.form)
			}
			checkPdfsig(t, out, 1)
			checkPDFBox(t, out, 1)
			qpdfCheck(t, out)
			pdfcpuValidate(t, out)
		})
	}
}
