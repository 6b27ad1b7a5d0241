package pades

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestOpenShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		make      func(testing.TB) []byte
		version   string
		pages     int
		revisions int
	}{
		{"pdf-1.3", plain(pdfSpec{Version: "1.3"}), "1.3", 1, 1},
		{"catalog version later than header", plain(pdfSpec{Version: "1.4", CatalogVersion: "1.7"}), "1.7", 1, 1},
		{"catalog version earlier than header", plain(pdfSpec{Version: "1.7", CatalogVersion: "1.4"}), "1.7", 1, 1},
		{"pdf-2.0, seven pages in a tree", plain(pdfSpec{Version: "2.0", Pages: 7, Tree: true, Inherit: true}), "2.0", 7, 1},
		{"hybrid", plain(pdfSpec{Version: "1.5", Hybrid: true, Form: true}), "1.5", 1, 1},
		{"one earlier update", func(tb testing.TB) []byte { return appendInfoUpdate(tb, genPDF(tb, pdfSpec{})) }, "1.7", 1, 2},
		{"two earlier updates", func(tb testing.TB) []byte {
			return appendInfoUpdate(tb, appendInfoUpdate(tb, genPDF(tb, pdfSpec{Pages: 2})))
		}, "1.7", 2, 3},
		{"object streams", viaQPDF(pdfSpec{Pages: 3, Form: true}, "--object-streams=generate"), "1.7", 3, 1},
		// A linearized file has two sections but is one revision (ISO 32000-1 Annex F).
		{"linearized", viaQPDF(pdfSpec{Pages: 4}, "--linearize"), "1.7", 4, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := tt.make(t)
			d := mustOpen(t, data)
			if v := d.Version(); v != tt.version {
				t.Errorf("Version %q, want %q", v, tt.version)
			}
			if n := d.PageCount(); n != tt.pages {
				t.Errorf("PageCount %d, want %d", n, tt.pages)
			}
			revs := d.Revisions()
			if len(revs) != tt.revisions {
				t.Fatalf("Revisions %v, want %d", revs, tt.revisions)
			}
			for i, r := range revs {
				if !bytes.HasSuffix(bytes.TrimRight(data[:r], "\r\n"), []byte("%%EOF")) {
					t.Errorf("revision %d ends at %d, not after %%%%EOF", i, r)
				}
			}
			if revs[len(revs)-1] != int64(len(data)) {
				t.Errorf("last revision ends at %d of %d", revs[len(revs)-1], len(data))
			}
			if s, err := d.Signatures(); err != nil || len(s) != 0 {
				t.Errorf("Signatures: %v, %v", s, err)
			}
			if dss, err := d.DSS(); err != nil || dss != nil {
				t.Errorf("DSS: %v, %v", dss, err)
			}
			if d.Certification() != 0 {
				t.Errorf("Certification %d", d.Certification())
			}
		})
	}
}

// TestOpenRefuses covers files that must be refused, each with its error.
func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	good := genPDF(t, pdfSpec{Pages: 2})
	xref := bytes.LastIndex(good, []byte("\nxref")) + 1
	replace := func(old, new string) []byte {
		if !bytes.Contains(good, []byte(old)) {
			t.Fatalf("fixture lacks %q", old)
		}
		return bytes.Replace(good, []byte(old), []byte(new), 1)
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrNotPDF},
		{"text", []byte("Hello, OCES.\n"), ErrNotPDF},
		{"PNG", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), ErrNotPDF},
		{"header only", []byte("%PDF-1.7\n"), ErrMalformed},
		{"bad version", []byte("%PDF-x.y\n"), ErrNotPDF},
		{"junk before the header", append([]byte("junk\n"), good...), ErrMalformed},
		{"truncated in the middle", good[:len(good)/2], ErrMalformed},
		{"truncated in the trailer", good[:len(good)-30], ErrMalformed},
		{"truncated in the last update", func() []byte { u := appendInfoUpdate(t, good); return u[:len(u)-40] }(), ErrMalformed},
		{"startxref past the end", replace(fmt.Sprintf("startxref\n%d", xref), "startxref\n999999"), ErrMalformed},
		{"startxref at an object", replace(fmt.Sprintf("startxref\n%d", xref), "startxref\n9"), ErrMalformed},
		{"no root", replace("/Root", "/Roots"), ErrMalformed},
		{"xref entry off by one", shiftEntry(t, good), ErrMalformed},
		{"Prev loop", selfPrev(t, good), ErrMalformed},
		{"encrypted (qpdf, AES-256)", qpdfTransform(t, good, "--encrypt", "user", "owner", "256", "--"), ErrEncrypted},
		{"encrypted (qpdf, AES-128, object streams)", qpdfTransform(t, good, "--object-streams=generate", "--encrypt", "", "owner", "128", "--use-aes=y", "--"), ErrEncrypted},
		{"encrypted (qpdf, RC4, empty user password)", qpdfTransform(t, good, "--allow-weak-crypto", "--encrypt", "", "owner", "128", "--use-aes=n", "--"), ErrEncrypted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := Open(tt.data)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open: %v, want %v", err, tt.want)
			}
			t.Logf("%v", err)
			if d != nil {
				t.Error("a Document with the error")
			}
			if !strings.HasPrefix(err.Error(), "pades: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

// shiftEntry moves object 3's table entry one byte off.
func shiftEntry(t *testing.T, good []byte) []byte {
	t.Helper()
	st, err := readStructure(good)
	if err != nil {
		t.Fatal(err)
	}
	// Entry n of "0 size" starts 20*n bytes after the subsection line.
	sub := bytes.Index(good[st.startxref:], []byte("\n")) + 1
	sub += bytes.Index(good[int(st.startxref)+sub:], []byte("\n")) + 1
	at := int(st.startxref) + sub + 20*3
	out := append([]byte(nil), good...)
	var off int
	fmt.Sscanf(string(out[at:at+10]), "%d", &off)
	copy(out[at:], fmt.Sprintf("%010d", off+1))
	return out
}

// selfPrev appends an update whose /Prev names itself.
func selfPrev(t *testing.T, good []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	b.Write(good)
	x := b.Len()
	fmt.Fprintf(&b, "xref\n0 0\ntrailer\n<< /Size 9 /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n", x, x)
	return b.Bytes()
}
