package pdfcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// PdfcpuVersion is the pdfcpu release scripts/deps.sh installs and whose
// behaviour this file was written against.
const PdfcpuVersion = "v0.15.0"

// pdfcpuBin finds pdfcpu: $OCES_PDFCPU, then the project's bin/tools
// (where scripts/deps.sh builds it), then PATH.
func pdfcpuBin(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("OCES_PDFCPU"); p != "" {
		if _, err := os.Stat(p); err != nil {
			missing(tb, "pdfcpu not found at OCES_PDFCPU=%s", p)
		}
		return p
	}
	if root := moduleRoot(); root != "" {
		p := filepath.Join(root, "bin", "tools", "pdfcpu")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return lookPath(tb, "pdfcpu")
}

// PdfcpuOptions configure a pdfcpu run. pdfcpu gets a fresh configuration
// directory in tb.TempDir() each time, so the user's own is never read or
// written.
type PdfcpuOptions struct {
	// TrustedCerts are PEM files of the certificates pdfcpu's local
	// certificate store trusts (it builds paths to these).
	TrustedCerts []string
	// Online lets pdfcpu fetch CRLs and OCSP responses; by default it runs
	// with --offline.
	Online bool
	// RevocationHosts are the private or loopback hosts pdfcpu may fetch
	// revocation data from when Online (it refuses such addresses
	// otherwise), e.g. "127.0.0.1".
	RevocationHosts []string
	// All validates every signature (--all), not only the authoritative
	// (latest) one.
	All bool
	// UserPassword opens an encrypted file (--upw).
	UserPassword string
}

// pdfcpuConfig makes a configuration directory for opts and returns the
// global flags that select it.
func pdfcpuConfig(tb testing.TB, bin string, opts PdfcpuOptions) []string {
	tb.Helper()
	dir := tb.TempDir()
	if r := run(tb, nil, bin, "version", "-c", dir); r.code != 0 {
		tb.Fatalf("pdfcheck: pdfcpu version -c %s: exit status %d: %s", dir, r.code, r.combined())
	}
	conf := filepath.Join(dir, "pdfcpu", "config.yml")
	b, err := os.ReadFile(conf)
	if err != nil {
		tb.Fatalf("pdfcheck: pdfcpu did not write its configuration: %v", err)
	}
	s := strings.Replace(string(b), "checkFileNameExt: true", "checkFileNameExt: false", 1)
	if len(opts.RevocationHosts) > 0 {
		s = strings.Replace(s, "allowedRevocationHosts: []", "allowedRevocationHosts: ["+strings.Join(opts.RevocationHosts, ", ")+"]", 1)
	}
	if err := os.WriteFile(conf, []byte(s), 0o600); err != nil {
		tb.Fatalf("pdfcheck: %v", err)
	}
	for i, c := range opts.TrustedCerts {
		pem, err := os.ReadFile(c)
		if err != nil {
			tb.Fatalf("pdfcheck: trusted certificate: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "pdfcpu", "certs", fmt.Sprintf("trusted-%d.pem", i)), pem, 0o600); err != nil {
			tb.Fatalf("pdfcheck: %v", err)
		}
	}
	args := []string{"-c", dir}
	if !opts.Online {
		args = append(args, "--offline")
	}
	if opts.UserPassword != "" {
		args = append(args, "--upw", opts.UserPassword)
	}
	return args
}

// PdfcpuValidation is the verdict of `pdfcpu validate` in both modes:
// relaxed (pdfcpu's default, which tolerates common violations) and strict
// (ISO 32000-1, and PDF 2.0 only rudimentarily).
type PdfcpuValidation struct {
	Relaxed, Strict             bool   // whether each mode passed
	RelaxedOutput, StrictOutput string // what pdfcpu printed in each
}

// PdfcpuValidate runs `pdfcpu validate` in relaxed and strict mode, fails
// tb if the relaxed mode fails, and logs a strict failure, which files as
// people really have them often earn (pdfcpu wants /FirstChar even for the
// standard 14 fonts, for example).
func PdfcpuValidate(tb testing.TB, path string) PdfcpuValidation {
	tb.Helper()
	v := PdfcpuValidateModes(tb, path, PdfcpuOptions{})
	if !v.Relaxed {
		tb.Fatalf("pdfcheck: pdfcpu validate (relaxed) %s:\n%s", path, v.RelaxedOutput)
	}
	if !v.Strict {
		tb.Logf("pdfcheck: pdfcpu validate --mode strict %s fails (relaxed passes):\n%s", path, v.StrictOutput)
	}
	return v
}

// PdfcpuValidateModes runs `pdfcpu validate` in both modes and returns
// the verdicts without judging them.
func PdfcpuValidateModes(tb testing.TB, path string, opts PdfcpuOptions) PdfcpuValidation {
	tb.Helper()
	bin := pdfcpuBin(tb)
	global := pdfcpuConfig(tb, bin, opts)
	var v PdfcpuValidation
	for _, mode := range []string{"relaxed", "strict"} {
		r := run(tb, nil, bin, append(append([]string{"validate"}, global...), "--mode", mode, path)...)
		ok := r.code == 0 && strings.Contains(r.combined(), "validation ok")
		if mode == "relaxed" {
			v.Relaxed, v.RelaxedOutput = ok, r.combined()
		} else {
			v.Strict, v.StrictOutput = ok, r.combined()
		}
	}
	return v
}

// PdfcpuSignature is one result of `pdfcpu signatures validate --full`.
//
// What pdfcpu v0.15.0 checks (pkg/pdfcpu/sign): for adbe.pkcs7.detached and
// ETSI.CAdES.detached, the CMS signer's signature with the certificate the
// CMS names, the message digest over the /ByteRange, that the content is
// detached id-data, and for ETSI.CAdES.detached a single signer and an ESS
// signing-certificate(-v2) attribute matching the signer (it then reports
// PAdES "B-B"); for ETSI.RFC3161, a single signer, id-ct-TSTInfo content,
// the message imprint over the /ByteRange, signed attributes, a TSA
// certificate with the timeStamping EKU and an ESS binding. Then for both
// the certificate path to its local store (TrustedCerts) and revocation
// (CRL or OCSP fetched online, or from the /DSS and adbe-revocationInfo
// archival). Status is "signature is valid" only when every step passed,
// revocation included: offline and with no revocation data in the file,
// a sound signature is "validity of the signature is unknown" with Reason
// "signer's certificate revocation status is unknown", and PAdES is shown
// only for a valid one.
//
// Revisions: pdfcpu numbers them from 1 for the latest but treats only 0
// as the current one, so every signature other than a document time-stamp
// is handled as historical: DocModified "unknown" even when the digest
// matched, a "document has not been modified" reason reset to "no reason"
// (so a fully valid signature reads Status valid, Reason "no reason"), and
// no check that its ByteRange ends at the end of the file, which pdfcpu
// does make for the latest document time-stamp ("signed revision boundary
// mismatch"). Only the document time-stamp of the latest revision is
// validated; earlier ones are skipped. Without All, validation stops after
// the latest signature (it goes on past a document time-stamp).
// pdfsig 22.12, for comparison, does not verify ETSI.RFC3161 at all.
type PdfcpuSignature struct {
	Type        string // e.g. "form signature (authoritative, invisible, signed)", "document timestamp (…)"
	Status      string // "signature is valid", "signature is invalid", "validity of the signature is unknown"
	Reason      string
	DocModified string // "true", "false", "unknown"
	SubFilter   string
	Field       string
	Signer      string   // SignerIdentity
	PAdES       string   // "B-B" when pdfcpu recognised the CAdES baseline profile
	Problems    []string // every "Problems:" line, of the result and of its signers
	Raw         string
}

// Valid reports whether pdfcpu found the signature valid.
func (s PdfcpuSignature) Valid() bool { return s.Status == "signature is valid" }

// Invalid reports whether pdfcpu found the signature invalid (as opposed
// to valid or of unknown validity).
func (s PdfcpuSignature) Invalid() bool { return s.Status == "signature is invalid" }

// Timestamp reports whether the result is a document time-stamp.
func (s PdfcpuSignature) Timestamp() bool { return strings.HasPrefix(s.Type, "document timestamp") }

// PdfcpuSignatures runs `pdfcpu signatures validate --offline --full
// --all path` and returns its output; it fails tb when pdfcpu reports an
// error (a file it cannot read, no signatures) or finds any signature
// invalid.
func PdfcpuSignatures(tb testing.TB, path string) string {
	tb.Helper()
	sigs, out, err := PdfcpuSignaturesErr(tb, path, PdfcpuOptions{All: true})
	if err != nil {
		tb.Fatal(err)
	}
	for i, s := range sigs {
		if s.Invalid() {
			tb.Fatalf("pdfcheck: pdfcpu signatures validate %s: signature %d is invalid: %s\n%s", path, i+1, s.Reason, out)
		}
	}
	return out
}

// PdfcpuSignaturesErr runs `pdfcpu signatures validate --full` with opts
// and returns the parsed results and the output, or pdfcpu's error.
func PdfcpuSignaturesErr(tb testing.TB, path string, opts PdfcpuOptions) ([]PdfcpuSignature, string, error) {
	tb.Helper()
	bin := pdfcpuBin(tb)
	args := append([]string{"signatures", "validate"}, pdfcpuConfig(tb, bin, opts)...)
	args = append(args, "--full")
	if opts.All {
		args = append(args, "--all")
	}
	r := run(tb, nil, bin, append(args, path)...)
	if r.code != 0 {
		return nil, r.combined(), fmt.Errorf("pdfcheck: pdfcpu signatures validate %s: exit status %d: %s", path, r.code, strings.TrimSpace(r.stderr))
	}
	sigs := parsePdfcpuSignatures(r.stdout)
	if len(sigs) == 0 {
		return nil, r.stdout, fmt.Errorf("pdfcheck: pdfcpu signatures validate %s: no result in:\n%s", path, r.stdout)
	}
	return sigs, r.stdout, nil
}

var pdfcpuResultHeader = regexp.MustCompile(`^(\d+):$`)

// parsePdfcpuSignatures reads the --full listing: "N:" headers, then
// "Key: value" lines; a "Problems:" entry continues on the lines indented
// to its value's column (one problem, or part of a wrapped one, a line).
func parsePdfcpuSignatures(out string) []PdfcpuSignature {
	var sigs []PdfcpuSignature
	var cur *PdfcpuSignature
	problemCol := -1 // the value column of the Problems entry being read
	for _, line := range strings.Split(out, "\n") {
		if pdfcpuResultHeader.MatchString(line) {
			sigs = append(sigs, PdfcpuSignature{})
			cur = &sigs[len(sigs)-1]
			problemCol = -1
			continue
		}
		if cur == nil {
			continue
		}
		cur.Raw += line + "\n"
		trimmed := strings.TrimSpace(line)
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if problemCol >= 0 && indent == problemCol && trimmed != "" {
			cur.Problems = append(cur.Problems, trimmed)
			continue
		}
		problemCol = -1
		key, value, found := strings.Cut(trimmed, ":")
		if !found {
			continue
		}
		value = strings.TrimSpace(value)
		switch key {
		case "Type":
			cur.Type = value
		case "Status":
			if cur.Status == "" {
				cur.Status = value
			}
		case "Reason":
			if cur.Reason == "" {
				cur.Reason = value
			}
		case "DocModified":
			cur.DocModified = value
		case "SubFilter":
			cur.SubFilter = value
		case "Field":
			cur.Field = value
		case "SignerIdentity":
			cur.Signer = value
		case "PAdES":
			cur.PAdES = value
		case "Problems":
			problemCol = strings.Index(line, "Problems:") + len("Problems:")
			problemCol += len(line[problemCol:]) - len(strings.TrimLeft(line[problemCol:], " "))
			if value != "" {
				cur.Problems = append(cur.Problems, value)
			}
		}
	}
	return sigs
}
