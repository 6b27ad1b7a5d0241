package pdfcheck

import (
	"io"
	"os"
	"testing"

	"github.com/oces-pki/oces/pades"
)

// SignedPDF runs every independent verifier on a signed PDF and fails the
// test unless all agree that it holds signatures signatures, all good: pdfsig checks
// every CMS signature (poppler 22.12 lists document time-stamps but cannot
// verify them: openssl ts does), qpdf the structure, pdfcpu both, PDFBox
// lists the signatures.
func SignedPDF(t testing.TB, path string, signatures int, caFile string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := pades.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	all, err := doc.Signatures()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != signatures {
		t.Fatalf("the file has %d signatures, want %d", len(all), signatures)
	}
	sigs := Pdfsig(t, path, "")
	if len(sigs) != signatures {
		t.Fatalf("pdfsig lists %d signatures, want %d", len(sigs), signatures)
	}
	for i, s := range sigs {
		if all[i].Type == "DocTimeStamp" {
			signed, err := io.ReadAll(all[i].SignedBytes(data))
			if err != nil {
				t.Fatal(err)
			}
			OpenSSLTSVerify(t, signed, all[i].Contents, caFile, "")
			continue
		}
		if !s.SignatureValid {
			t.Errorf("pdfsig: signature %d (%s) is not valid:\n%s", s.Index, s.SubFilter, s.Raw)
		}
	}
	QpdfCheck(t, path)
	PdfcpuValidate(t, path)
	// pdfcpu checks every CMS and token too; offline it leaves revocation
	// "unknown" (it does not match the /DSS OCSP responses to the
	// certificates), so the check is that it finds nothing invalid.
	psigs, raw, err := PdfcpuSignaturesErr(t, path, PdfcpuOptions{TrustedCerts: []string{caFile}, All: true})
	if err != nil {
		t.Fatalf("pdfcpu signatures validate: %v\n%s", err, raw)
	}
	for _, ps := range psigs {
		if ps.Invalid() || ps.DocModified == "true" {
			t.Errorf("pdfcpu: signature %s (%s) is invalid:\n%s", ps.Field, ps.SubFilter, ps.Raw)
		}
	}
	if got := len(PDFBoxSignatures(t, path)); got != signatures {
		t.Errorf("PDFBox lists %d signatures, want %d", got, signatures)
	}
}
