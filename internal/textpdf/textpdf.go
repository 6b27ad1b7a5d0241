// Package textpdf turns plain text into a small, correct PDF (ISO 32000-1)
// for signing: A4 pages, the standard Helvetica font (clause 9.6.2.2, one
// of the 14 fonts every reader has) in WinAnsiEncoding (Annex D.2) so that
// Danish letters (æ ø å Æ Ø Å) and the rest of Latin-1 print as they are,
// lines wrapped at word boundaries to the page width with Helvetica's
// metrics, as many pages as the text needs, and a classic cross-reference
// table (clause 7.5.4). Characters outside WinAnsiEncoding become '?'.
package textpdf

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Page geometry in points (1/72 inch): A4, 2 cm margins, 11 pt text on
// 14 pt lines.
const (
	pageWidth  = 595
	pageHeight = 842
	margin     = 56
	fontSize   = 11
	leading    = 14
	textWidth  = pageWidth - 2*margin
)

// linesPerPage is how many lines fit between the margins.
const linesPerPage = (pageHeight - 2*margin) / leading

// ErrTooLong: the text needs more pages than allowed.
var ErrTooLong = errors.New("textpdf: the text is too long")

// Render lays text out on A4 pages and returns the PDF. maxPages bounds
// the result (0: no bound); an empty text gives one empty page. The output
// depends only on text: no dates or IDs, so the same text gives the same
// bytes and the same SHA-256.
func Render(text string, maxPages int) ([]byte, error) {
	if !utf8.ValidString(text) {
		return nil, errors.New("textpdf: the text is not valid UTF-8")
	}
	lines := wrap(text)
	var pages [][]string
	for len(lines) > linesPerPage {
		pages = append(pages, lines[:linesPerPage])
		lines = lines[linesPerPage:]
	}
	pages = append(pages, lines)
	if maxPages > 0 && len(pages) > maxPages {
		return nil, fmt.Errorf("%w: %d pages, at most %d", ErrTooLong, len(pages), maxPages)
	}
	return write(pages), nil
}

// wrap splits text into lines that fit textWidth, breaking at spaces, and
// words longer than a line wherever they must break.
func wrap(text string) []string {
	text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
	text = strings.ReplaceAll(text, "\t", "    ")
	var out []string
	for _, para := range strings.Split(text, "\n") {
		para = strings.TrimRight(para, " ")
		if para == "" {
			out = append(out, "")
			continue
		}
		line, width := "", 0
		for _, word := range splitKeep(para) {
			w := stringWidth(word)
			switch {
			case width+w <= textWidth*1000/fontSize:
				line, width = line+word, width+w
			case strings.TrimSpace(word) == "":
				// a space at the break is dropped
			default:
				if line != "" {
					out = append(out, strings.TrimRight(line, " "))
					line, width = "", 0
				}
				for stringWidth(word) > textWidth*1000/fontSize {
					head := fitPrefix(word)
					out = append(out, head)
					word = word[len(head):]
				}
				line, width = word, stringWidth(word)
			}
		}
		out = append(out, strings.TrimRight(line, " "))
	}
	for len(out) > 1 && out[len(out)-1] == "" { // trailing empty lines
		out = out[:len(out)-1]
	}
	return out
}

// splitKeep splits s into words and runs of spaces, keeping both.
func splitKeep(s string) []string {
	var out []string
	start := 0
	for i := 1; i <= len(s); i++ {
		if i == len(s) || (s[i] == ' ') != (s[i-1] == ' ') {
			out = append(out, s[start:i])
			start = i
		}
	}
	return out
}

// fitPrefix is the longest prefix of word (at least one character) that
// fits a line.
func fitPrefix(word string) string {
	width := 0
	for i, r := range word {
		width += runeWidth(r)
		if width > textWidth*1000/fontSize && i > 0 {
			return word[:i]
		}
	}
	return word
}

// stringWidth is the advance width of s in 1/1000 em.
func stringWidth(s string) int {
	w := 0
	for _, r := range s {
		w += runeWidth(r)
	}
	return w
}

// write serialises the pages: catalog, page tree, font, then each page and
// its content stream, and the cross-reference table.
func write(pages [][]string) []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"", // the page tree, once the kids are known
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
	}
	var kids []string
	for _, lines := range pages {
		var content bytes.Buffer
		fmt.Fprintf(&content, "BT\n/F1 %d Tf\n%d TL\n%d %d Td\n", fontSize, leading, margin, pageHeight-margin-fontSize)
		for i, l := range lines {
			if i > 0 {
				content.WriteString("T*\n")
			}
			if l != "" {
				fmt.Fprintf(&content, "(%s) Tj\n", encode(l))
			}
		}
		content.WriteString("ET\n")
		pageNum := len(objs) + 1
		kids = append(kids, fmt.Sprintf("%d 0 R", pageNum))
		objs = append(objs,
			fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>",
				pageWidth, pageHeight, pageNum+1),
			fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", content.Len(), content.Bytes()))
	}
	objs[1] = fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(pages))
	return File(objs)
}

// File writes objs as objects 1, 2, … of a PDF file with a classic
// cross-reference table; object 1 must be the catalog.
func File(objs []string) []byte {
	var out bytes.Buffer
	out.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = out.Len()
		fmt.Fprintf(&out, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := out.Len()
	fmt.Fprintf(&out, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&out, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&out, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return out.Bytes()
}

// Literal is s as the body of a PDF literal string in WinAnsiEncoding
// (what goes between the parentheses).
func Literal(s string) string { return encode(s) }

// encode writes s as the body of a literal string in WinAnsiEncoding,
// escaping what clause 7.3.4.2 requires and writing bytes above 0x7e as
// octal escapes.
func encode(s string) string {
	var b strings.Builder
	for _, r := range s {
		c, ok := winAnsi(r)
		switch {
		case !ok:
			b.WriteByte('?')
		case c == '(' || c == ')' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "\\%03o", c)
		}
	}
	return b.String()
}

// winAnsiHigh maps the characters of WinAnsiEncoding's 0x80–0x9f row.
var winAnsiHigh = map[rune]byte{
	'€': 0x80, '‚': 0x82, 'ƒ': 0x83, '„': 0x84, '…': 0x85, '†': 0x86, '‡': 0x87, 'ˆ': 0x88, '‰': 0x89,
	'Š': 0x8a, '‹': 0x8b, 'Œ': 0x8c, 'Ž': 0x8e, '‘': 0x91, '’': 0x92, '“': 0x93, '”': 0x94, '•': 0x95,
	'–': 0x96, '—': 0x97, '˜': 0x98, '™': 0x99, 'š': 0x9a, '›': 0x9b, 'œ': 0x9c, 'ž': 0x9e, 'Ÿ': 0x9f,
}

// winAnsi is the WinAnsiEncoding code of r: ASCII and Latin-1 (0xa0–0xff)
// are themselves, the 0x80 row from the table; control characters have none.
func winAnsi(r rune) (byte, bool) {
	switch {
	case r >= 0x20 && r < 0x7f, r >= 0xa0 && r <= 0xff:
		return byte(r), true
	}
	c, ok := winAnsiHigh[r]
	return c, ok
}

// runeWidth is the Helvetica advance width of r in 1/1000 em (Adobe's
// Helvetica AFM); characters without a code print as '?'.
func runeWidth(r rune) int {
	c, ok := winAnsi(r)
	if !ok {
		c = '?'
	}
	if c >= 0x20 && c < 0x7f {
		return asciiWidths[c-0x20]
	}
	if w, ok := latinWidths[c]; ok {
		return w
	}
	return 556
}

// asciiWidths are Helvetica's widths of 0x20 (space) to 0x7e (~).
var asciiWidths = [95]int{
	278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // space … /
	556, 556, 556, 556, 556, 556, 556, 556, 556, 556, // 0 … 9
	278, 278, 584, 584, 584, 556, 1015, // : … @
	667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, // A … Z
	278, 278, 278, 469, 556, 333, // [ … `
	556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, // a … z
	334, 260, 334, 584, // { | } ~
}

// latinWidths are the widths in WinAnsiEncoding above 0x7e that differ
// from 556 (most accented lower-case letters are 556).
var latinWidths = map[byte]int{
	0x80: 556, 0x85: 1000, 0x89: 1000, 0x91: 222, 0x92: 222, 0x93: 333, 0x94: 333, 0x95: 350, 0x96: 556, 0x97: 1000, 0x99: 1000,
	0xa0: 278, 0xa1: 333, 0xa7: 556, 0xa9: 737, 0xab: 556, 0xae: 737, 0xb0: 400, 0xb4: 333, 0xbb: 556, 0xbf: 611,
	0xc0: 667, 0xc1: 667, 0xc2: 667, 0xc3: 667, 0xc4: 667, 0xc5: 667, 0xc6: 1000, 0xc7: 722,
	0xc8: 667, 0xc9: 667, 0xca: 667, 0xcb: 667, 0xcc: 278, 0xcd: 278, 0xce: 278, 0xcf: 278,
	0xd0: 722, 0xd1: 722, 0xd2: 778, 0xd3: 778, 0xd4: 778, 0xd5: 778, 0xd6: 778, 0xd7: 584, 0xd8: 778,
	0xd9: 722, 0xda: 722, 0xdb: 722, 0xdc: 722, 0xdd: 667, 0xde: 667, 0xdf: 611,
	0xe6: 889, 0xe7: 500, 0xec: 278, 0xed: 278, 0xee: 278, 0xef: 278, 0xf7: 584, 0xf8: 611, 0xfd: 500, 0xff: 500,
}
