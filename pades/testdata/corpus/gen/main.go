// Command gen writes the PDF corpus of package corpus into the current
// directory (go generate runs it there): the files built here byte by byte,
// the ones qpdf and pdfsig derive from them, the broken inputs, the test
// PKI with its NSS database, and README.md.
//
//	go generate ./pades/testdata/corpus/...
//	go run ./pades/testdata/corpus/gen -dir pades/testdata/corpus -newkeys
//
// Needs qpdf, pdfsig (poppler-utils), certutil and pk12util (libnss3-tools),
// openssl, and DejaVu Sans (fonts-dejavu-core): scripts/deps.sh --test.
package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"image/png"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/oces-pki/oces/pades/testdata/corpus"
)

func main() {
	dir := flag.String("dir", ".", "corpus directory")
	newKeys := flag.Bool("newkeys", false, "make a new test PKI and NSS database instead of reusing the committed ones (implies -resign)")
	resign := flag.Bool("resign", false, "rewrite the signed and encrypted files, which differ on every run, even if they exist")
	font := flag.String("font", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "TrueType font to embed")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("corpus/gen: ")
	if err := generate(*dir, *font, *newKeys, *resign || *newKeys); err != nil {
		log.Fatal(err)
	}
}

func generate(dir, font string, newKeys, resign bool) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := makePKI(abs, newKeys); err != nil {
		return fmt.Errorf("making the test PKI: %w", err)
	}
	tmp, err := os.MkdirTemp("", "corpus-gen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	g := &gen{dir: abs, tmp: tmp, font: font, resign: resign}
	for _, step := range []func() error{g.built, g.derived, g.signed, g.broken} {
		if err := step(); err != nil {
			return err
		}
	}
	return writeReadme(abs)
}

type gen struct {
	dir, tmp string
	font     string
	resign   bool // rewrite the files that come out different on each run
}

// keep reports whether the named non-deterministic outputs all exist and
// may stay as they are.
func (g *gen) keep(names ...string) bool {
	if g.resign {
		return false
	}
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(g.dir, n)); err != nil {
			return false
		}
	}
	return true
}

func (g *gen) write(name string, data []byte) error {
	return os.WriteFile(filepath.Join(g.dir, name), data, 0o644)
}

func (g *gen) writeTmp(name string, data []byte) error {
	return os.WriteFile(filepath.Join(g.tmp, name), data, 0o644)
}

// built writes the files made here byte by byte.
func (g *gen) built() error {
	images, err := v16Images()
	if err != nil {
		return err
	}
	fonts, err := v17Fonts(g.font)
	if err != nil {
		return fmt.Errorf("v17-fonts.pdf: %w", err)
	}
	v2, err := v20(g.font)
	if err != nil {
		return fmt.Errorf("v20.pdf: %w", err)
	}
	for name, data := range map[string][]byte{
		"v13-classic.pdf": v13Classic(), "v14-forms.pdf": v14Forms(), "v16-images.pdf": images,
		"v17-fonts.pdf": fonts, "v20.pdf": v2, "hybrid.pdf": hybrid(), "incremental.pdf": incremental(),
		"incremental-xrefstream.pdf": incrementalStream(),
	} {
		if err := g.write(name, data); err != nil {
			return err
		}
	}
	return nil
}

// derived writes the files qpdf makes from sources built here.
func (g *gen) derived() error {
	pages := func(n int) [][]string {
		p := make([][]string, n)
		for i := range p {
			p[i] = []string{"Page text for a file that qpdf rewrote.", strings.Repeat("OCES ", 12)}
		}
		return p
	}
	sources := map[string][]byte{
		"objstm-src.pdf": simple("1.5", "OCES corpus: object streams", pages(2)...),
		"linear-src.pdf": simple("1.5", "OCES corpus: linearized", pages(4)...),
		"crypt-src.pdf":  simple("1.7", "OCES corpus: encrypted", pages(1)...),
	}
	for name, data := range sources {
		if err := g.writeTmp(name, data); err != nil {
			return err
		}
	}
	steps := []struct {
		in, out string
		opts    []string
	}{
		{"objstm-src.pdf", "v15-objstm.pdf", []string{"--object-streams=generate", "--deterministic-id"}},
		{"linear-src.pdf", "linearized.pdf", []string{"--linearize", "--deterministic-id"}},
		// Encryption needs random keys and salts; --static-id only keeps the /ID.
		{"crypt-src.pdf", "encrypted.pdf", []string{"--static-id", "--encrypt", "user", "owner", "256", "--"}},
		{"crypt-src.pdf", "encrypted-owner-only.pdf", []string{"--static-id", "--encrypt", "", "owner", "256", "--"}},
	}
	for _, s := range steps {
		if strings.HasPrefix(s.out, "encrypted") && g.keep(s.out) {
			continue
		}
		if err := qpdf(g.tmp, s.in, filepath.Join(g.dir, s.out), s.opts...); err != nil {
			return fmt.Errorf("%s: %w", s.out, err)
		}
	}
	return nil
}

// signed writes the files signed by pdfsig and PDFBox.
func (g *gen) signed() error {
	if g.keep("presigned-pdfsig.pdf", "presigned-pdfsig-field.pdf", "presigned-pdfbox-cades.pdf", "presigned-doctimestamp.pdf") {
		return nil
	}
	if err := g.writeTmp("sigfield.pdf", sigFieldDoc()); err != nil {
		return err
	}
	if err := g.writeTmp("plain.pdf", simple("1.7", "OCES corpus: signed by pdfsig -add-signature", []string{
		"pdfsig -add-signature created the signature field of this file."})); err != nil {
		return err
	}
	fontconf, err := g.fontconfig()
	if err != nil {
		return err
	}
	if err := pdfsigSign(g.dir, filepath.Join(g.tmp, "plain.pdf"), "presigned-pdfsig.pdf", "", fontconf); err != nil {
		return fmt.Errorf("presigned-pdfsig.pdf: %w", err)
	}
	if err := pdfsigSign(g.dir, filepath.Join(g.tmp, "sigfield.pdf"), "presigned-pdfsig-field.pdf", "Signature1", fontconf); err != nil {
		return fmt.Errorf("presigned-pdfsig-field.pdf: %w", err)
	}
	if err := g.writeTmp("pdfbox.pdf", simple("1.7", "OCES corpus: signed by PDFBox", []string{
		"Signed with Apache PDFBox and Bouncy Castle: ETSI.CAdES.detached."})); err != nil {
		return err
	}
	// Fixed times, so that PDFBox's output is the same each run, within
	// the certificates' validity: openssl 3.0 cannot backdate notBefore.
	start, err := notBefore(filepath.Join(g.dir, "pki", "signer.pem"))
	if err != nil {
		return err
	}
	start = start.Truncate(time.Minute)
	signed := filepath.Join(g.dir, "presigned-pdfbox-cades.pdf")
	if err := pdfbox(g.dir, g.tmp, "sign", filepath.Join(g.tmp, "pdfbox.pdf"), signed, start.Add(2*time.Minute)); err != nil {
		return fmt.Errorf("presigned-pdfbox-cades.pdf: %w", err)
	}
	if err := pdfbox(g.dir, g.tmp, "timestamp", signed, filepath.Join(g.dir, "presigned-doctimestamp.pdf"), start.Add(3*time.Minute)); err != nil {
		return fmt.Errorf("presigned-doctimestamp.pdf: %w", err)
	}
	return nil
}

func notBefore(pemFile string) (time.Time, error) {
	b, err := os.ReadFile(pemFile)
	if err != nil {
		return time.Time{}, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return time.Time{}, fmt.Errorf("%s: no PEM block", pemFile)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", pemFile, err)
	}
	return c.NotBefore, nil
}

// fontconfig writes a fontconfig configuration whose only font is DejaVu
// Sans subset to printable ASCII, and returns its path.
func (g *gen) fontconfig() (string, error) {
	data, err := os.ReadFile(g.font)
	if err != nil {
		return "", err
	}
	tt, err := parseTrueType(data)
	if err != nil {
		return "", err
	}
	var ascii []rune
	for r := rune(32); r < 127; r++ {
		ascii = append(ascii, r)
	}
	sub, err := tt.subset(ascii)
	if err != nil {
		return "", err
	}
	fonts := filepath.Join(g.tmp, "fonts")
	if err := os.MkdirAll(fonts, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(fonts, "DejaVuSans-ascii.ttf"), sub, 0o644); err != nil {
		return "", err
	}
	conf := filepath.Join(g.tmp, "fonts.conf")
	xml := fmt.Sprintf("<?xml version=\"1.0\"?>\n<!DOCTYPE fontconfig SYSTEM \"fonts.dtd\">\n<fontconfig><dir>%s</dir><cachedir>%s</cachedir></fontconfig>\n",
		fonts, filepath.Join(g.tmp, "fontcache"))
	return conf, os.WriteFile(conf, []byte(xml), 0o644)
}

// broken writes the inputs a reader must refuse or repair.
func (g *gen) broken() error {
	classic := v13Classic()
	at := bytes.LastIndex(classic, []byte("startxref\n"))
	stream := bytes.Index(classic, []byte("stream\n"))
	if at < 0 || stream < 0 {
		return errors.New("garbage-xref.pdf: v13-classic.pdf has no startxref")
	}
	garbage := append(append([]byte{}, classic[:at]...), []byte(fmt.Sprintf("startxref\n%d\n%%%%EOF\n", stream+20))...)
	images, err := v16Images()
	if err != nil {
		return err
	}
	var pic bytes.Buffer
	if err := png.Encode(&pic, gradient(16, 16)); err != nil {
		return err
	}
	for name, data := range map[string][]byte{
		"garbage-xref.pdf": garbage, "truncated.pdf": images[:len(images)/2],
		"not-a-pdf.pdf": pic.Bytes(), "empty.pdf": {},
	} {
		if err := g.write(name, data); err != nil {
			return err
		}
	}
	return nil
}

func writeReadme(dir string) error {
	var b strings.Builder
	b.WriteString(`# PDF corpus

Fixtures for tests of PDF signing and reading: files of every structure a
signing service meets, the broken inputs it must refuse, and a test PKI.
Made by [gen/main.go](gen/main.go); regenerate with

    go generate ./pades/testdata/corpus/...

(needs qpdf, poppler-utils, libnss3-tools, openssl, fonts-dejavu-core, a JDK,
libpdfbox2-java and libbcpkix-java:
` + "`scripts/deps.sh --test`" + `). Large files for benchmarks are not committed:
` + "`corpus.Big(tb, sizeMB)`" + ` writes one into a test's temporary directory.

Every file built by the generator itself and every file qpdf rewrites with
--deterministic-id comes out byte for byte the same on every run. The
encrypted files (random keys and salts) and the signed ones (signing time,
PDFBox's output) differ on each run, so the generator keeps them when they
exist; ` + "`go run ./gen -resign`" + ` here rewrites them (` + "`-newkeys`" + ` also makes a new test PKI).

| file | kind | version | pages | xref | updates | signatures | what it is |
|---|---|---|---|---|---|---|---|
`)
	for _, f := range corpus.Files {
		sig := "-"
		if f.Signatures > 0 {
			sig = fmt.Sprintf("%d %s", f.Signatures, f.SubFilter)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %d | %s | %d | %s | %s |\n", f.Name, f.Kind, dash(f.Version), f.Pages, dash(f.XRef), f.Updates, sig, f.Description)
	}
	b.WriteString(`
## Test PKI (test-only keys: never trust them anywhere)

| file | what it is |
|---|---|
| ` + "`pki/root.pem`, `pki/root.key`" + ` | self-signed RSA-2048 root "OCES Corpus Test Root" |
| ` + "`pki/signer.pem`, `pki/signer.key`" + ` | RSA-2048 signer "OCES Corpus Test Signer" (digitalSignature, nonRepudiation) |
| ` + "`pki/tsa.pem`, `pki/tsa.key`" + ` | RSA-2048 "OCES Corpus Test TSA", critical EKU timeStamping |
| ` + "`nss/`" + ` | NSS database, empty password: the signer's key as "corpus-signer", the root trusted (CT,C,C) |

Two signed files were signed by poppler's ` + "`pdfsig`" + ` (22.12 in Debian 12) with this
database. pdfsig 22.12 has ` + "`-add-signature`" + ` but makes adbe.pkcs7.detached only: it
refuses ` + "`-etsi`" + ` with ` + "`-add-signature`" + ` ("not supported yet") and ignores it with
` + "`-sign`" + `. The ETSI.CAdES.detached file is therefore signed by Apache PDFBox 2 (Debian's
libpdfbox2-java) with a Bouncy Castle CMS (libbcpkix-java), in
[gen/java/CorpusSign.java](gen/java/CorpusSign.java), with ` + "`pki/signer.key`" + `; the same
program adds the document time-stamp, whose token Bouncy Castle's TimeStampTokenGenerator
makes with ` + "`pki/tsa.key`" + ` (policy 1.3.6.1.4.1.99999.1.1, a test OID). Their signing time
and genTime are fixed at minutes after the certificates' notBefore (openssl 3.0 cannot
backdate one), yet PDFBox's output still differs between runs.
pdfsig 22.12 does not verify ETSI.RFC3161: it prints "Signature Type: unknown" and
"Signature has not yet been verified." for the time-stamp.
Verify any of them with ` + "`pdfsig -nssdir sql:nss FILE`" + ` or against ` + "`pki/root.pem`" + `.
`)
	return os.WriteFile(filepath.Join(dir, "README.md"), []byte(b.String()), 0o644)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
