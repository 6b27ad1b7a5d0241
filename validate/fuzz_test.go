package validate_test

import (
	"bytes"
	"context"
	"regexp"
	"testing"

	"github.com/oces-pki/oces/pades/testdata/corpus"
	"github.com/oces-pki/oces/validate"
)

// TestMalformed: input that is not a signed document, or whose signature
// structure is broken, is FORMAT_FAILURE (or SIGNED_DATA_NOT_FOUND), never
// an error or a panic.
func TestMalformed(t *testing.T) {
	v := corpusValidator(t)
	signed := corpus.Read(t, "presigned-pdfbox-cades.pdf")
	byteRange := regexp.MustCompile(`/ByteRange\s*\[\s*0 `)
	shifted := byteRange.ReplaceAllFunc(signed, func(b []byte) []byte { return bytes.Replace(b, []byte("[0 "), []byte("[1 "), 1) })
	cases := []struct {
		name string
		doc  []byte
		want validate.SubIndication
	}{
		{"empty", nil, validate.FormatFailure},
		{"not a PDF nor a CMS", corpus.Read(t, "not-a-pdf.pdf"), validate.FormatFailure},
		{"truncated PDF", corpus.Read(t, "truncated.pdf"), validate.FormatFailure},
		{"unsigned PDF", corpus.Read(t, "v13-classic.pdf"), validate.SignedDataNotFound},
		{"garbage CMS", []byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86}, validate.FormatFailure},
		{"ByteRange not from the start", shifted, validate.FormatFailure},
		{"PDF cut after the signature", signed[:len(signed)-40], validate.FormatFailure},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := v.Validate(context.Background(), c.doc, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.Passed() || r.SubIndication != c.want {
				t.Fatalf("got %s %s, want %s: %+v", r.Indication, r.SubIndication, c.want, r.Signatures)
			}
		})
	}
}

func fuzzValidator(f *testing.F) *validate.Validator {
	v, err := validate.New(validate.Config{TrustAnchors: corpusAnchor(f)})
	if err != nil {
		f.Fatal(err)
	}
	return v
}

// FuzzValidatePDF feeds the PDF reading path (pades, pdfcpu, the change
// classifier, the CMS in /Contents): any input gives a report.
func FuzzValidatePDF(f *testing.F) {
	for _, name := range []string{"presigned-pdfbox-cades.pdf", "presigned-doctimestamp.pdf", "incremental.pdf", "v15-objstm.pdf"} {
		f.Add(corpus.Read(f, name))
	}
	f.Add(basePDF())
	v := fuzzValidator(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := v.ValidatePDF(context.Background(), data)
		if err != nil {
			t.Fatal(err)
		}
		if r.Indication == "" {
			t.Fatal("a report without an indication")
		}
	})
}

// FuzzValidateCMS feeds the CMS reading path (cades.Parse, BER, the
// attributes, time-stamp tokens).
func FuzzValidateCMS(f *testing.F) {
	doc := corpus.Read(f, "presigned-doctimestamp.pdf")
	for _, m := range regexp.MustCompile(`/Contents\s*<([0-9A-Fa-f]+)>`).FindAllSubmatch(doc, -1) {
		f.Add(hexBytes(m[1]), []byte("content"))
	}
	v := fuzzValidator(f)
	f.Fuzz(func(t *testing.T, cms, content []byte) {
		r, err := v.ValidateCMS(context.Background(), cms, content)
		if err != nil {
			t.Fatal(err)
		}
		if r.Indication == "" {
			t.Fatalf("a fuzzed CMS got %q", r.Indication)
		}
	})
}
