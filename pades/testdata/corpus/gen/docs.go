package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"strings"

	"github.com/oces-pki/oces/pades/testdata/corpus/internal/pdfw"
)

// The fixed dates every generated Info dictionary states.
const (
	created  = "D:20260101120000+01'00'"
	modified = "D:20260315093000+01'00'"
)

func refs(nums ...int) string {
	s := make([]string, len(nums))
	for i, n := range nums {
		s[i] = fmt.Sprintf("%d 0 R", n)
	}
	return strings.Join(s, " ")
}

// textContent is a content stream that shows lines of text in font /F1 at
// size points from the top of a US Letter page; lines are already encoded
// for the font (WinAnsi bytes).
func textContent(size int, lines ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "BT\n/F1 %d Tf\n%d TL\n72 720 Td\n", size, size*3/2)
	for _, l := range lines {
		fmt.Fprintf(&b, "%s '\n", pdfw.Text(l))
	}
	b.WriteString("ET\n")
	return b.Bytes()
}

const helvetica = "<</Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding>>"

func info(title string) string {
	return fmt.Sprintf("<</Title %s /Producer (OCES PKI test corpus generator) /CreationDate (%s)>>", pdfw.Text(title), created)
}

// simple writes a classic file of one text page per entry of pages with a
// Helvetica font and an Info dictionary.
func simple(version, title string, pages ...[]string) []byte {
	w := pdfw.New(version)
	catalog, root := w.Alloc(), w.Alloc()
	font := w.Add(helvetica)
	var kids []int
	for i, lines := range pages {
		content := w.AddStream("", textContent(14, append([]string{fmt.Sprintf("%s, page %d of %d", title, i+1, len(pages))}, lines...)...))
		kids = append(kids, w.Add(fmt.Sprintf("<</Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R /Resources <</Font <</F1 %d 0 R>>>>>>", root, content, font)))
	}
	w.Obj(root, fmt.Sprintf("<</Type /Pages /Kids [%s] /Count %d>>", refs(kids...), len(kids)))
	w.Obj(catalog, fmt.Sprintf("<</Type /Catalog /Pages %d 0 R>>", root))
	inf := w.Add(info(title))
	w.XRefTable(fmt.Sprintf("/Root %d 0 R /Info %d 0 R /ID %s", catalog, inf, pdfw.ID(title)))
	return w.Bytes()
}

func v13Classic() []byte {
	return simple("1.3", "OCES corpus: PDF 1.3 classic", []string{
		"A plain document with a classic cross-reference table.",
		"Helvetica, one of the standard 14 fonts, is not embedded.",
	})
}

// v14Forms is a page with an AcroForm (ISO 32000-1 clause 12.7): two text
// fields and a checkbox, filled, each widget with its normal appearance.
func v14Forms() []byte {
	w := pdfw.New("1.4")
	catalog, root, page := w.Alloc(), w.Alloc(), w.Alloc()
	helv := w.Add(helvetica)
	zadb := w.Add("<</Type /Font /Subtype /Type1 /BaseFont /ZapfDingbats>>")
	content := w.AddStream("", []byte("BT /F1 12 Tf 72 720 Td (Application form) Tj 0 -40 Td (Name:) Tj 0 -30 Td (E-mail:) Tj 0 -30 Td (I accept the terms:) Tj ET\n"))
	textField := func(name, value string, y int) int {
		ap := w.Alloc()
		w.Stream(ap, fmt.Sprintf("/Type /XObject /Subtype /Form /BBox [0 0 250 20] /Resources <</Font <</Helv %d 0 R>>>>", helv),
			[]byte(fmt.Sprintf("/Tx BMC q BT /Helv 11 Tf 0 g 2 6 Td %s Tj ET Q EMC\n", pdfw.Text(value))))
		return w.Add(fmt.Sprintf("<</Type /Annot /Subtype /Widget /FT /Tx /T %s /V %s /DA (/Helv 11 Tf 0 g) /Rect [180 %d 430 %d] /F 4 /P %d 0 R /AP <</N %d 0 R>>>>",
			pdfw.Text(name), pdfw.Text(value), y, y+20, page, ap))
	}
	name := textField("name", "Jens Hansen", 675)
	mail := textField("email", "jens@example.dk", 645)
	on, off := w.Alloc(), w.Alloc()
	w.Stream(on, fmt.Sprintf("/Type /XObject /Subtype /Form /BBox [0 0 14 14] /Resources <</Font <</ZaDb %d 0 R>>>>", zadb),
		[]byte("/Tx BMC q BT /ZaDb 12 Tf 0 g 1.5 2.5 Td (4) Tj ET Q EMC\n"))
	w.Stream(off, "/Type /XObject /Subtype /Form /BBox [0 0 14 14]", []byte("/Tx BMC EMC\n"))
	box := w.Add(fmt.Sprintf("<</Type /Annot /Subtype /Widget /FT /Btn /T (accept) /V /Yes /AS /Yes /DA (/ZaDb 0 Tf 0 g) /MK <</CA (4)>> /Rect [180 616 194 630] /F 4 /P %d 0 R /AP <</N <</Yes %d 0 R /Off %d 0 R>>>>>>",
		page, on, off))
	w.Obj(page, fmt.Sprintf("<</Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R /Resources <</Font <</F1 %d 0 R>>>> /Annots [%s]>>",
		root, content, helv, refs(name, mail, box)))
	w.Obj(root, fmt.Sprintf("<</Type /Pages /Kids [%d 0 R] /Count 1>>", page))
	w.Obj(catalog, fmt.Sprintf("<</Type /Catalog /Pages %d 0 R /AcroForm <</Fields [%s] /DA (/Helv 0 Tf 0 g) /DR <</Font <</Helv %d 0 R /ZaDb %d 0 R>>>>>>>>",
		root, refs(name, mail, box), helv, zadb))
	inf := w.Add(info("OCES corpus: PDF 1.4 form"))
	w.XRefTable(fmt.Sprintf("/Root %d 0 R /Info %d 0 R /ID %s", catalog, inf, pdfw.ID("v14-forms")))
	return w.Bytes()
}

// gradient is a deterministic test picture.
func gradient(wd, ht int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, wd, ht))
	for y := 0; y < ht; y++ {
		for x := 0; x < wd; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 255 / wd), uint8(y * 255 / ht), uint8((x + y) * 127 / (wd + ht)), 255})
		}
	}
	return img
}

// v16Images has three pages in a two-level page tree; MediaBox and
// Resources (fonts and two images) are on the root /Pages node only and are
// inherited (clause 7.7.3.4) by every page, through the intermediate node
// for pages 2 and 3.
func v16Images() ([]byte, error) {
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, gradient(96, 64), &jpeg.Options{Quality: 80}); err != nil {
		return nil, err
	}
	var rgb []byte
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			v := byte(0x20)
			if (x/4+y/4)%2 == 0 {
				v = 0xE0
			}
			rgb = append(rgb, v, byte(x*8), byte(y*8))
		}
	}
	w := pdfw.New("1.6")
	catalog, root, mid := w.Alloc(), w.Alloc(), w.Alloc()
	font := w.Add(helvetica)
	im1 := w.AddStream("/Type /XObject /Subtype /Image /Width 96 /Height 64 /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode", jpg.Bytes())
	im2 := w.Alloc()
	w.FlateStream(im2, "/Type /XObject /Subtype /Image /Width 32 /Height 32 /ColorSpace /DeviceRGB /BitsPerComponent 8", rgb)
	page := func(parent int, n int, draw string) int {
		c := w.Alloc()
		w.FlateStream(c, "", []byte(fmt.Sprintf("%sBT /F1 14 Tf 72 740 Td (Images, page %d of 3) Tj ET\n", draw, n)))
		return w.Add(fmt.Sprintf("<</Type /Page /Parent %d 0 R /Contents %d 0 R>>", parent, c))
	}
	p1 := page(root, 1, "q 288 0 0 192 72 500 cm /Im1 Do Q\n")
	p2 := page(mid, 2, "q 128 0 0 128 72 560 cm /Im2 Do Q\n")
	p3 := page(mid, 3, "q 144 0 0 96 72 600 cm /Im1 Do Q q 96 0 0 96 260 600 cm /Im2 Do Q\n")
	w.Obj(mid, fmt.Sprintf("<</Type /Pages /Parent %d 0 R /Kids [%s] /Count 2>>", root, refs(p2, p3)))
	w.Obj(root, fmt.Sprintf("<</Type /Pages /Kids [%s] /Count 3 /MediaBox [0 0 612 792] /Resources <</Font <</F1 %d 0 R>> /XObject <</Im1 %d 0 R /Im2 %d 0 R>> /ProcSet [/PDF /Text /ImageB /ImageC]>>>>",
		refs(p1, mid), font, im1, im2))
	w.Obj(catalog, fmt.Sprintf("<</Type /Catalog /Pages %d 0 R>>", root))
	inf := w.Add(info("OCES corpus: PDF 1.6 images"))
	w.XRefTable(fmt.Sprintf("/Root %d 0 R /Info %d 0 R /ID %s", catalog, inf, pdfw.ID("v16-images")))
	return w.Bytes(), nil
}

// latin1 encodes s in WinAnsiEncoding, which agrees with Latin-1 for the
// letters used here.
func latin1(s string) string {
	var b []byte
	for _, r := range s {
		if r > 0xFF {
			r = '?'
		}
		b = append(b, byte(r))
	}
	return string(b)
}

// embeddedFont writes a simple TrueType font (clause 9.6.3) with
// WinAnsiEncoding whose program, subset to the runes of text, is embedded
// as FontFile2 (clause 9.9), and returns the font dictionary's number.
func embeddedFont(w *pdfw.Writer, fontPath, text string) (int, error) {
	data, err := os.ReadFile(fontPath)
	if err != nil {
		return 0, err
	}
	tt, err := parseTrueType(data)
	if err != nil {
		return 0, err
	}
	prog, err := tt.subset([]rune(text))
	if err != nil {
		return 0, err
	}
	file := w.Alloc()
	w.FlateStream(file, fmt.Sprintf("/Length1 %d", len(prog)), prog)
	scale := func(v int) int { return v * 1000 / tt.unitsPerEm }
	desc := w.Add(fmt.Sprintf("<</Type /FontDescriptor /FontName /OCESAA+DejaVuSans /Flags 32 /FontBBox [%d %d %d %d] /ItalicAngle 0 /Ascent %d /Descent %d /CapHeight %d /StemV 80 /FontFile2 %d 0 R>>",
		scale(tt.bbox[0]), scale(tt.bbox[1]), scale(tt.bbox[2]), scale(tt.bbox[3]), scale(tt.ascent), scale(tt.descent), scale(tt.ascent)*7/10, file))
	used := map[rune]bool{}
	for _, r := range text {
		used[r] = true
	}
	widths := make([]string, 0, 224)
	for c := rune(32); c <= 255; c++ {
		wd := 0
		if used[c] {
			wd = tt.width(c)
		}
		widths = append(widths, fmt.Sprint(wd))
	}
	return w.Add(fmt.Sprintf("<</Type /Font /Subtype /TrueType /BaseFont /OCESAA+DejaVuSans /FirstChar 32 /LastChar 255 /Widths [%s] /Encoding /WinAnsiEncoding /FontDescriptor %d 0 R>>",
		strings.Join(widths, " "), desc)), nil
}

var danish = [][]string{
	{"Underskrift med OCES-certifikat", "Blåbærgrød på Østerbro og æbleskiver i Århus.", "Søren Kierkegaard skrev på dansk: Livet forstås baglæns."},
	{"Side to: ÆØÅ æøå é ü", "Dokumentet er underskrevet af Jens Hansen, Hørsholm.", "Forbehold: prøveeksemplar, ingen retsvirkning."},
	{"Side tre", "Hvis signaturen er gyldig, er dokumentet uændret siden underskriften."},
}

// v17Fonts is three pages of Danish text in an embedded, subset DejaVu Sans.
func v17Fonts(fontPath string) ([]byte, error) {
	w := pdfw.New("1.7")
	catalog, root := w.Alloc(), w.Alloc()
	var all strings.Builder
	for _, p := range danish {
		all.WriteString(strings.Join(p, ""))
	}
	font, err := embeddedFont(w, fontPath, all.String())
	if err != nil {
		return nil, err
	}
	var kids []int
	for _, lines := range danish {
		enc := make([]string, len(lines))
		for i, l := range lines {
			enc[i] = latin1(l)
		}
		c := w.Alloc()
		w.FlateStream(c, "", textContent(16, enc...))
		kids = append(kids, w.Add(fmt.Sprintf("<</Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Contents %d 0 R /Resources <</Font <</F1 %d 0 R>>>>>>", root, c, font)))
	}
	w.Obj(root, fmt.Sprintf("<</Type /Pages /Kids [%s] /Count %d>>", refs(kids...), len(kids)))
	w.Obj(catalog, fmt.Sprintf("<</Type /Catalog /Pages %d 0 R /Lang (da-DK)>>", root))
	inf := w.Add(info("OCES corpus: PDF 1.7 embedded TrueType"))
	w.XRefTable(fmt.Sprintf("/Root %d 0 R /Info %d 0 R /ID %s", catalog, inf, pdfw.ID("v17-fonts")))
	return w.Bytes(), nil
}

const xmp = `<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
<dc:title><rdf:Alt><rdf:li xml:lang="x-default">OCES corpus: PDF 2.0</rdf:li></rdf:Alt></dc:title>
<xmp:CreateDate>2026-01-01T12:00:00+01:00</xmp:CreateDate>
<pdf:Producer>OCES PKI test corpus generator</pdf:Producer>
</rdf:Description>
</rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
`

// v20 is a PDF 2.0 file (ISO 32000-2): document metadata only in XMP
// (clause 14.3.2; the Info dictionary is deprecated), an embedded font,
// and the /ID the trailer must have.
func v20(fontPath string) ([]byte, error) {
	w := pdfw.New("2.0")
	catalog, root, page := w.Alloc(), w.Alloc(), w.Alloc()
	text := "PDF 2.0 (ISO 32000-2)Metadata is in XMP only; there is no Info dictionary."
	font, err := embeddedFont(w, fontPath, text)
	if err != nil {
		return nil, err
	}
	c := w.Alloc()
	w.FlateStream(c, "", textContent(14, "PDF 2.0 (ISO 32000-2)", "Metadata is in XMP only; there is no Info dictionary."))
	meta := w.AddStream("/Type /Metadata /Subtype /XML", []byte(xmp))
	w.Obj(page, fmt.Sprintf("<</Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Contents %d 0 R /Resources <</Font <</F1 %d 0 R>>>>>>", root, c, font))
	w.Obj(root, fmt.Sprintf("<</Type /Pages /Kids [%d 0 R] /Count 1>>", page))
	w.Obj(catalog, fmt.Sprintf("<</Type /Catalog /Pages %d 0 R /Metadata %d 0 R>>", root, meta))
	w.XRefTable(fmt.Sprintf("/Root %d 0 R /ID %s", catalog, pdfw.ID("v20")))
	return w.Bytes(), nil
}

// hybrid is a hybrid-reference file (clause 7.5.8.4): the font and Info
// dictionaries live only in an object stream, listed by a cross-reference
// stream that the classic trailer's /XRefStm points to.
func hybrid() []byte {
	w := pdfw.New("1.5")
	catalog, root, page, font, inf, objstm, xrefstm := w.Alloc(), w.Alloc(), w.Alloc(), w.Alloc(), w.Alloc(), w.Alloc(), w.Alloc()
	c := w.AddStream("", textContent(14, "Hybrid-reference file", "The font of this text is in an object stream,",
		"reachable only through the trailer's /XRefStm."))
	w.Obj(page, fmt.Sprintf("<</Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R /Resources <</Font <</F1 %d 0 R>>>>>>", root, c, font))
	w.Obj(root, fmt.Sprintf("<</Type /Pages /Kids [%d 0 R] /Count 1>>", page))
	w.Obj(catalog, fmt.Sprintf("<</Type /Catalog /Pages %d 0 R>>", root))
	w.ObjStm(objstm, map[int]string{font: helvetica, inf: info("OCES corpus: hybrid-reference file")})
	w.HybridXRef(xrefstm, fmt.Sprintf("/Root %d 0 R /Info %d 0 R /ID %s", catalog, inf, pdfw.ID("hybrid")))
	return w.Bytes()
}

// incremental is a file with two incremental updates (clause 7.5.6): the
// first adds a page and changes the Info dictionary, the second replaces
// page 1's content.
func incremental() []byte {
	w := pdfw.New("1.4")
	catalog, root, page1 := w.Alloc(), w.Alloc(), w.Alloc()
	font := w.Add(helvetica)
	c1 := w.AddStream("", textContent(14, "Revision 1: the original page 1."))
	pageDict := func(c int) string {
		return fmt.Sprintf("<</Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R /Resources <</Font <</F1 %d 0 R>>>>>>", root, c, font)
	}
	w.Obj(page1, pageDict(c1))
	w.Obj(root, fmt.Sprintf("<</Type /Pages /Kids [%d 0 R] /Count 1>>", page1))
	w.Obj(catalog, fmt.Sprintf("<</Type /Catalog /Pages %d 0 R>>", root))
	inf := w.Add(info("OCES corpus: incremental updates"))
	id0 := pdfw.ID("incremental")[1:35]
	w.XRefTable(fmt.Sprintf("/Root %d 0 R /Info %d 0 R /ID %s", catalog, inf, pdfw.ID("incremental")))

	c2 := w.AddStream("", textContent(14, "Page 2, added by update 1."))
	page2 := w.Add(pageDict(c2))
	w.Obj(root, fmt.Sprintf("<</Type /Pages /Kids [%s] /Count 2>>", refs(page1, page2)))
	w.Obj(inf, fmt.Sprintf("<</Title (OCES corpus: incremental updates) /Producer (OCES PKI test corpus generator) /CreationDate (%s) /ModDate (%s)>>", created, modified))
	w.XRefTable(fmt.Sprintf("/Root %d 0 R /Info %d 0 R /ID [%s %s]", catalog, inf, id0, pdfw.ID("incremental-1")[36:70]))

	c3 := w.AddStream("", textContent(14, "Revision 3: page 1 was rewritten by update 2."))
	w.Obj(page1, pageDict(c3))
	w.XRefTable(fmt.Sprintf("/Root %d 0 R /Info %d 0 R /ID [%s %s]", catalog, inf, id0, pdfw.ID("incremental-2")[36:70]))
	return w.Bytes()
}

// incrementalStream is a PDF 1.5 file whose cross-references are streams
// (clause 7.5.8), with its font and Info in an object stream, and one
// incremental update that rewrites the page and lists it in a second
// cross-reference stream with /Prev, as writers of stream files do.
func incrementalStream() []byte {
	w := pdfw.New("1.5")
	catalog, root, page, font, inf, objstm := w.Alloc(), w.Alloc(), w.Alloc(), w.Alloc(), w.Alloc(), w.Alloc()
	pageDict := func(c int) string {
		return fmt.Sprintf("<</Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R /Resources <</Font <</F1 %d 0 R>>>>>>", root, c, font)
	}
	c1 := w.Alloc()
	w.FlateStream(c1, "", textContent(14, "Revision 1 of a file with cross-reference streams."))
	w.Obj(page, pageDict(c1))
	w.Obj(root, fmt.Sprintf("<</Type /Pages /Kids [%d 0 R] /Count 1>>", page))
	w.Obj(catalog, fmt.Sprintf("<</Type /Catalog /Pages %d 0 R>>", root))
	w.ObjStm(objstm, map[int]string{font: helvetica, inf: info("OCES corpus: incremental update with cross-reference streams")})
	id := pdfw.ID("incremental-xrefstream")
	w.XRefStream(w.Alloc(), fmt.Sprintf("/Root %d 0 R /Info %d 0 R /ID %s", catalog, inf, id))

	c2 := w.Alloc()
	w.FlateStream(c2, "", textContent(14, "Revision 2: the update rewrote this page."))
	w.Obj(page, pageDict(c2))
	w.XRefStream(w.Alloc(), fmt.Sprintf("/Root %d 0 R /Info %d 0 R /ID [%s %s]", catalog, inf, id[1:35], pdfw.ID("incremental-xrefstream-1")[36:70]))
	return w.Bytes()
}

// sigFieldDoc is the document pdfsig signs into: one page and an AcroForm
// with an empty, invisible signature field "Signature1".
func sigFieldDoc() []byte {
	w := pdfw.New("1.7")
	catalog, root, page := w.Alloc(), w.Alloc(), w.Alloc()
	font := w.Add(helvetica)
	c := w.AddStream("", textContent(14, "Signed earlier by another tool", "This page was signed by poppler's pdfsig before OCES saw it."))
	field := w.Add(fmt.Sprintf("<</Type /Annot /Subtype /Widget /FT /Sig /T (Signature1) /Rect [0 0 0 0] /F 132 /P %d 0 R>>", page))
	w.Obj(page, fmt.Sprintf("<</Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R /Resources <</Font <</F1 %d 0 R>>>> /Annots [%d 0 R]>>", root, c, font, field))
	w.Obj(root, fmt.Sprintf("<</Type /Pages /Kids [%d 0 R] /Count 1>>", page))
	w.Obj(catalog, fmt.Sprintf("<</Type /Catalog /Pages %d 0 R /AcroForm <</Fields [%d 0 R]>>>>", root, field))
	inf := w.Add(info("OCES corpus: signed by pdfsig"))
	w.XRefTable(fmt.Sprintf("/Root %d 0 R /Info %d 0 R /ID %s", catalog, inf, pdfw.ID("presigned")))
	return w.Bytes()
}
