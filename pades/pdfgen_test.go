package pades

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// pdfSpec describes a test PDF written by genPDF: small, but with the
// shapes real files have.
type pdfSpec struct {
	Version        string // header version; default "1.7"
	CatalogVersion string // catalog /Version, if any
	Pages          int    // default 1
	Tree           bool   // a two-level page tree
	Inherit        bool   // MediaBox, Resources (and Rotate) on the page tree root
	Rotate         int    // page rotation
	Image          bool   // an image XObject on every page
	Form           bool   // an AcroForm with a text field; /Fields an indirect array
	EmptySig       bool   // with Form: an unsigned signature field "Underskrift" on page 1
	AnnotsRef      bool   // page 1 has a link in an indirect /Annots array
	Info           bool   // a document information dictionary
	NoID           bool   // no /ID in the trailer
	Hybrid         bool   // font, info and AcroForm in an object stream listed by /XRefStm
	NoEOL          bool   // nothing after the final %%EOF
	CRLF           bool   // CR LF line ends
}

// pdfWriter collects numbered objects and writes them with a classic table.
type pdfWriter struct {
	objs map[int][]byte
	next int
}

func (w *pdfWriter) add(body string) int {
	w.next++
	w.objs[w.next] = []byte(body)
	return w.next
}

func (w *pdfWriter) set(n int, body string) { w.objs[n] = []byte(body) }

func (w *pdfWriter) reserve() int {
	w.next++
	return w.next
}

func stream(dict string, data []byte) string {
	return fmt.Sprintf("<< %s /Length %d >>\nstream\n%s\nendstream", dict, len(data), data)
}

func flated(data []byte) []byte {
	var b bytes.Buffer
	z := zlib.NewWriter(&b)
	z.Write(data)
	z.Close()
	return b.Bytes()
}

// genPDF writes the PDF that s describes.
func genPDF(tb testing.TB, s pdfSpec) []byte {
	tb.Helper()
	if s.Version == "" {
		s.Version = "1.7"
	}
	if s.Pages == 0 {
		s.Pages = 1
	}
	w := &pdfWriter{objs: map[int][]byte{}}
	catalog := w.reserve()
	pagesRoot := w.reserve()
	font := w.add("<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman /Encoding /WinAnsiEncoding >>")
	var image int
	if s.Image {
		px := bytes.Repeat([]byte{0xd0, 0x40, 0x20}, 64*64)
		image = w.add(stream("/Type /XObject /Subtype /Image /Width 64 /Height 64 /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode", flated(px)))
	}
	res := fmt.Sprintf("<< /Font << /F1 %d 0 R >>", font)
	if s.Image {
		res += fmt.Sprintf(" /XObject << /Im1 %d 0 R >>", image)
	}
	res += " >>"
	inherited := "/MediaBox [0 0 595.276 841.89] /Resources " + res
	if s.Rotate != 0 {
		inherited += fmt.Sprintf(" /Rotate %d", s.Rotate)
	}
	var formField, sigField int
	if s.Form {
		formField = w.reserve()
	}
	if s.Form && s.EmptySig {
		sigField = w.reserve()
	}
	// Pages, grouped under intermediate nodes when Tree is set.
	var leaves []int
	parentOf := map[int]int{}
	var mids []int
	perMid := s.Pages
	if s.Tree {
		perMid = 2
	}
	for i := 0; i < s.Pages; i++ {
		if i%perMid == 0 && s.Tree {
			mids = append(mids, w.reserve())
		}
		content := fmt.Sprintf("BT /F1 24 Tf 72 720 Td (Page %d of a test document) Tj ET", i+1)
		if s.Image {
			content += " q 200 0 0 200 72 400 cm /Im1 Do Q"
		}
		c := w.add(stream("/Filter /FlateDecode", flated([]byte(content))))
		p := w.reserve()
		parent := pagesRoot
		if s.Tree {
			parent = mids[len(mids)-1]
		}
		parentOf[p] = parent
		dict := fmt.Sprintf("<< /Type /Page /Parent %d 0 R /Contents %d 0 R", parent, c)
		if !s.Inherit {
			dict += " " + inherited
		}
		if i == 0 && s.AnnotsRef {
			link := w.add("<< /Type /Annot /Subtype /Link /Rect [72 700 300 740] /Border [0 0 0] /A << /S /URI /URI (https://example.dk/) >> >>")
			annots := w.add(fmt.Sprintf("[%d 0 R]", link))
			dict += fmt.Sprintf(" /Annots %d 0 R", annots)
		}
		if i == 0 && s.Form {
			if sigField != 0 {
				dict += fmt.Sprintf(" /Annots [%d 0 R %d 0 R]", formField, sigField)
			} else {
				dict += fmt.Sprintf(" /Annots [%d 0 R]", formField)
			}
		}
		w.set(p, dict+" >>")
		leaves = append(leaves, p)
	}
	kids := func(ns []int) string {
		var b strings.Builder
		for _, n := range ns {
			fmt.Fprintf(&b, "%d 0 R ", n)
		}
		return strings.TrimSpace(b.String())
	}
	root := fmt.Sprintf("<< /Type /Pages /Count %d", s.Pages)
	if s.Tree {
		for _, m := range mids {
			var mk []int
			for _, l := range leaves {
				if parentOf[l] == m {
					mk = append(mk, l)
				}
			}
			w.set(m, fmt.Sprintf("<< /Type /Pages /Parent %d 0 R /Kids [%s] /Count %d >>", pagesRoot, kids(mk), len(mk)))
		}
		root += " /Kids [" + kids(mids) + "]"
	} else {
		root += " /Kids [" + kids(leaves) + "]"
	}
	if s.Inherit {
		root += " " + inherited
	}
	w.set(pagesRoot, root+" >>")
	cat := fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R", pagesRoot)
	acroForm := 0
	if s.CatalogVersion != "" {
		cat += " /Version /" + s.CatalogVersion
	}
	if s.Form {
		w.set(formField, fmt.Sprintf("<< /Type /Annot /Subtype /Widget /FT /Tx /T (Navn) /V (Jens Hansen) /Rect [72 600 300 620] /P %d 0 R /F 4 /DA (/Helv 12 Tf 0 g) >>", leaves[0]))
		fieldList := fmt.Sprintf("%d 0 R", formField)
		if sigField != 0 {
			w.set(sigField, fmt.Sprintf("<< /Type /Annot /Subtype /Widget /FT /Sig /T (Underskrift) /Rect [300 100 520 170] /P %d 0 R /F 4 >>", leaves[0]))
			fieldList += fmt.Sprintf(" %d 0 R", sigField)
		}
		fields := w.add("[" + fieldList + "]")
		helv := w.add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
		acroForm = w.add(fmt.Sprintf("<< /Fields %d 0 R /DA (/Helv 0 Tf 0 g) /DR << /Font << /Helv %d 0 R >> >> >>", fields, helv))
		cat += fmt.Sprintf(" /AcroForm %d 0 R", acroForm)
	}
	w.set(catalog, cat+" >>")
	info := 0
	if s.Info {
		info = w.add("<< /Title (Testdokument) /Producer (pades test generator) /CreationDate (D:20260101120000+01'00') >>")
	}
	packed := map[int]bool{}
	if s.Hybrid {
		packed[font] = true
		if info != 0 {
			packed[info] = true
		}
		if acroForm != 0 {
			packed[acroForm] = true
		}
	}
	return w.write(tb, s, catalog, info, packed)
}

// write lays the objects out. Objects in packed go into an object stream
// that a hybrid /XRefStm lists (ISO 32000-1 7.5.8.4).
func (w *pdfWriter) write(tb testing.TB, s pdfSpec, catalog, info int, packed map[int]bool) []byte {
	eol := "\n"
	if s.CRLF {
		eol = "\r\n"
	}
	var b bytes.Buffer
	b.WriteString("%PDF-" + s.Version + eol + "%\xe5\xf8\xe6\xc5" + eol)
	offsets := map[int]int{}
	nums := make([]int, 0, len(w.objs))
	for n := range w.objs {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	var stmNum, xstmNum int
	var stmIndex []int
	if len(packed) > 0 {
		var head, body bytes.Buffer
		for _, n := range nums {
			if packed[n] {
				fmt.Fprintf(&head, "%d %d ", n, body.Len())
				body.Write(w.objs[n])
				body.WriteString("\n")
				stmIndex = append(stmIndex, n)
			}
		}
		data := append(head.Bytes(), body.Bytes()...)
		stmNum = w.add(stream(fmt.Sprintf("/Type /ObjStm /N %d /First %d /Filter /FlateDecode", len(stmIndex), head.Len()), flated(data)))
		xstmNum = w.reserve()
		nums = append(nums, stmNum)
	}
	for _, n := range nums {
		if packed[n] {
			continue
		}
		offsets[n] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj%s%s%sendobj%s", n, eol, w.objs[n], eol, eol)
	}
	size := w.next + 1
	xstmOff := 0
	if len(packed) > 0 {
		var rows []byte
		var index []string
		for i, n := range stmIndex {
			rows = append(rows, 2, 0, 0, byte(stmNum>>8), byte(stmNum), 0, byte(i))
			index = append(index, fmt.Sprintf("%d 1", n))
		}
		xstmOff = b.Len()
		offsets[xstmNum] = xstmOff
		fmt.Fprintf(&b, "%d 0 obj%s%s%sendobj%s", xstmNum, eol,
			stream(fmt.Sprintf("/Type /XRef /Size %d /W [1 4 2] /Index [%s]", size, strings.Join(index, " ")), rows), eol, eol)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref%s0 %d%s", eol, size, eol)
	entryEOL := " \n"
	if s.CRLF {
		entryEOL = "\r\n"
	}
	for n := 0; n < size; n++ {
		if off, ok := offsets[n]; ok {
			fmt.Fprintf(&b, "%010d 00000 n%s", off, entryEOL)
		} else {
			fmt.Fprintf(&b, "%010d 65535 f%s", 0, entryEOL)
		}
	}
	tr := fmt.Sprintf("<< /Size %d /Root %d 0 R", size, catalog)
	if info != 0 {
		tr += fmt.Sprintf(" /Info %d 0 R", info)
	}
	if !s.NoID {
		tr += " /ID [<0123456789ABCDEF0123456789ABCDEF> <0123456789ABCDEF0123456789ABCDEF>]"
	}
	if xstmOff != 0 {
		tr += fmt.Sprintf(" /XRefStm %d", xstmOff)
	}
	fmt.Fprintf(&b, "trailer%s%s >>%sstartxref%s%d%s%%%%EOF", eol, tr, eol, eol, xref, eol)
	if !s.NoEOL {
		b.WriteString(eol)
	}
	return b.Bytes()
}

// appendInfoUpdate appends a classic incremental update that replaces the
// Info dictionary, as an editor saving a file would.
func appendInfoUpdate(tb testing.TB, data []byte) []byte {
	tb.Helper()
	st, err := readStructure(data)
	if err != nil {
		tb.Fatal(err)
	}
	tr := copyDict(st.sections[0].trailer)
	size, _ := integer(tr["Size"])
	var b bytes.Buffer
	b.Write(data)
	off := b.Len()
	fmt.Fprintf(&b, "%d 0 obj\n<< /Title (Edited) /ModDate (D:20260102120000Z) >>\nendobj\n", size)
	x := b.Len()
	fmt.Fprintf(&b, "xref\n%d 1\n%010d 00000 n \ntrailer\n", size, off)
	delete(tr, "XRefStm")
	tr["Size"] = types.Integer(size + 1)
	tr["Info"] = ref(int(size), 0)
	tr["Prev"] = types.Integer(st.startxref)
	if err := writeDictOrdered(&b, tr, nil); err != nil {
		tb.Fatal(err)
	}
	fmt.Fprintf(&b, "\nstartxref\n%d\n%%%%EOF\n", x)
	return b.Bytes()
}

// qpdfTransform runs qpdf with args over data, e.g. --object-streams=generate
// for a file with cross-reference and object streams, --linearize.
func qpdfTransform(tb testing.TB, data []byte, args ...string) []byte {
	tb.Helper()
	qpdf := needTool(tb, "qpdf")
	dir := tb.TempDir()
	in, out := filepath.Join(dir, "in.pdf"), filepath.Join(dir, "out.pdf")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(qpdf, append(append([]string{}, args...), in, out)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		// qpdf exits 3 for warnings only; the output is still written.
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
			tb.Fatalf("qpdf %v: %v\n%s", args, err, msg)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
