package pades

import (
	"bytes"
	"testing"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// TestWriteObject parses objects with pdfcpu and writes them back: the
// written form must mean the same (and read back to itself).
func TestWriteObject(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"<< /A 1 % comment\n /B 2 >>", "<</A 1 /B 2 >>"},
		{"<</A[1 2]/B<</C 3>>>>", "<</A [1 2] /B <</C 3 >> >>"},
		{`<< /N /A#20B#23 /S (a\(b\)c\\) /H <41 42` + "\n" + `43> /F [+5 -.5 .25 -0 3.] /T true /U null /R 12 0 R >>`,
			`<</F [5 -0.5 0.25 0 3] /H <414243> /N /A#20B#23 /R 12 0 R /S (a\(b\)c\\) /T true >>`},
		{"<< /S (line\r\nbreak) /E () >>", "<</E () /S (line\r\nbreak) >>"},
		{"[/a/b(c)<<>>[]null]", "[/a /b (c) <<>> [] null]"},
		{"[0.000001 123456.789 -1e3]", "[0.000001 123456.789 -1000]"}, // pdfcpu reads the exponent ISO 32000 lacks
	}
	for _, tt := range tests {
		s := tt.in
		o, err := parseObjectSafe(&s)
		if err != nil {
			t.Fatalf("%q: %v", tt.in, err)
		}
		var b bytes.Buffer
		if err := writeObject(&b, o); err != nil {
			t.Fatal(err)
		}
		if b.String() != tt.want {
			t.Errorf("%q: wrote %q, want %q", tt.in, b.String(), tt.want)
		}
		s2 := b.String()
		o2, err := parseObjectSafe(&s2)
		var b2 bytes.Buffer
		if err != nil || writeObject(&b2, o2) != nil || b2.String() != b.String() {
			t.Errorf("%q does not read back: %v %q", b.String(), err, b2.String())
		}
	}
}

func TestTextStrings(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "Jens Hansen", "København (Ø) \\", "東京", "a\nb", "€ – “x”"} {
		if got := textString(pdfString(s)); got != s {
			t.Errorf("text string %q reads back as %q", s, got)
		}
	}
	// PDFDocEncoding (ISO 32000-1 Annex D.2) and UTF-8 with a BOM (PDF 2.0).
	for raw, want := range map[string]string{
		"K\xf8benhavn":            "København",
		"\x80 \x8f\x90 \x93 \xa0": "• ‘’ ﬁ €",
		"\xef\xbb\xbfÆble":        "Æble",
	} {
		if got := textString(types.StringLiteral(escapeLiteral([]byte(raw)))); got != want {
			t.Errorf("textString(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestPDFDate(t *testing.T) {
	t.Parallel()
	tm := time.Date(2026, 11, 30, 23, 30, 5, 0, time.FixedZone("CET", 3600))
	d := pdfDate(tm)
	if string(d) != "D:20261130223005+00'00'" {
		t.Errorf("pdfDate = %s", d)
	}
	if back := parsePDFDate(d); !back.Equal(tm) {
		t.Errorf("%s reads back as %v", d, back)
	}
	for _, bad := range []string{"", "yesterday", "D:20261340"} {
		if tm := parsePDFDate(types.StringLiteral(bad)); !tm.IsZero() {
			t.Errorf("parsePDFDate(%q) = %v, want zero", bad, tm)
		}
	}
	if tm := parsePDFDate(types.StringLiteral("D:2026")); tm.Year() != 2026 {
		t.Errorf("a year alone (ISO 32000-1 7.9.4) reads as %v", tm)
	}
}

func TestTrimDER(t *testing.T) {
	t.Parallel()
	long := append([]byte{0x30, 0x82, 0x01, 0x00}, make([]byte, 256)...)
	tests := []struct {
		in   []byte
		want int
	}{
		{[]byte{0x30, 0x03, 1, 2, 3, 0, 0, 0}, 5},
		{append(append([]byte(nil), long...), 0, 0), 260},
		{[]byte{0x30, 0x85, 1, 2, 3, 4, 5}, 7}, // a length of 5 bytes: not ours to judge
		{[]byte{0x30, 0x10, 1}, 3},             // longer than the data: kept
		{nil, 0},
	}
	for _, tt := range tests {
		if got := trimDER(tt.in); len(got) != tt.want {
			t.Errorf("trimDER(% x) has %d bytes, want %d", tt.in, len(got), tt.want)
		}
	}
}
