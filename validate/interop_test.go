package validate_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oces-pki/oces/internal/pdfcheck"
	"github.com/oces-pki/oces/pades/testdata/corpus"
	"github.com/oces-pki/oces/validate"
)

// pdfsigValid is pdfsig's verdict: signature valid and certificate trusted.
func pdfsigValid(t *testing.T, path string) bool {
	t.Helper()
	sigs := pdfcheck.PdfsigWith(t, path, pdfcheck.PdfsigOptions{NSSDir: corpus.Path(t, corpus.NSSDirName)})
	if len(sigs) == 0 {
		t.Fatalf("pdfsig found no signature in %s", path)
	}
	s := sigs[0]
	return s.SignatureValid && strings.Contains(s.CertificateStatus, "Trusted")
}

// TestSameVerdictAsPdfsig: files signed by poppler's pdfsig (with an NSS
// database) and by PDFBox get the verdict pdfsig gives them, untouched and
// with a byte flipped in the signed range.
func TestSameVerdictAsPdfsig(t *testing.T) {
	v := corpusValidator(t)
	files := map[string][]byte{}
	for _, name := range []string{"presigned-pdfsig.pdf", "presigned-pdfsig-field.pdf", "presigned-pdfbox-cades.pdf"} {
		files[name] = corpus.Read(t, name)
	}
	files["pdfsig-add-signature.pdf"] = pdfsigAddSignature(t, basePDF())
	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			for _, variant := range []struct {
				name string
				data []byte
			}{{"as signed", data}, {"a byte flipped", flipSigned(t, data)}} {
				path := filepath.Join(t.TempDir(), "f.pdf")
				if err := os.WriteFile(path, variant.data, 0o644); err != nil {
					t.Fatal(err)
				}
				want := pdfsigValid(t, path)
				r := validatePDF(t, v, variant.data)
				s := r.Signatures[0]
				if got := s.Indication == validate.TotalPassed; got != want {
					t.Errorf("%s: pdfsig says valid=%v, we say %s %s (%s)", variant.name, want, s.Indication, s.SubIndication, s.Reason)
				}
				if variant.name != "as signed" && s.SubIndication != validate.HashFailure {
					t.Errorf("%s: %s %s, want HASH_FAILURE", variant.name, s.Indication, s.SubIndication)
				}
			}
		})
	}
}

// flipSigned flips a byte in the middle of the first signed range (in
// the original document, before any signature).
func flipSigned(t *testing.T, pdf []byte) []byte {
	t.Helper()
	for _, needle := range []string{attacksVisible, "Helvetica", "/MediaBox"} {
		if strings.Contains(string(pdf), needle) {
			return flip(t, pdf, needle)
		}
	}
	t.Fatal("nothing to flip")
	return nil
}

// pdfsigAddSignature signs pdf with `pdfsig -add-signature` and the
// corpus's NSS database.
func pdfsigAddSignature(t *testing.T, pdf []byte) []byte {
	t.Helper()
	bin, err := exec.LookPath("pdfsig")
	if err != nil {
		if pdfcheck.Require() {
			t.Fatal("pdfsig is required")
		}
		t.Skip("pdfsig not installed")
	}
	dir := t.TempDir()
	nss := filepath.Join(dir, "nss")
	if err := os.MkdirAll(nss, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"cert9.db", "key4.db", "pkcs11.txt"} {
		b, err := os.ReadFile(filepath.Join(corpus.Path(t, corpus.NSSDirName), f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(nss, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in, out := filepath.Join(dir, "in.pdf"), filepath.Join(dir, "out.pdf")
	if err := os.WriteFile(in, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-add-signature", "-nssdir", "sql:"+nss, "-nick", "corpus-signer", "-digest", "SHA256",
		"-reason", "test", in, out)
	cmd.Stdin = strings.NewReader("\n")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pdfsig -add-signature: %v: %s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSameVerdictAsOpenSSL: CMS made by `openssl cms -sign`, detached and
// encapsulated, get openssl cms -verify's verdict, and tampered content
// fails both.
func TestSameVerdictAsOpenSSL(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		if pdfcheck.Require() {
			t.Fatal("openssl is required")
		}
		t.Skip("openssl not installed")
	}
	v := corpusValidator(t)
	dir := t.TempDir()
	content := []byte(strings.Repeat("Kontrakt mellem parterne. ", 100))
	in := filepath.Join(dir, "data.bin")
	if err := os.WriteFile(in, content, 0o644); err != nil {
		t.Fatal(err)
	}
	root := corpus.Path(t, "pki/root.pem")
	for _, mode := range []string{"detached", "encapsulated"} {
		t.Run(mode, func(t *testing.T) {
			out := filepath.Join(dir, mode+".p7s")
			args := []string{"cms", "-sign", "-binary", "-md", "sha256", "-in", in, "-signer", corpus.Path(t, "pki/signer.pem"),
				"-inkey", corpus.Path(t, "pki/signer.key"), "-outform", "DER", "-out", out}
			if mode == "encapsulated" {
				args = append(args, "-nodetach")
			}
			if b, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
				t.Fatalf("openssl cms -sign: %v: %s", err, b)
			}
			p7s, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name    string
				content []byte
			}{{"as signed", content}, {"tampered", flip(t, content, "parterne")}} {
				if mode == "encapsulated" && c.name == "tampered" {
					continue // the content is inside the CMS
				}
				var opensslOK bool
				if mode == "detached" {
					opensslOK = pdfcheck.OpenSSLCMSVerifyErr(t, c.content, p7s, root) == nil
				} else {
					r, err := exec.Command(bin, "cms", "-verify", "-binary", "-inform", "DER", "-in", out, "-CAfile", root, "-out", filepath.Join(dir, "o")).CombinedOutput()
					opensslOK = err == nil && strings.Contains(string(r), "Verification successful")
				}
				detached := c.content
				if mode == "encapsulated" {
					detached = nil
				}
				rep, err := v.ValidateCMS(context.Background(), p7s, detached)
				if err != nil {
					t.Fatal(err)
				}
				s := rep.Signatures[0]
				if got := s.Indication == validate.TotalPassed; got != opensslOK {
					t.Errorf("%s: openssl says ok=%v, we say %s %s (%s) %v", c.name, opensslOK, s.Indication, s.SubIndication, s.Reason, s.Warnings)
				}
			}
		})
	}
}
