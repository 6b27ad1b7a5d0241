package pades

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// writeObject serializes o, a direct object as pdfcpu parsed it, in PDF
// syntax (ISO 32000-1 7.3). String literals are kept as written (pdfcpu keeps
// their escapes), so rewriting a dictionary does not change its strings.
func writeObject(b *bytes.Buffer, o types.Object) error {
	switch v := o.(type) {
	case nil:
		b.WriteString("null")
	case types.Boolean:
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case types.Integer:
		b.WriteString(strconv.Itoa(int(v)))
	case types.Float:
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%w: number %v", ErrMalformed, f)
		}
		b.WriteString(formatReal(f))
	case types.Name:
		b.WriteString(types.Name(v).PDFString())
	case types.StringLiteral:
		b.WriteByte('(')
		b.WriteString(string(v))
		b.WriteByte(')')
	case types.HexLiteral:
		b.WriteByte('<')
		b.WriteString(string(v))
		b.WriteByte('>')
	case types.IndirectRef:
		fmt.Fprintf(b, "%d %d R", v.ObjectNumber.Value(), v.GenerationNumber.Value())
	case types.Array:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(' ')
			}
			if err := writeObject(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case types.Dict:
		return writeDictOrdered(b, v, nil)
	default:
		return fmt.Errorf("%w: cannot write a direct %T", ErrMalformed, o)
	}
	return nil
}

// writeDictOrdered writes d with the keys in first in that order, then the
// rest sorted, so that output is deterministic.
func writeDictOrdered(b *bytes.Buffer, d types.Dict, first []string) error {
	b.WriteString("<<")
	if err := writeEntries(b, d, first); err != nil {
		return err
	}
	b.WriteString(">>")
	return nil
}

// writeEntries writes the entries of d, each followed by a space, without
// the dictionary's delimiters.
func writeEntries(b *bytes.Buffer, d types.Dict, first []string) error {
	seen := map[string]bool{}
	keys := make([]string, 0, len(d))
	for _, k := range first {
		if _, ok := d[k]; ok && !seen[k] {
			keys = append(keys, k)
			seen[k] = true
		}
	}
	rest := make([]string, 0, len(d))
	for k := range d {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	keys = append(keys, rest...)
	for _, k := range keys {
		v := d[k]
		if v == nil {
			continue // a null value is the same as no entry (ISO 32000-1 7.3.7)
		}
		b.WriteString(types.Name(k).PDFString())
		b.WriteByte(' ')
		if err := writeObject(b, v); err != nil {
			return err
		}
		b.WriteByte(' ')
	}
	return nil
}

// formatReal writes a real number the shortest way that reads back the
// same, without an exponent (ISO 32000-1 7.3.3 has none).
func formatReal(f float64) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if s == "-0" {
		s = "0"
	}
	return s
}

// pdfString returns a string object for the text s (ISO 32000-1 7.9.2.2):
// a literal when s is printable ASCII, else UTF-16BE with a byte order mark
// as a hexadecimal string.
func pdfString(s string) types.Object {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			ascii = false
			break
		}
	}
	if ascii {
		return types.StringLiteral(escapeLiteral([]byte(s)))
	}
	u := utf16.Encode([]rune(strings.ToValidUTF8(s, "\uFFFD")))
	raw := make([]byte, 2, 2+2*len(u))
	raw[0], raw[1] = 0xfe, 0xff
	for _, c := range u {
		raw = append(raw, byte(c>>8), byte(c))
	}
	return types.HexLiteral(strings.ToUpper(hex.EncodeToString(raw)))
}

// escapeLiteral escapes the bytes that cannot stand in a literal string.
func escapeLiteral(raw []byte) string {
	var b strings.Builder
	for _, c := range raw {
		switch c {
		case '(', ')', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\r':
			b.WriteString(`\r`)
		case '\n':
			b.WriteString(`\n`)
		default:
			if c < 0x20 || c > 0x7e {
				fmt.Fprintf(&b, "\\%03o", c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}

// stringBytes returns the bytes of a string object, literal or hexadecimal.
func stringBytes(o types.Object) ([]byte, bool) {
	switch v := o.(type) {
	case types.StringLiteral:
		b, err := types.Unescape(string(v))
		return b, err == nil
	case types.HexLiteral:
		s := string(v)
		if len(s)%2 == 1 {
			s += "0" // ISO 32000-1 7.3.4.3: a missing final digit is 0
		}
		b, err := hex.DecodeString(s)
		return b, err == nil
	}
	return nil, false
}

// textString decodes a text string (ISO 32000-1 7.9.2.2; ISO 32000-2
// 7.9.2.2 adds UTF-8): UTF-16BE or UTF-8 with a byte order mark, else
// PDFDocEncoding.
func textString(o types.Object) string {
	b, ok := stringBytes(o)
	if !ok {
		return ""
	}
	switch {
	case len(b) >= 2 && b[0] == 0xfe && b[1] == 0xff:
		b = b[2:]
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		}
		return string(utf16.Decode(u))
	case len(b) >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf:
		return strings.ToValidUTF8(string(b[3:]), "\uFFFD")
	}
	var s strings.Builder
	for _, c := range b {
		s.WriteRune(pdfDocRune(c))
	}
	return s.String()
}

// pdfDocHigh maps PDFDocEncoding 0x80..0x9f (ISO 32000-1 Annex D.2); the
// rest of the upper half is Latin-1.
var pdfDocHigh = [32]rune{
	'•', '†', '‡', '…', '—', '–', 'ƒ', '⁄', '‹', '›', '−', '‰', '„', '“', '”', '‘',
	'’', '‚', '™', 'ﬁ', 'ﬂ', 'Ł', 'Œ', 'Š', 'Ÿ', 'Ž', 'ı', 'ł', 'œ', 'š', 'ž', utf8.RuneError,
}

// pdfDocLow maps the PDFDocEncoding accents at 0x18..0x1f.
var pdfDocLow = [8]rune{'˘', 'ˇ', 'ˆ', '˙', '˝', '˛', '˚', '˜'}

func pdfDocRune(c byte) rune {
	switch {
	case c >= 0x18 && c <= 0x1f:
		return pdfDocLow[c-0x18]
	case c >= 0x80 && c <= 0x9f:
		return pdfDocHigh[c-0x80]
	case c == 0xa0:
		return '€'
	case c == 0xad:
		return utf8.RuneError
	}
	return rune(c)
}

// pdfDate formats t as a PDF date (ISO 32000-1 7.9.4) in UTC.
func pdfDate(t time.Time) types.StringLiteral {
	return types.StringLiteral(t.UTC().Format("D:20060102150405") + "+00'00'")
}

// parsePDFDate reads a PDF date; the zero time when it cannot.
func parsePDFDate(o types.Object) time.Time {
	b, ok := stringBytes(o)
	if !ok {
		return time.Time{}
	}
	t, ok := types.DateTime(string(b), true)
	if !ok {
		return time.Time{}
	}
	return t
}

// name returns o as a name, "" when it is not one.
func name(o types.Object) string {
	if n, ok := o.(types.Name); ok {
		return string(n)
	}
	return ""
}

// integer returns o as an integer.
func integer(o types.Object) (int64, bool) {
	switch v := o.(type) {
	case types.Integer:
		return int64(v), true
	case types.Float:
		// Some writers write integers as reals; accept exact ones.
		f := float64(v)
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int64(f), true
		}
	}
	return 0, false
}

// number returns o as a real number.
func number(o types.Object) (float64, bool) {
	switch v := o.(type) {
	case types.Integer:
		return float64(v), true
	case types.Float:
		return float64(v), true
	}
	return 0, false
}

// copyDict returns a shallow copy of d, for a changed version of an object.
func copyDict(d types.Dict) types.Dict {
	c := make(types.Dict, len(d)+2)
	for k, v := range d {
		c[k] = v
	}
	return c
}

// ref builds an indirect reference.
func ref(num, gen int) types.IndirectRef {
	return types.IndirectRef{ObjectNumber: types.Integer(num), GenerationNumber: types.Integer(gen)}
}
