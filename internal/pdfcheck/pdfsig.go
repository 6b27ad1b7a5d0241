package pdfcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// PdfsigSignature is what poppler's pdfsig printed for one signature.
type PdfsigSignature struct {
	Index             int    // the N of "Signature #N", from 1
	FieldName         string // "Signature Field Name"
	SignerCommonName  string // "Signer Certificate Common Name"
	SignerDN          string // "Signer full Distinguished Name"
	SigningTime       string // as printed, e.g. "Mar 15 2026 09:30:00" (pdfsig's local time)
	HashAlgorithm     string // "Signing Hash Algorithm", e.g. "SHA-256"
	SubFilter         string // "Signature Type": adbe.pkcs7.detached, ETSI.CAdES.detached, …
	Ranges            [][2]int64
	TotalDocument     bool   // "Total document signed" (rather than "Not total document signed")
	SignatureValid    bool   // "Signature Validation: Signature is Valid."
	SignatureStatus   string // the "Signature Validation" text, e.g. "Digest Mismatch."
	CertificateStatus string // the "Certificate Validation" text, e.g. "Certificate is Trusted."; "" with -nocert
	Raw               string // the lines of this signature as printed
}

// PdfsigOptions are the flags of a pdfsig run.
type PdfsigOptions struct {
	// NSSDir is the NSS database with the trusted certificates
	// ("sql:DIR" or DIR); empty means pdfsig's default database. pdfsig
	// gets a copy in tb.TempDir(), so that a committed database is never
	// written to.
	NSSDir string
	// NoOCSP stops pdfsig from querying the OCSP responders certificates
	// name (-no-ocsp). Beware: poppler 22.12 then reports every
	// certificate as "Unknown issue with Certificate or corrupted data.".
	NoOCSP bool
	// AIA lets pdfsig fetch missing issuers through AIA (-aia).
	AIA bool
	// NoCert skips certificate validation (-nocert).
	NoCert bool
	// UserPassword opens an encrypted file (-upw).
	UserPassword string
}

// Pdfsig runs `pdfsig [-nssdir nssDir] path` and returns the signatures
// it listed, none for a file without signatures. It fails tb if pdfsig
// could not read the file. pdfsig queries the OCSP responders that
// certificates name (in tests, servers on 127.0.0.1 or nothing).
func Pdfsig(tb testing.TB, path string, nssDir string) []PdfsigSignature {
	tb.Helper()
	return PdfsigWith(tb, path, PdfsigOptions{NSSDir: nssDir})
}

// PdfsigWith is Pdfsig with all of pdfsig's validation flags.
func PdfsigWith(tb testing.TB, path string, opts PdfsigOptions) []PdfsigSignature {
	tb.Helper()
	sigs, err := PdfsigErr(tb, path, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return sigs
}

// PdfsigErr is PdfsigWith returning pdfsig's failure to read the file as
// an error.
func PdfsigErr(tb testing.TB, path string, opts PdfsigOptions) ([]PdfsigSignature, error) {
	tb.Helper()
	bin := lookPath(tb, "pdfsig")
	var args []string
	if opts.NSSDir != "" {
		args = append(args, "-nssdir", "sql:"+copyDir(tb, strings.TrimPrefix(opts.NSSDir, "sql:")))
	}
	if opts.NoOCSP {
		args = append(args, "-no-ocsp")
	}
	if opts.AIA {
		args = append(args, "-aia")
	}
	if opts.NoCert {
		args = append(args, "-nocert")
	}
	if opts.UserPassword != "" {
		args = append(args, "-upw", opts.UserPassword)
	}
	r := run(tb, nil, bin, append(args, path)...)
	// pdfsig exits 2 for a file without signatures, 1 when it cannot open
	// the file, and 0 otherwise, whatever the signatures' validity.
	switch {
	case r.code == 2 && strings.Contains(r.stdout, "does not contain any signatures"):
		return nil, nil
	case r.code != 0:
		return nil, fmt.Errorf("pdfcheck: pdfsig %s: exit status %d: %s", path, r.code, strings.TrimSpace(r.combined()))
	}
	sigs, err := parsePdfsig(r.stdout)
	if err != nil {
		return nil, fmt.Errorf("pdfcheck: pdfsig %s: %w\n%s", path, err, r.stdout)
	}
	return sigs, nil
}

var (
	pdfsigHeader = regexp.MustCompile(`^Signature #(\d+):$`)
	pdfsigRange  = regexp.MustCompile(`\[(\d+) - (\d+)\]`)
)

// parsePdfsig reads pdfsig's listing (poppler 22.12's wording).
func parsePdfsig(out string) ([]PdfsigSignature, error) {
	var sigs []PdfsigSignature
	var cur *PdfsigSignature
	for _, line := range strings.Split(out, "\n") {
		if m := pdfsigHeader.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			sigs = append(sigs, PdfsigSignature{Index: n})
			cur = &sigs[len(sigs)-1]
			cur.Raw = line + "\n"
			continue
		}
		if cur == nil {
			continue
		}
		item, ok := strings.CutPrefix(line, "  - ")
		if !ok {
			continue
		}
		cur.Raw += line + "\n"
		key, value, _ := strings.Cut(item, ": ")
		switch key {
		case "Signature Field Name":
			cur.FieldName = value
		case "Signer Certificate Common Name":
			cur.SignerCommonName = value
		case "Signer full Distinguished Name":
			cur.SignerDN = value
		case "Signing Time":
			cur.SigningTime = value
		case "Signing Hash Algorithm":
			cur.HashAlgorithm = value
		case "Signature Type":
			cur.SubFilter = value
		case "Signed Ranges":
			for _, m := range pdfsigRange.FindAllStringSubmatch(value, -1) {
				a, _ := strconv.ParseInt(m[1], 10, 64)
				b, _ := strconv.ParseInt(m[2], 10, 64)
				cur.Ranges = append(cur.Ranges, [2]int64{a, b})
			}
		case "Total document signed":
			cur.TotalDocument = true
		case "Signature Validation":
			cur.SignatureStatus = value
			cur.SignatureValid = value == "Signature is Valid."
		case "Certificate Validation":
			cur.CertificateStatus = value
		}
	}
	for _, s := range sigs {
		if s.SignatureStatus == "" {
			return nil, fmt.Errorf("signature #%d has no Signature Validation line", s.Index)
		}
	}
	return sigs, nil
}

// copyDir copies the regular files of dir into a new temporary directory.
func copyDir(tb testing.TB, dir string) string {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatalf("pdfcheck: %v", err)
	}
	dst := tb.TempDir()
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			tb.Fatalf("pdfcheck: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			tb.Fatalf("pdfcheck: %v", err)
		}
	}
	return dst
}
