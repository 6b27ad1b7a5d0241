package pades

import (
	"bytes"
	"fmt"
	"math"
	"strings"

	"github.com/pdfcpu/pdfcpu/pkg/font"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"
)

// Stamp layout, in default user space units (points).
const (
	stampFont     = "Helvetica"
	stampMaxSize  = 11.0 // largest font size
	stampMinSize  = 3.0  // below this the text is clipped rather than shrunk
	stampLeading  = 1.25 // line height over font size
	stampBorder   = 1.0  // border line width
	stampPadRatio = 0.06 // padding over the shorter side
	stampAscent   = 0.718
	stampDescent  = 0.207
)

// putAppearance writes the normal appearance of a visible signature (ISO
// 32000-1 12.5.5, 12.7.4.5): a form XObject with a border and the text
// lines in Helvetica (a standard 14 font, ISO 32000-1 9.6.2.2) with
// WinAnsiEncoding. rot is the page's /Rotate: the stamp is drawn turned
// against it, so that it reads upright on screen.
func (u *update) putAppearance(apRef types.IndirectRef, a *Appearance, rot int) error {
	w, h := a.Rect[2]-a.Rect[0], a.Rect[3]-a.Rect[1]
	// The drawing box as the reader sees it.
	bw, bh := w, h
	var matrix types.Array
	switch rot {
	case 90:
		bw, bh = h, w
		matrix = reals(0, 1, -1, 0, 0, 0)
	case 180:
		matrix = reals(-1, 0, 0, -1, 0, 0)
	case 270:
		bw, bh = h, w
		matrix = reals(0, -1, 1, 0, 0, 0)
	}
	fontRef := u.alloc()
	font := types.Dict{
		"Type":     types.Name("Font"),
		"Subtype":  types.Name("Type1"),
		"BaseFont": types.Name(stampFont),
		"Encoding": types.Name("WinAnsiEncoding"),
	}
	if err := u.putDict(fontRef, font, "Type", "Subtype"); err != nil {
		return err
	}
	form := types.Dict{
		"Type":      types.Name("XObject"),
		"Subtype":   types.Name("Form"),
		"BBox":      reals(0, 0, bw, bh),
		"Resources": types.Dict{"Font": types.Dict{"F1": fontRef}, "ProcSet": types.Array{types.Name("PDF"), types.Name("Text")}},
	}
	if matrix != nil {
		form["Matrix"] = matrix
	}
	return u.putStream(apRef, form, stampContent(bw, bh, a.Lines), true)
}

// stampContent draws the border and the lines into a bw×bh box: the largest
// font size (up to stampMaxSize) at which every line fits.
func stampContent(bw, bh float64, lines []string) []byte {
	pad := math.Max(2, math.Min(bw, bh)*stampPadRatio)
	enc := make([][]byte, len(lines))
	widest := 0.0
	for i, l := range lines {
		enc[i] = winAnsi(l)
		if wd, err := font.TextWidthFloat(string(enc[i]), stampFont, 1); err == nil {
			widest = math.Max(widest, wd)
		}
	}
	size := stampMaxSize
	if n := float64(len(lines)); n > 0 {
		size = math.Min(size, (bh-2*pad)/(n*stampLeading))
	}
	if widest > 0 {
		size = math.Min(size, (bw-2*pad)/widest)
	}
	size = math.Max(size, stampMinSize)
	var b bytes.Buffer
	fmt.Fprintf(&b, "q\n%s %s %s %s re W n\n", num(0), num(0), num(bw), num(bh)) // clip to the box
	fmt.Fprintf(&b, "1 1 1 rg %s %s %s %s re f\n", num(0), num(0), num(bw), num(bh))
	half := stampBorder / 2
	fmt.Fprintf(&b, "0.11 0.24 0.49 RG %s w %s %s %s %s re S\n",
		num(stampBorder), num(half), num(half), num(bw-stampBorder), num(bh-stampBorder))
	if len(enc) > 0 {
		lead := size * stampLeading
		block := lead*float64(len(enc)-1) + size*(stampAscent+stampDescent)
		top := bh/2 + block/2 - size*stampAscent // first baseline, block centred vertically
		fmt.Fprintf(&b, "BT\n0.1 0.1 0.1 rg /F1 %s Tf %s TL\n%s %s Td\n", num(size), num(lead), num(pad), num(top))
		for i, l := range enc {
			if i > 0 {
				b.WriteString("T*\n")
			}
			fmt.Fprintf(&b, "(%s) Tj\n", escapeLiteral(l))
		}
		b.WriteString("ET\n")
	}
	b.WriteString("Q\n")
	return b.Bytes()
}

// winAnsi encodes s for WinAnsiEncoding (ISO 32000-1 Annex D.2), composed
// first so that "å" made of "a" and a ring is one character. Characters the
// encoding lacks become '?', controls a space.
func winAnsi(s string) []byte {
	s = norm.NFC.String(strings.ToValidUTF8(s, "?"))
	out := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f:
			out = append(out, ' ')
		case r < 0x7f:
			out = append(out, byte(r))
		default:
			if c, ok := charmap.Windows1252.EncodeRune(r); ok && c >= 0xa0 || ok && isWinAnsiHigh(c) {
				out = append(out, c)
			} else {
				out = append(out, '?')
			}
		}
	}
	return out
}

// isWinAnsiHigh reports whether c in 0x80..0x9f has a glyph in
// WinAnsiEncoding (the codes Windows-1252 leaves undefined do not).
func isWinAnsiHigh(c byte) bool {
	switch c {
	case 0x81, 0x8d, 0x8f, 0x90, 0x9d:
		return false
	}
	return c >= 0x80 && c <= 0x9f
}

func reals(v ...float64) types.Array {
	a := make(types.Array, len(v))
	for i, f := range v {
		if f == math.Trunc(f) && math.Abs(f) < 1<<31 {
			a[i] = types.Integer(int(f))
		} else {
			a[i] = types.Float(f)
		}
	}
	return a
}

// num formats a number for a content stream, with at most 3 decimals.
func num(f float64) string {
	s := fmt.Sprintf("%.3f", f)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" || s == "" {
		return "0"
	}
	return s
}
