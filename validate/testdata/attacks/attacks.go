// Package attacks generates the PDF files of the attacks on PDF signatures
// that a validator must catch: a base document to sign, and incremental
// updates applied to the signed file afterwards. The classes are those of
// Mladenov et al., "1 Trillion Dollar Refund" (incremental saving attacks)
// and Mainka et al., "Shadow Attacks" (hide, replace, hide-and-replace), plus
// cross-reference tricks. Only tests import this package; every file is
// made from scratch here, byte by byte, so the generator is the fixture.
package attacks

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strconv"
)

// Object numbers of the base document.
const (
	Catalog = 1
	Pages   = 2
	Page    = 3
	Content = 4 // the visible text, and under a cover the hidden text
	Font    = 5
	Cover   = 6 // a second content stream: a white box over the hidden text
	size    = 7 // the original revision's /Size
)

// Visible and hidden are the texts of the base document.
const (
	Visible = "Pay 100 DKK to Firma A/S"
	Hidden  = "Pay 1000000 DKK to Mallory"
)

func stream(body string) string {
	return fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(body), body)
}

var (
	visibleContent = "BT /F1 18 Tf 72 720 Td (" + Visible + ") Tj ET\nBT /F1 18 Tf 72 680 Td (" + Hidden + ") Tj ET"
	coverContent   = "1 1 1 rg 60 670 400 36 re f"
	// Shadow "replace": an alternative content stream, defined in the signed
	// body under the same number as the real one but not where the
	// cross-reference table points.
	shadowContent = "BT /F1 18 Tf 72 720 Td (" + Hidden + ") Tj ET"
)

// Base returns a one-page PDF 1.7 with a classic cross-reference table
// whose page draws Visible and Hidden, Hidden covered by a white box drawn
// by a second content stream. Its body also holds a second definition of
// object Content (the shadow), after the real one, which the table does
// not point at.
func Base() []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offsets := map[int]int{}
	obj := func(num int, body string) {
		offsets[num] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", num, body)
	}
	obj(Catalog, "<< /Type /Catalog /Pages 2 0 R >>")
	obj(Pages, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
	obj(Page, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents [4 0 R 6 0 R] /Resources << /Font << /F1 5 0 R >> >> >>")
	obj(Content, stream(visibleContent))
	real := offsets[Content]
	obj(Font, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
	obj(Cover, stream(coverContent))
	obj(Content, stream(shadowContent)) // the shadow: never referenced by the table
	offsets[Content] = real
	xref := b.Len()
	writeTable(&b, offsets, size)
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", size, xref)
	return b.Bytes()
}

// ShadowOffset returns where the shadow definition of Content is in the
// base document (and so in any file built on it).
func ShadowOffset(pdf []byte) int {
	hdr := []byte(fmt.Sprintf("%d 0 obj", Content))
	first := bytes.Index(pdf, hdr)
	return first + 1 + bytes.Index(pdf[first+1:], hdr)
}

func writeTable(b *bytes.Buffer, offsets map[int]int, size int) {
	nums := make([]int, 0, len(offsets))
	for n := range offsets {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	b.WriteString("xref\n")
	if size > 0 {
		// A full table from 0 for the original revision.
		fmt.Fprintf(b, "0 %d\n0000000000 65535 f\r\n", size)
		for n := 1; n < size; n++ {
			fmt.Fprintf(b, "%010d 00000 n\r\n", offsets[n])
		}
		return
	}
	for _, n := range nums {
		fmt.Fprintf(b, "%d 1\n%010d 00000 n\r\n", n, offsets[n])
	}
}

var (
	reStartxref = regexp.MustCompile(`startxref\s+(\d+)\s+%%EOF\s*$`)
	reSize      = regexp.MustCompile(`/Size\s+(\d+)`)
	reRoot      = regexp.MustCompile(`/Root\s+(\d+\s+\d+)\s+R`)
)

// Object is one object an update writes: Body is what goes between
// "n 0 obj" and "endobj"; At, when set, is an offset the update's table
// points at instead (an existing definition elsewhere in the file).
type Object struct {
	Num  int
	Body string
	At   int
}

// Update appends an incremental update (ISO 32000-1 7.5.6) to a file with
// a classic table: the objects, a table listing them and a trailer whose
// /Prev is the file's last startxref. An object listed twice is written
// twice and the table points at the last.
func Update(pdf []byte, objs ...Object) ([]byte, error) {
	m := reStartxref.FindSubmatch(pdf)
	if m == nil {
		return nil, fmt.Errorf("attacks: no startxref at the end")
	}
	prev, _ := strconv.Atoi(string(m[1]))
	sizes := reSize.FindAllSubmatch(pdf, -1)
	roots := reRoot.FindAllSubmatch(pdf, -1)
	if len(sizes) == 0 || len(roots) == 0 {
		return nil, fmt.Errorf("attacks: no /Size or /Root in the trailer")
	}
	size, _ := strconv.Atoi(string(sizes[len(sizes)-1][1]))
	out := bytes.NewBuffer(append([]byte(nil), pdf...))
	if pdf[len(pdf)-1] != '\n' {
		out.WriteByte('\n')
	}
	offsets := map[int]int{}
	for _, o := range objs {
		if o.At > 0 {
			offsets[o.Num] = o.At
			continue
		}
		offsets[o.Num] = out.Len()
		fmt.Fprintf(out, "%d 0 obj\n%s\nendobj\n", o.Num, o.Body)
		size = max(size, o.Num+1)
	}
	xref := out.Len()
	writeTable(out, offsets, 0)
	fmt.Fprintf(out, "trailer\n<< /Size %d /Root %s R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n", size, roots[len(roots)-1][1], prev, xref)
	return out.Bytes(), nil
}

// NextNumber is the first object number the file does not use: the last
// trailer's /Size.
func NextNumber(pdf []byte) int {
	sizes := reSize.FindAllSubmatch(pdf, -1)
	if len(sizes) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(string(sizes[len(sizes)-1][1]))
	return n
}

// LastBody returns the body of the last definition of object num in pdf
// (between "num 0 obj" and "endobj"), as a later update would start from.
func LastBody(pdf []byte, num int) (string, error) {
	hdr := []byte(fmt.Sprintf("\n%d 0 obj", num))
	i := bytes.LastIndex(pdf, hdr)
	if i < 0 {
		return "", fmt.Errorf("attacks: no object %d", num)
	}
	body := pdf[i+len(hdr):]
	j := bytes.Index(body, []byte("endobj"))
	if j < 0 {
		return "", fmt.Errorf("attacks: object %d has no endobj", num)
	}
	return string(bytes.TrimSpace(body[:j])), nil
}

var reContents = regexp.MustCompile(`/Contents\s*\[[^\]]*\]`)

// changePage rewrites the page's last definition with other /Contents.
func changePage(s []byte, contents string) ([]byte, error) {
	body, err := LastBody(s, Page)
	if err != nil {
		return nil, err
	}
	if !reContents.MatchString(body) {
		return nil, fmt.Errorf("attacks: the page has no /Contents array")
	}
	return Update(s, Object{Num: Page, Body: reContents.ReplaceAllLiteralString(body, "/Contents "+contents)})
}

// An Attack turns a signed file into a manipulated one.
type Attack struct {
	Name  string
	Class string // what the literature calls it
	Apply func(signed []byte) ([]byte, error)
}

// All lists the attacks, each of which a validator must not pass.
var All = []Attack{
	{"replace-content", "incremental saving: page content replaced", func(s []byte) ([]byte, error) {
		return Update(s, Object{Num: Content, Body: stream("BT /F1 18 Tf 72 720 Td (Pay 9999999 DKK to Mallory) Tj ET")})
	}},
	{"overlay", "incremental saving: overlay content stream added", func(s []byte) ([]byte, error) {
		s, err := Update(s, Object{Num: NextNumber(s), Body: stream("1 1 1 rg 60 710 400 36 re f BT /F1 18 Tf 72 720 Td (Pay 5000000 DKK to Mallory) Tj ET")})
		if err != nil {
			return nil, err
		}
		return changePage(s, fmt.Sprintf("[4 0 R 6 0 R %d 0 R]", NextNumber(s)-1))
	}},
	{"shadow-hide", "shadow attack, hide: the cover over the hidden text removed", func(s []byte) ([]byte, error) {
		return changePage(s, "[4 0 R]")
	}},
	{"shadow-hide-cover-emptied", "shadow attack, hide: the cover stream emptied", func(s []byte) ([]byte, error) {
		return Update(s, Object{Num: Cover, Body: stream("")})
	}},
	{"shadow-replace-font", "shadow attack, replace: the font swapped", func(s []byte) ([]byte, error) {
		return Update(s, Object{Num: Font, Body: "<< /Type /Font /Subtype /Type1 /BaseFont /ZapfDingbats >>"})
	}},
	{"xref-into-signed-range", "shadow attack, hide-and-replace: a table entry points at a shadow object in the signed bytes", func(s []byte) ([]byte, error) {
		return Update(s, Object{Num: Content, At: ShadowOffset(s)})
	}},
	{"duplicate-object", "one object number defined twice in one update", func(s []byte) ([]byte, error) {
		return Update(s,
			Object{Num: Content, Body: stream(visibleContent)},
			Object{Num: Content, Body: stream(shadowContent)})
	}},
	{"catalog-openaction", "incremental saving: the catalog gains an /OpenAction", func(s []byte) ([]byte, error) {
		body, err := LastBody(s, Catalog)
		if err != nil {
			return nil, err
		}
		i := bytes.LastIndex([]byte(body), []byte(">>"))
		return Update(s, Object{Num: Catalog, Body: body[:i] + " /OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >> >>"})
	}},
}
