package pdfcheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oces-pki/oces/pades/testdata/corpus"
)

func nssDir(t *testing.T) string { return "sql:" + corpus.Path(t, corpus.NSSDirName) }

// TestPdfsigSigned: pdfsig, with the corpus NSS database, finds every
// signature of the signed fixtures valid and trusted, and its SubFilter.
func TestPdfsigSigned(t *testing.T) {
	t.Parallel()
	for _, f := range signedFiles() {
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			sigs := Pdfsig(t, corpus.Path(t, f.Name), nssDir(t))
			if len(sigs) != f.Signatures {
				t.Fatalf("%d signatures, want %d", len(sigs), f.Signatures)
			}
			s := sigs[0]
			if s.Index != 1 || s.FieldName != "Signature1" || s.SignerCommonName != corpus.SignerCN || s.SubFilter != strings.Split(f.SubFilter, ",")[0] {
				t.Errorf("signature 1: %+v", s)
			}
			if !s.SignatureValid || s.CertificateStatus != "Certificate is Trusted." || s.HashAlgorithm != "SHA-256" {
				t.Errorf("signature 1 not valid and trusted: %+v", s)
			}
			// Only the last signature covers the whole file.
			if s.TotalDocument != (f.Signatures == 1) || len(s.Ranges) != 2 || s.Ranges[0][0] != 0 {
				t.Errorf("signature 1 ranges %v, total %v", s.Ranges, s.TotalDocument)
			}
			if f.Signatures == 2 {
				// poppler 22.12 cannot verify an ETSI.RFC3161 document time-stamp.
				ts := sigs[1]
				if ts.SubFilter != "unknown" || ts.SignatureValid || ts.SignatureStatus != "Signature has not yet been verified." || !ts.TotalDocument {
					t.Errorf("document time-stamp: %+v", ts)
				}
			}
		})
	}
}

func TestPdfsigRejects(t *testing.T) {
	t.Parallel()
	t.Run("tampered", func(t *testing.T) {
		t.Parallel()
		path, _ := tampered(t, "presigned-pdfsig-field.pdf")
		sigs := Pdfsig(t, path, nssDir(t))
		if len(sigs) != 1 || sigs[0].SignatureValid || sigs[0].SignatureStatus != "Digest Mismatch." {
			t.Errorf("pdfsig on a tampered file: %+v", sigs)
		}
	})
	t.Run("appended", func(t *testing.T) {
		t.Parallel()
		sigs := Pdfsig(t, appended(t, "presigned-pdfbox-cades.pdf"), nssDir(t))
		if len(sigs) != 1 || sigs[0].TotalDocument || !sigs[0].SignatureValid {
			t.Errorf("pdfsig on a file with bytes after the signed revision: %+v", sigs)
		}
	})
	t.Run("untrusted root", func(t *testing.T) {
		t.Parallel()
		certutil := lookPath(t, "certutil")
		dir := t.TempDir()
		if r := run(t, nil, certutil, "-N", "-d", "sql:"+dir, "--empty-password"); r.code != 0 {
			t.Fatalf("certutil -N: %s", r.combined())
		}
		sigs := Pdfsig(t, corpus.Path(t, "presigned-pdfsig.pdf"), "sql:"+dir)
		if len(sigs) != 1 || !sigs[0].SignatureValid || sigs[0].CertificateStatus != "Certificate issuer is unknown." {
			t.Errorf("pdfsig with an empty NSS database: %+v", sigs)
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		t.Parallel()
		msg := mustFail(t, func(tb testing.TB) { Pdfsig(tb, corpus.Path(t, "truncated.pdf"), "") })
		if !strings.Contains(msg, "exit status 1") {
			t.Errorf("failure message %q", msg)
		}
	})
}

// TestPdfcpuSigned records what pdfcpu v0.15.0 makes of the signed
// fixtures offline: sound signatures whose certificates carry no
// revocation pointers are of unknown validity, never valid.
func TestPdfcpuSigned(t *testing.T) {
	t.Parallel()
	root := corpus.Path(t, corpus.RootCert)
	for _, f := range signedFiles() {
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			path := corpus.Path(t, f.Name)
			out := PdfcpuSignatures(t, path)
			if !strings.Contains(out, "pdfcpu is offline") {
				t.Errorf("output does not say pdfcpu ran offline:\n%s", out)
			}
			sigs, out, err := PdfcpuSignaturesErr(t, path, PdfcpuOptions{TrustedCerts: []string{root}, All: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(sigs) != f.Signatures {
				t.Fatalf("%d results, want %d:\n%s", len(sigs), f.Signatures, out)
			}
			// pdfcpu lists the latest revision first. It numbers revisions
			// from 1 for the latest but takes only 0 for the current one, so
			// every signature but a document time-stamp is "historical" to
			// it: DocModified "unknown" even when the digest matched.
			sig := sigs[len(sigs)-1]
			if f.Signatures == 2 {
				ts := sigs[0]
				if !ts.Timestamp() || ts.SubFilter != "ETSI.RFC3161" || ts.Signer != "OCES Corpus Test TSA" || ts.DocModified != "false" ||
					ts.Reason != "signer's certificate revocation status is unknown" || !strings.Contains(ts.Type, "not locally validated") {
					t.Errorf("document time-stamp: %+v", ts)
				}
			}
			if sig.Field != "Signature1" || sig.Signer != corpus.SignerCN || sig.SubFilter != strings.Split(f.SubFilter, ",")[0] {
				t.Errorf("signature: %+v", sig)
			}
			if sig.Status != "validity of the signature is unknown" || sig.Reason != "signer's certificate revocation status is unknown" || sig.DocModified != "unknown" {
				t.Errorf("signature status %q, reason %q, DocModified %q", sig.Status, sig.Reason, sig.DocModified)
			}
			// pdfcpu shows PAdES "B-B" only for a signature it finds valid,
			// which needs revocation data; its profile check left no problem.
			if sig.PAdES != "" || strings.Contains(strings.Join(sig.Problems, "\n"), "validate baseline B profile") {
				t.Errorf("PAdES %q, problems %q", sig.PAdES, sig.Problems)
			}
			if !strings.Contains(strings.Join(sig.Problems, "\n"), "pdfcpu is offline, unable to perform certificate revocation checking") {
				t.Errorf("problems %q", sig.Problems)
			}
		})
	}
}

func TestPdfcpuRejects(t *testing.T) {
	t.Parallel()
	root := corpus.Path(t, corpus.RootCert)
	t.Run("tampered", func(t *testing.T) {
		t.Parallel()
		path, _ := tampered(t, "presigned-pdfbox-cades.pdf")
		sigs, out, err := PdfcpuSignaturesErr(t, path, PdfcpuOptions{TrustedCerts: []string{root}})
		if err != nil {
			t.Fatal(err)
		}
		if len(sigs) != 1 || !sigs[0].Invalid() || sigs[0].DocModified != "true" || sigs[0].Reason != "document has been modified" {
			t.Errorf("pdfcpu on a tampered file: %+v\n%s", sigs, out)
		}
		mustFail(t, func(tb testing.TB) { PdfcpuSignatures(tb, path) })
	})
	t.Run("appended after a time-stamp", func(t *testing.T) {
		t.Parallel()
		sigs, out, err := PdfcpuSignaturesErr(t, appended(t, "presigned-doctimestamp.pdf"), PdfcpuOptions{TrustedCerts: []string{root}})
		if err != nil {
			t.Fatal(err)
		}
		// Even without All, pdfcpu goes on past a document time-stamp to the
		// latest signature.
		if len(sigs) != 2 || !sigs[0].Timestamp() || sigs[0].Valid() || sigs[0].Reason != "signature data is malformed" ||
			!strings.Contains(strings.Join(sigs[0].Problems, " "), "signed revision boundary mismatch") {
			t.Errorf("pdfcpu on a file with bytes after the time-stamped revision: %+v\n%s", sigs, out)
		}
	})
	t.Run("appended after a signature", func(t *testing.T) {
		t.Parallel()
		// pdfcpu v0.15.0 checks that the signed revision ends at the end of
		// the file only for what it takes as the current revision, which
		// (see TestPdfcpuSigned) is never a signature's: bytes appended
		// after a signature go unnoticed. Other verifiers must catch that.
		sigs, out, err := PdfcpuSignaturesErr(t, appended(t, "presigned-pdfbox-cades.pdf"), PdfcpuOptions{TrustedCerts: []string{root}})
		if err != nil {
			t.Fatal(err)
		}
		if len(sigs) != 1 || sigs[0].Invalid() || strings.Contains(strings.Join(sigs[0].Problems, " "), "boundary") {
			t.Errorf("pdfcpu noticed bytes after the signed revision; update this test and the doc of PdfcpuSignature: %+v\n%s", sigs, out)
		}
	})
	t.Run("untrusted root", func(t *testing.T) {
		t.Parallel()
		sigs, _, err := PdfcpuSignaturesErr(t, corpus.Path(t, "presigned-pdfsig.pdf"), PdfcpuOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(sigs) != 1 || sigs[0].Reason != "signer's certificate path was not resolved using the configured local certificate store" {
			t.Errorf("pdfcpu without a trusted root: %+v", sigs)
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		t.Parallel()
		_, _, err := PdfcpuSignaturesErr(t, corpus.Path(t, "v13-classic.pdf"), PdfcpuOptions{})
		if err == nil || !strings.Contains(err.Error(), "no signatures present") {
			t.Errorf("pdfcpu on an unsigned file: %v", err)
		}
	})
	t.Run("validate strict", func(t *testing.T) {
		t.Parallel()
		// pdfcpu's strict mode wants /FirstChar on a standard 14 font's
		// dictionary in PDF 1.7, which almost no writer puts there.
		v := PdfcpuValidate(t, corpus.Path(t, "presigned-pdfsig-field.pdf"))
		if v.Strict || !strings.Contains(v.StrictOutput, "FirstChar missing") {
			t.Errorf("pdfcpu validate --mode strict: %+v", v)
		}
		mustFail(t, func(tb testing.TB) { PdfcpuValidate(tb, corpus.Path(t, "truncated.pdf")) })
	})
}

// TestPDFBoxSigned: PDFBox reads every signature of the signed fixtures,
// and Bouncy Castle verifies each CMS and time-stamp token over its
// ByteRange.
func TestPDFBoxSigned(t *testing.T) {
	t.Parallel()
	for _, f := range signedFiles() {
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			path := corpus.Path(t, f.Name)
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			sigs := PDFBoxSignatures(t, path)
			if len(sigs) != f.Signatures {
				t.Fatalf("%d signatures, want %d", len(sigs), f.Signatures)
			}
			subFilters := strings.Split(f.SubFilter, ", ")
			for i, s := range sigs {
				last := i == len(sigs)-1
				if s.SubFilter != subFilters[i] || !s.CMSValid || !s.GapIsContents || s.CoversDocument != last {
					t.Errorf("signature %d: %+v", i+1, s)
				}
				if last && s.ByteRange[2]+s.ByteRange[3] != st.Size() {
					t.Errorf("last ByteRange %v ends before the file's %d bytes", s.ByteRange, st.Size())
				}
				wantType, wantSigner := "Sig", "CN=OCES Corpus Test Signer"
				if s.SubFilter == "ETSI.RFC3161" {
					wantType, wantSigner = "DocTimeStamp", "CN=OCES Corpus Test TSA"
					if s.GenTime == "" {
						t.Errorf("document time-stamp without genTime: %+v", s)
					}
				}
				if s.Type != wantType || !strings.Contains(s.Signer, wantSigner) || s.Filter != "Adobe.PPKLite" {
					t.Errorf("signature %d: type %q signer %q filter %q", i+1, s.Type, s.Signer, s.Filter)
				}
			}
		})
	}
}

func TestPDFBoxRejects(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"presigned-pdfsig.pdf", "presigned-doctimestamp.pdf"} {
		t.Run("tampered "+name, func(t *testing.T) {
			t.Parallel()
			path, _ := tampered(t, name)
			rep := PDFBox(t, path, "")
			if rep.Error != "" || len(rep.Signatures) == 0 {
				t.Fatalf("PDFBox: %+v", rep)
			}
			// The Info title is inside every revision's signed bytes.
			for _, s := range rep.Signatures {
				if s.CMSValid || len(s.Problems) == 0 {
					t.Errorf("PDFBox on a tampered file: %+v", s)
				}
			}
			mustFail(t, func(tb testing.TB) { PDFBoxSignatures(tb, path) })
		})
	}
	t.Run("appended", func(t *testing.T) {
		t.Parallel()
		sigs := PDFBoxSignatures(t, appended(t, "presigned-pdfsig-field.pdf"))
		if len(sigs) != 1 || sigs[0].CoversDocument || !sigs[0].CMSValid {
			t.Errorf("PDFBox on a file with bytes after the signed revision: %+v", sigs)
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		t.Parallel()
		msg := mustFail(t, func(tb testing.TB) { PDFBoxSignatures(tb, corpus.Path(t, "empty.pdf")) })
		if !strings.Contains(msg, "could not open") {
			t.Errorf("failure message %q", msg)
		}
	})
}

// TestOpenSSLCMS: openssl verifies the CMS of every signature that is not
// a time-stamp, over the bytes its ByteRange names, to the corpus root.
func TestOpenSSLCMS(t *testing.T) {
	t.Parallel()
	root := corpus.Path(t, corpus.RootCert)
	for _, f := range signedFiles() {
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			path := corpus.Path(t, f.Name)
			data := corpus.Read(t, f.Name)
			for _, s := range PDFBoxSignatures(t, path) {
				signed, der, err := SignedParts(data, s.ByteRange)
				if err != nil {
					t.Fatal(err)
				}
				if s.SubFilter == "ETSI.RFC3161" {
					OpenSSLTSVerify(t, signed, der, root, "")
					continue
				}
				OpenSSLCMSVerify(t, signed, der, root)
				changed := append([]byte{}, signed...)
				changed[len(changed)/2] ^= 1
				if err := OpenSSLCMSVerifyErr(t, changed, der, root); err == nil {
					t.Error("openssl verified the CMS over changed bytes")
				}
				if err := OpenSSLCMSVerifyErr(t, signed, der, corpus.Path(t, "pki/tsa.pem")); err == nil {
					t.Error("openssl verified the CMS to a CA that did not issue the signer")
				}
			}
		})
	}
}

func TestSignedParts(t *testing.T) {
	t.Parallel()
	file := []byte("%PDF-1.7 head <3003020100000000> tail")
	start := int64(strings.Index(string(file), "<"))
	end := int64(strings.Index(string(file), ">")) + 1
	tests := []struct {
		name    string
		br      []int64
		signed  string
		der     string
		wantErr bool
	}{
		{"ok", []int64{0, start, end, int64(len(file)) - end}, "%PDF-1.7 head  tail", "\x30\x03\x02\x01\x00", false},
		{"three numbers", []int64{0, start, end}, "", "", true},
		{"past the end", []int64{0, start, end, int64(len(file))}, "", "", true},
		{"gap not hex string", []int64{0, start + 1, end, int64(len(file)) - end}, "", "", true},
		{"not starting at 0", []int64{1, start, end, int64(len(file)) - end}, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			signed, der, err := SignedParts(file, tt.br)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if string(signed) != tt.signed || string(der) != tt.der {
				t.Errorf("signed %q der %x", signed, der)
			}
		})
	}
}

func TestBERLen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []byte
		want int // -1 for an error
	}{
		{"short form", []byte{0x30, 0x03, 0x02, 0x01, 0x05, 0, 0}, 5},
		{"long form", append([]byte{0x04, 0x81, 0x80}, make([]byte, 0x80)...), 0x83},
		{"indefinite", []byte{0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00, 0, 0, 0}, 7},
		{"nested indefinite", []byte{0x30, 0x80, 0xa0, 0x80, 0x02, 0x01, 0x05, 0, 0, 0, 0, 0}, 11},
		{"indefinite primitive", []byte{0x04, 0x80, 0x00, 0x00}, -1},
		{"truncated", []byte{0x30, 0x05, 0x02}, -1},
		{"no end of contents", []byte{0x30, 0x80, 0x02, 0x01, 0x05}, -1},
		{"empty", nil, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, err := berLen(tt.in, 0)
			if tt.want < 0 {
				if err == nil {
					t.Errorf("berLen = %d, want an error", n)
				}
				return
			}
			if err != nil || n != tt.want {
				t.Errorf("berLen = %d, %v; want %d", n, err, tt.want)
			}
		})
	}
}

func TestPDFBoxCompiledOnce(t *testing.T) {
	t.Parallel()
	dir := pdfboxClasses(t)
	if _, err := os.Stat(filepath.Join(dir, "PDFBoxCheck.class")); err != nil {
		t.Fatal(err)
	}
	if again := pdfboxClasses(t); again != dir {
		t.Errorf("second call compiled into %s, first into %s", again, dir)
	}
}
