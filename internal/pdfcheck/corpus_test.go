package pdfcheck

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/oces-pki/oces/pades/testdata/corpus"
)

// TestCorpus checks that every fixture is what corpus.Files says it is,
// and that each independent reader judges it accordingly: the corpus and
// the helpers' invocation and parsing are tested against each other.
func TestCorpus(t *testing.T) {
	t.Parallel()
	for _, f := range corpus.Files {
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			path := corpus.Path(t, f.Name)
			data := corpus.Read(t, f.Name)
			switch f.Kind {
			case corpus.Valid:
				checkValid(t, f, path, data)
			case corpus.Encrypted:
				checkEncrypted(t, f, path)
			case corpus.Damaged:
				r := QpdfCheckExpect(t, path, QpdfWarnings)
				if !strings.Contains(strings.Join(r.Warnings, "\n"), "reconstruct") {
					t.Errorf("qpdf warnings %q do not say it reconstructed the table", r.Warnings)
				}
				// PDFBox and pdfcpu repair it silently.
				if rep := PDFBox(t, path, ""); rep.Error != "" || rep.Pages != f.Pages {
					t.Errorf("PDFBox: %+v, want %d pages", rep, f.Pages)
				}
				if v := PdfcpuValidateModes(t, path, PdfcpuOptions{}); !v.Relaxed {
					t.Errorf("pdfcpu validate (relaxed) refused it:\n%s", v.RelaxedOutput)
				}
			case corpus.Invalid:
				r := QpdfCheckExpect(t, path, QpdfErrors)
				if len(r.Errors) == 0 {
					t.Errorf("qpdf exited 2 but printed no error:\n%s", r.Output)
				}
				if v := PdfcpuValidateModes(t, path, PdfcpuOptions{}); v.Relaxed || v.Strict {
					t.Errorf("pdfcpu validate accepted it: %+v", v)
				}
				if rep := PDFBox(t, path, ""); rep.Error == "" {
					t.Errorf("PDFBox opened it: %+v", rep)
				}
				if _, err := PdfsigErr(t, path, PdfsigOptions{}); err == nil {
					t.Error("pdfsig read it")
				}
			}
		})
	}
}

func checkValid(t *testing.T, f corpus.File, path string, data []byte) {
	t.Helper()
	if !bytes.HasPrefix(data, []byte("%PDF-"+f.Version+"\n")) && !bytes.HasPrefix(data, []byte("%PDF-"+f.Version+"\r")) {
		t.Errorf("header %q, want %%PDF-%s", data[:min(len(data), 9)], f.Version)
	}
	q := QpdfCheck(t, path)
	if !strings.HasPrefix(q.Version, f.Version) || q.Encrypted || q.Linearized != f.Linearized {
		t.Errorf("qpdf: version %q encrypted %v linearized %v, want %s, false, %v", q.Version, q.Encrypted, q.Linearized, f.Version, f.Linearized)
	}
	if got := xrefKind(data); got != f.XRef {
		t.Errorf("cross-reference: %s, want %s", got, f.XRef)
	}
	if !f.Linearized {
		// A linearized file has two cross-reference sections but no update.
		if got := bytes.Count(data, []byte("startxref")) - 1; got != f.Updates {
			t.Errorf("%d incremental updates, want %d", got, f.Updates)
		}
	}
	PdfcpuValidate(t, path)
	rep := PDFBox(t, path, "")
	if rep.Error != "" || rep.Pages != f.Pages || len(rep.Signatures) != f.Signatures {
		t.Errorf("PDFBox: error %q, %d pages, %d signatures; want %d pages, %d signatures", rep.Error, rep.Pages, len(rep.Signatures), f.Pages, f.Signatures)
	}
	if sigs := Pdfsig(t, path, ""); len(sigs) != f.Signatures {
		t.Errorf("pdfsig lists %d signatures, want %d", len(sigs), f.Signatures)
	}
}

func checkEncrypted(t *testing.T, f corpus.File, path string) {
	t.Helper()
	q := QpdfCheckExpect(t, path, QpdfClean, "--password="+f.UserPass)
	if !q.Encrypted {
		t.Errorf("qpdf does not call it encrypted:\n%s", q.Output)
	}
	// Without a password only the file with an empty user password opens.
	want := QpdfErrors
	if f.UserPass == "" {
		want = QpdfClean
	}
	QpdfCheckExpect(t, path, want)
	if rep := PDFBox(t, path, f.UserPass); rep.Error != "" || !rep.Encrypted || rep.Pages != f.Pages {
		t.Errorf("PDFBox with the user password: %+v", rep)
	}
	if f.UserPass != "" {
		if rep := PDFBox(t, path, ""); !strings.Contains(rep.Error, "InvalidPasswordException") {
			t.Errorf("PDFBox without a password: %+v", rep)
		}
	}
	if v := PdfcpuValidateModes(t, path, PdfcpuOptions{UserPassword: f.UserPass}); !v.Relaxed {
		t.Errorf("pdfcpu validate --upw: %s", v.RelaxedOutput)
	}
	if sigs := PdfsigWith(t, path, PdfsigOptions{UserPassword: f.UserPass}); len(sigs) != 0 {
		t.Errorf("pdfsig lists %d signatures", len(sigs))
	}
}

var xrefStream = regexp.MustCompile(`/Type\s*/XRef\b`)

// xrefKind says which cross-references a file has (ISO 32000-1 clauses
// 7.5.4, 7.5.8 and 7.5.8.4).
func xrefKind(data []byte) string {
	table := bytes.Contains(data, []byte("\nxref\n")) || bytes.Contains(data, []byte("\nxref\r"))
	stream := xrefStream.Match(data)
	switch {
	case table && stream && bytes.Contains(data, []byte("/XRefStm")):
		return "hybrid"
	case table && !stream:
		return "table"
	case stream && !table:
		return "stream"
	}
	return "mixed"
}

func TestBig(t *testing.T) {
	t.Parallel()
	for _, mb := range []int{1, 20} {
		p := corpus.Big(t, mb)
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() < int64(mb)*1_000_000 || st.Size() >= int64(mb+1)*1_000_000 {
			t.Errorf("Big(%d) wrote %d bytes", mb, st.Size())
		}
		QpdfCheck(t, p)
		if mb == 1 {
			PdfcpuValidate(t, p)
			if !bytes.Equal(corpus.BigBytes(1), corpus.BigBytes(1)) {
				t.Error("BigBytes(1) differs between calls")
			}
		}
	}
}

// TestHybrid: in hybrid.pdf the font and Info dictionaries are absent from
// the classic table and present in the object stream that /XRefStm lists,
// and qpdf finds them there.
func TestHybrid(t *testing.T) {
	t.Parallel()
	path := corpus.Path(t, "hybrid.pdf")
	data := corpus.Read(t, "hybrid.pdf")
	table := data[bytes.LastIndex(data, []byte("\nxref\n")):]
	for _, sub := range []string{"\n4 ", "\n5 "} {
		if bytes.Contains(table[:bytes.Index(table, []byte("trailer"))], []byte(sub)) {
			t.Errorf("the classic table has a subsection starting at object%s", sub)
		}
	}
	qpdf := lookPath(t, "qpdf")
	r := run(t, nil, qpdf, "--show-object=4", path)
	if r.code != 0 || !strings.Contains(r.stdout, "/BaseFont /Helvetica") {
		t.Errorf("qpdf --show-object=4: exit %d: %s", r.code, r.combined())
	}
	r = run(t, nil, qpdf, "--show-xref", path)
	if !strings.Contains(r.stdout, "4/0: compressed; stream = 6, index = 0") {
		t.Errorf("qpdf --show-xref does not list object 4 as compressed:\n%s", r.stdout)
	}
}

func TestQpdfCheckRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want string // in the failure message
	}{
		{"truncated.pdf", "errors, want clean"},
		{"garbage-xref.pdf", "warnings, want clean"},
		{"encrypted.pdf", "invalid password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := mustFail(t, func(tb testing.TB) { QpdfCheck(tb, corpus.Path(t, tt.name)) })
			if !strings.Contains(msg, tt.want) {
				t.Errorf("failure message %q does not contain %q", msg, tt.want)
			}
		})
	}
}

func TestParsePdfsig(t *testing.T) {
	t.Parallel()
	out := "Digital Signature Info of: x.pdf\nSignature #1:\n  - Signature Field Name: A\n  - Signed Ranges: [0 - 10], [20 - 30]\n" +
		"  - Not total document signed\n  - Signature Validation: Digest Mismatch.\nSignature #2:\n  - Signature Field Name: B\n" +
		"  - Total document signed\n  - Signature Validation: Signature is Valid.\n  - Certificate Validation: Certificate has Expired\n"
	sigs, err := parsePdfsig(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 2 || sigs[0].FieldName != "A" || sigs[0].SignatureValid || sigs[0].TotalDocument || len(sigs[0].Ranges) != 2 || sigs[0].Ranges[1] != [2]int64{20, 30} {
		t.Errorf("signature 1: %+v", sigs[0])
	}
	if sigs[1].Index != 2 || !sigs[1].SignatureValid || !sigs[1].TotalDocument || sigs[1].CertificateStatus != "Certificate has Expired" {
		t.Errorf("signature 2: %+v", sigs[1])
	}
	if _, err := parsePdfsig("Signature #1:\n  - Signature Field Name: A\n"); err == nil {
		t.Error("a signature without a validation line was accepted")
	}
}
