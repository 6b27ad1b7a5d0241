// Package corpus is a set of PDF fixtures of every structure a signing
// service meets in files "as people really have them" (ISO 32000-1 clause
// 7.5: classic and stream cross-references, hybrid files, object streams,
// linearization, incremental updates, encryption, earlier signatures), the
// broken inputs it must refuse, and a generator of large files for
// benchmarks. The files are made by gen/main.go (`go generate` here) and
// committed; README.md lists them. Only tests import this package.
package corpus

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/oces-pki/oces/pades/testdata/corpus/internal/pdfw"
)

// Kind says what a reader should make of a file.
type Kind int

const (
	// Valid files are well-formed and unencrypted.
	Valid Kind = iota
	// Encrypted files are well-formed under the standard security handler.
	Encrypted
	// Damaged files are readable only by reconstructing the
	// cross-reference table.
	Damaged
	// Invalid files are not usable PDF at all.
	Invalid
)

func (k Kind) String() string {
	switch k {
	case Valid:
		return "valid"
	case Encrypted:
		return "encrypted"
	case Damaged:
		return "damaged"
	case Invalid:
		return "invalid"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// File describes one fixture.
type File struct {
	Name        string
	Kind        Kind
	Version     string // the header's version; "" when there is none
	Pages       int    // 0 when the file cannot be read
	XRef        string // "table", "stream", "hybrid" or ""
	Updates     int    // incremental updates after the original revision
	Signatures  int    // signature fields with a value
	SubFilter   string // of the signatures, when there are any
	Linearized  bool
	UserPass    string // for Encrypted files; "" is the empty user password
	OwnerPass   string
	Description string
}

// Files lists every committed fixture, in the order of README.md.
var Files = []File{
	{Name: "v13-classic.pdf", Kind: Valid, Version: "1.3", Pages: 1, XRef: "table",
		Description: "one page of Helvetica text, classic cross-reference table, Info dictionary"},
	{Name: "v14-forms.pdf", Kind: Valid, Version: "1.4", Pages: 1, XRef: "table",
		Description: "AcroForm with two filled text fields and a checked checkbox, each with an appearance stream"},
	{Name: "v15-objstm.pdf", Kind: Valid, Version: "1.5", Pages: 2, XRef: "stream",
		Description: "cross-reference stream and object streams (qpdf --object-streams=generate)"},
	{Name: "v16-images.pdf", Kind: Valid, Version: "1.6", Pages: 3, XRef: "table",
		Description: "three pages with a DCT (JPEG) and a Flate RGB image; Resources and MediaBox inherited from /Pages"},
	{Name: "v17-fonts.pdf", Kind: Valid, Version: "1.7", Pages: 3, XRef: "table",
		Description: "three pages of Danish text in an embedded, subset DejaVu Sans TrueType font (FontFile2)"},
	{Name: "v20.pdf", Kind: Valid, Version: "2.0", Pages: 1, XRef: "table",
		Description: "PDF 2.0 header, XMP metadata, no Info dictionary"},
	{Name: "hybrid.pdf", Kind: Valid, Version: "1.5", Pages: 1, XRef: "hybrid",
		Description: "classic table whose trailer has /XRefStm; the font and Info dictionaries are only in an object stream"},
	{Name: "linearized.pdf", Kind: Valid, Version: "1.5", Pages: 4, XRef: "table", Linearized: true,
		Description: "four pages, linearized (qpdf --linearize); qpdf writes it as PDF 1.5 with an object-stream-free table"},
	{Name: "incremental.pdf", Kind: Valid, Version: "1.4", Pages: 2, XRef: "table", Updates: 2,
		Description: "original revision plus two incremental updates: one adds a page and changes Info, one rewrites page 1"},
	{Name: "incremental-xrefstream.pdf", Kind: Valid, Version: "1.5", Pages: 1, XRef: "stream", Updates: 1,
		Description: "cross-reference streams throughout, font and Info in an object stream, one incremental update that rewrites the page"},
	{Name: "presigned-pdfsig.pdf", Kind: Valid, Version: "1.7", Pages: 1, XRef: "table", Updates: 1, Signatures: 1,
		SubFilter:   "adbe.pkcs7.detached",
		Description: "signed by poppler pdfsig -add-signature (new field, appearance with a Type0 font: about 490 KB, mostly pdfsig's full CIDToGIDMap and /W)"},
	{Name: "presigned-pdfsig-field.pdf", Kind: Valid, Version: "1.7", Pages: 1, XRef: "table", Updates: 1, Signatures: 1,
		SubFilter:   "adbe.pkcs7.detached",
		Description: "signed by poppler pdfsig -sign into an empty invisible signature field the generator prepared"},
	{Name: "presigned-pdfbox-cades.pdf", Kind: Valid, Version: "1.7", Pages: 1, XRef: "table", Updates: 1, Signatures: 1,
		SubFilter:   "ETSI.CAdES.detached",
		Description: "signed by Apache PDFBox 2 with a Bouncy Castle CMS (gen/java/CorpusSign.java): CAdES signed attributes, no signing-time"},
	{Name: "presigned-doctimestamp.pdf", Kind: Valid, Version: "1.7", Pages: 1, XRef: "table", Updates: 2, Signatures: 2,
		SubFilter:   "ETSI.CAdES.detached, ETSI.RFC3161",
		Description: "presigned-pdfbox-cades.pdf plus a document time-stamp (/Type /DocTimeStamp, ETSI.RFC3161) added by PDFBox, token by Bouncy Castle with pki/tsa.key"},
	{Name: "encrypted.pdf", Kind: Encrypted, Version: "1.7", Pages: 1, XRef: "table", UserPass: "user", OwnerPass: "owner",
		Description: "AES-256 (qpdf --encrypt user owner 256): opening needs the user password"},
	{Name: "encrypted-owner-only.pdf", Kind: Encrypted, Version: "1.7", Pages: 1, XRef: "table", UserPass: "", OwnerPass: "owner",
		Description: "AES-256 with an empty user password: opens without a password, restrictions need the owner's"},
	{Name: "garbage-xref.pdf", Kind: Damaged, Version: "1.3", Pages: 1, XRef: "table",
		Description: "v13-classic.pdf with startxref pointing into the middle of a content stream; qpdf reconstructs it"},
	{Name: "truncated.pdf", Kind: Invalid, Version: "1.6",
		Description: "the first half of v16-images.pdf: no cross-reference table, no trailer, a stream cut off"},
	{Name: "not-a-pdf.pdf", Kind: Invalid,
		Description: "a PNG image with a .pdf name"},
	{Name: "empty.pdf", Kind: Invalid,
		Description: "zero bytes"},
}

// Signing material of the presigned fixtures (test-only keys, committed on
// purpose, never trusted anywhere else).
const (
	// NSSDirName is the NSS database pdfsig signed with; it trusts RootCert.
	NSSDirName = "nss"
	// RootCert is the self-signed test root (PEM).
	RootCert = "pki/root.pem"
	// SignerCert is the signer's certificate (PEM), issued by the root.
	SignerCert = "pki/signer.pem"
	// SignerKey is the signer's RSA-2048 private key (PEM, unencrypted).
	SignerKey = "pki/signer.key"
	// SignerCN is the signer certificate's common name.
	SignerCN = "OCES Corpus Test Signer"
)

// Dir returns the absolute path of the directory holding the fixtures.
func Dir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("corpus: cannot locate the package source")
	}
	return filepath.Dir(file)
}

// Path returns the absolute path of the named fixture (a name in Files or
// one of the signing material constants) and fails tb if it is missing.
func Path(tb testing.TB, name string) string {
	tb.Helper()
	p := filepath.Join(Dir(), filepath.FromSlash(name))
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("corpus: %v (run go generate ./pades/testdata/corpus/...)", err)
	}
	return p
}

// Read returns the contents of the named fixture.
func Read(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(Path(tb, name))
	if err != nil {
		tb.Fatalf("corpus: %v", err)
	}
	return b
}

// Lookup returns the description of the named fixture.
func Lookup(name string) (File, bool) {
	for _, f := range Files {
		if f.Name == name {
			return f, true
		}
	}
	return File{}, false
}

// OfKind returns the fixtures of the given kinds.
func OfKind(kinds ...Kind) []File {
	var out []File
	for _, f := range Files {
		for _, k := range kinds {
			if f.Kind == k {
				out = append(out, f)
			}
		}
	}
	return out
}

// Big writes a valid PDF 1.7 file of at least sizeMB megabytes (10^6
// bytes) and less than sizeMB+1 into tb.TempDir() and returns its path:
// pages of 1 MB uncompressed images of pseudo-random pixels (the same for
// the same size), so that hashing and copying, not parsing, dominate.
func Big(tb testing.TB, sizeMB int) string {
	tb.Helper()
	if sizeMB < 1 {
		tb.Fatalf("corpus: Big(%d): size must be at least 1 MB", sizeMB)
	}
	p := filepath.Join(tb.TempDir(), fmt.Sprintf("big-%dmb.pdf", sizeMB))
	if err := os.WriteFile(p, BigBytes(sizeMB), 0o644); err != nil {
		tb.Fatalf("corpus: writing %s: %v", p, err)
	}
	return p
}

// BigBytes is the file Big writes.
func BigBytes(sizeMB int) []byte { return SizedBytes(sizeMB * 1_000_000) }

// SizedBytes is a file like Big's of at least target bytes (and less
// than target plus one image row and a page's objects), for any size.
func SizedBytes(target int) []byte {
	const side = 577 // 577×577 RGB ≈ 0.999 MB per image
	sizeMB := target / 1_000_000
	rng := rand.New(rand.NewChaCha8([32]byte{'o', 'c', 'e', 's', byte(sizeMB), byte(target), byte(target >> 8)}))
	w := pdfw.New("1.7")
	catalog, pages := w.Alloc(), w.Alloc()
	font := w.Add("<</Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding>>")
	var kids []int
	for i := 0; ; i++ {
		// Each page costs one image plus a few hundred bytes; the last
		// image is cut to the rows that reach the size.
		left := target - w.Len()
		if left <= 0 {
			break
		}
		h := side
		if rows := left/(3*side) + 1; rows < h {
			h = rows
		}
		pix := make([]byte, 3*side*h)
		for j := 0; j+8 <= len(pix); j += 8 {
			binary.LittleEndian.PutUint64(pix[j:], rng.Uint64())
		}
		img := w.AddStream(fmt.Sprintf("/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB /BitsPerComponent 8", side, h), pix)
		content := w.AddStream("", []byte(fmt.Sprintf("q 540 0 0 %d 36 %d cm /Im0 Do Q BT /F1 12 Tf 36 30 Td (Page %d) Tj ET", 540*h/side, 756-540*h/side, i+1)))
		kids = append(kids, w.Add(fmt.Sprintf("<</Type /Page /Parent %d 0 R /Contents %d 0 R /Resources <</Font <</F1 %d 0 R>> /XObject <</Im0 %d 0 R>>>>>>", pages, content, font, img)))
	}
	w.Obj(pages, fmt.Sprintf("<</Type /Pages /Kids [%s] /Count %d /MediaBox [0 0 612 792]>>", refs(kids), len(kids)))
	w.Obj(catalog, fmt.Sprintf("<</Type /Catalog /Pages %d 0 R>>", pages))
	w.XRefTable(fmt.Sprintf("/Root %d 0 R /ID %s", catalog, pdfw.ID(fmt.Sprintf("big-%d", target))))
	return w.Bytes()
}

func refs(nums []int) string {
	s := ""
	for i, n := range nums {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%d 0 R", n)
	}
	return s
}
