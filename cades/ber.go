package cades

import (
	"fmt"
)

// BER input (X.690 §8) is turned into DER (X.690 §10, §11) before it is
// read: indefinite lengths become definite, constructed strings become
// primitive, lengths and tags take their shortest form. SET OF elements are
// not re-sorted, since that would change signed octets (signedAttrs are kept
// apart anyway, see signedAttrsAsSent). Nesting is bounded by maxDepth, so a
// hostile input can cost neither the stack nor more than a few copies of its
// own size.

const maxDepth = 48

const (
	classUniversal = 0
	eocTagByte     = 0x00
)

// berHeader is an identifier and length (X.690 §8.1.2, §8.1.3).
type berHeader struct {
	class       byte
	constructed bool
	number      uint32
	length      int // -1: indefinite
	size        int // octets of identifier and length
}

func readBERHeader(b []byte) (berHeader, error) {
	var h berHeader
	if len(b) < 2 {
		return h, fmt.Errorf("%w: truncated element", ErrFormat)
	}
	h.class = b[0] >> 6
	h.constructed = b[0]&0x20 != 0
	i := 1
	if b[0]&0x1f != 0x1f {
		h.number = uint32(b[0] & 0x1f)
	} else {
		// High tag number form (X.690 §8.1.2.4); at most 28 bits.
		for {
			if i >= len(b) || i > 4 {
				return h, fmt.Errorf("%w: bad tag", ErrFormat)
			}
			c := b[i]
			i++
			if h.number == 0 && c == 0x80 {
				return h, fmt.Errorf("%w: bad tag", ErrFormat)
			}
			h.number = h.number<<7 | uint32(c&0x7f)
			if c&0x80 == 0 {
				break
			}
		}
		if h.number < 31 {
			return h, fmt.Errorf("%w: bad tag", ErrFormat)
		}
	}
	if i >= len(b) {
		return h, fmt.Errorf("%w: truncated length", ErrFormat)
	}
	l := b[i]
	i++
	switch {
	case l < 0x80:
		h.length = int(l)
	case l == 0x80:
		if !h.constructed {
			return h, fmt.Errorf("%w: indefinite length on a primitive element", ErrFormat)
		}
		h.length = -1
	case l == 0xff || l > 0x84:
		return h, fmt.Errorf("%w: unsupported length form", ErrFormat)
	default:
		n := int(l & 0x7f)
		if i+n > len(b) {
			return h, fmt.Errorf("%w: truncated length", ErrFormat)
		}
		v := 0
		for _, c := range b[i : i+n] {
			v = v<<8 | int(c)
		}
		i += n
		if v < 0 || v > 1<<31-1 {
			return h, fmt.Errorf("%w: length too large", ErrFormat)
		}
		h.length = v
	}
	h.size = i
	if h.length > len(b)-i {
		return h, fmt.Errorf("%w: length %d exceeds the %d bytes left", ErrFormat, h.length, len(b)-i)
	}
	return h, nil
}

func isEOC(b []byte) bool { return len(b) >= 2 && b[0] == eocTagByte && b[1] == 0 }

// appendIdentifier writes the DER identifier octets.
func appendIdentifier(out []byte, class byte, constructed bool, number uint32) []byte {
	first := class << 6
	if constructed {
		first |= 0x20
	}
	if number < 31 {
		return append(out, first|byte(number))
	}
	out = append(out, first|0x1f)
	var tmp [5]byte
	n := 0
	for v := number; v > 0; v >>= 7 {
		tmp[n] = byte(v & 0x7f)
		n++
	}
	for j := n - 1; j >= 0; j-- {
		c := tmp[j]
		if j > 0 {
			c |= 0x80
		}
		out = append(out, c)
	}
	return out
}

// appendLength writes a DER length (X.690 §10.1).
func appendLength(out []byte, n int) []byte {
	if n < 0x80 {
		return append(out, byte(n))
	}
	var tmp [4]byte
	k := 0
	for v := n; v > 0; v >>= 8 {
		tmp[k] = byte(v)
		k++
	}
	out = append(out, 0x80|byte(k))
	for j := k - 1; j >= 0; j-- {
		out = append(out, tmp[j])
	}
	return out
}

// stringType: universal types that BER may send in constructed form
// (X.690 §8.6, §8.7, §8.23).
func stringType(n uint32) bool {
	switch n {
	case 3, 4, 12, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 30:
		return true
	}
	return false
}

// toDER returns the DER form of b, which must hold exactly one BER element.
// It works in two passes: measure checks the input and records the DER
// content length of every element in pre-order, write emits the encoding
// into a buffer of the final size. Memory is the output and one int per
// element, however deep the nesting.
func toDER(b []byte) ([]byte, error) {
	var n normalizer
	total, rest, err := n.measure(b, 0)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrFormat, len(rest))
	}
	out, _ := n.write(make([]byte, 0, total), b)
	if len(out) != total {
		return nil, fmt.Errorf("cades: internal error: DER of %d bytes measured as %d", len(out), total)
	}
	return out, nil
}

type normalizer struct {
	lens []int // DER content length of each element, in pre-order
	next int   // the next entry of lens for write
}

func headerLen(h berHeader, content int) int {
	n := 1
	if h.number >= 31 {
		for v := h.number; v > 0; v >>= 7 {
			n++
		}
	}
	n++ // the short form, or the first octet of the long form
	if content >= 0x80 {
		for v := content; v > 0; v >>= 8 {
			n++
		}
	}
	return n
}

// measure checks the first element of b and returns the length of its DER
// encoding and the bytes after it.
func (n *normalizer) measure(b []byte, depth int) (int, []byte, error) {
	if depth > maxDepth {
		return 0, nil, fmt.Errorf("%w: nesting deeper than %d", ErrFormat, maxDepth)
	}
	h, err := readBERHeader(b)
	if err != nil {
		return 0, nil, err
	}
	if h.class == classUniversal && h.number == 0 {
		return 0, nil, fmt.Errorf("%w: unexpected end-of-contents", ErrFormat)
	}
	body := b[h.size:]
	slot := len(n.lens)
	n.lens = append(n.lens, 0)
	content := 0
	var rest []byte
	switch {
	case !h.constructed:
		content, rest = h.length, body[h.length:]
	case h.class == classUniversal && stringType(h.number):
		finished := false
		rest, err = walkSegments(body, h.length < 0, h.number, depth+1, func(seg []byte) error {
			if h.number == 3 {
				// X.690 §8.6.4: only the last segment may have unused bits.
				if len(seg) == 0 || seg[0] > 7 || finished || (len(seg) == 1 && seg[0] != 0) {
					return fmt.Errorf("%w: bad BIT STRING segment", ErrFormat)
				}
				finished = seg[0] != 0
				content += len(seg) - 1
				return nil
			}
			content += len(seg)
			return nil
		})
		if err != nil {
			return 0, nil, err
		}
		if h.number == 3 {
			content++
		}
	default:
		rest, err = eachChild(body, h, func(c []byte) ([]byte, error) {
			t, r, err := n.measure(c, depth+1)
			content += t
			return r, err
		})
		if err != nil {
			return 0, nil, err
		}
	}
	n.lens[slot] = content
	return headerLen(h, content) + content, rest, nil
}

// write appends the DER form of the first element of b, which measure has
// checked, and returns the bytes after it.
func (n *normalizer) write(out, b []byte) ([]byte, []byte) {
	h, _ := readBERHeader(b)
	body := b[h.size:]
	content := n.lens[n.next]
	n.next++
	str := h.constructed && h.class == classUniversal && stringType(h.number)
	out = appendIdentifier(out, h.class, h.constructed && !str, h.number)
	out = appendLength(out, content)
	switch {
	case !h.constructed:
		return append(out, body[:h.length]...), body[h.length:]
	case str:
		if h.number == 3 {
			var unused byte
			_, _ = walkSegments(body, h.length < 0, 3, 0, func(seg []byte) error { unused = seg[0]; return nil })
			out = append(out, unused)
		}
		rest, _ := walkSegments(body, h.length < 0, h.number, 0, func(seg []byte) error {
			if h.number == 3 {
				seg = seg[1:]
			}
			out = append(out, seg...)
			return nil
		})
		return out, rest
	}
	rest, _ := eachChild(body, h, func(c []byte) ([]byte, error) {
		var r []byte
		out, r = n.write(out, c)
		return r, nil
	})
	return out, rest
}

// eachChild calls f on the contents of a constructed element until its end
// (its length, or end-of-contents); f returns what follows the child. It
// returns what follows the element.
func eachChild(body []byte, h berHeader, f func(c []byte) ([]byte, error)) ([]byte, error) {
	c, rest := body, []byte(nil)
	if h.length >= 0 {
		c, rest = body[:h.length], body[h.length:]
	}
	for {
		if h.length < 0 {
			if isEOC(c) {
				return c[2:], nil
			}
			if len(c) == 0 {
				return nil, fmt.Errorf("%w: missing end-of-contents", ErrFormat)
			}
		} else if len(c) == 0 {
			return rest, nil
		}
		var err error
		if c, err = f(c); err != nil {
			return nil, err
		}
	}
}

// walkSegments calls f on every primitive segment of a constructed string
// (X.690 §8.6.4, §8.7.3, §8.23) and returns what follows the string.
func walkSegments(content []byte, indefinite bool, typ uint32, depth int, f func(seg []byte) error) ([]byte, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: nesting deeper than %d", ErrFormat, maxDepth)
	}
	segType := uint32(4)
	if typ == 3 {
		segType = 3
	}
	length := -1
	if !indefinite {
		length = len(content)
	}
	return eachChild(content, berHeader{length: length}, func(c []byte) ([]byte, error) {
		h, err := readBERHeader(c)
		if err != nil {
			return nil, err
		}
		if h.class != classUniversal || (h.number != segType && h.number != typ) {
			return nil, fmt.Errorf("%w: bad segment in a constructed string", ErrFormat)
		}
		body := c[h.size:]
		if !h.constructed {
			return body[h.length:], f(body[:h.length])
		}
		inner, rest := body, []byte(nil)
		if h.length >= 0 {
			inner, rest = body[:h.length], body[h.length:]
		}
		left, err := walkSegments(inner, h.length < 0, typ, depth+1, f)
		if err != nil {
			return nil, err
		}
		if h.length < 0 {
			rest = left
		}
		return rest, nil
	})
}

// berElement is one element of the original (possibly BER) input.
type berElement struct {
	h    berHeader
	raw  []byte // identifier, length, contents (and end-of-contents)
	body []byte // contents without end-of-contents
}

// readBER reads one element of b and returns it with the rest.
func readBER(b []byte, depth int) (berElement, []byte, error) {
	if depth > maxDepth {
		return berElement{}, nil, fmt.Errorf("%w: nesting deeper than %d", ErrFormat, maxDepth)
	}
	h, err := readBERHeader(b)
	if err != nil {
		return berElement{}, nil, err
	}
	if h.length >= 0 {
		end := h.size + h.length
		return berElement{h: h, raw: b[:end], body: b[h.size:end]}, b[end:], nil
	}
	content := b[h.size:]
	for !isEOC(content) {
		if len(content) == 0 {
			return berElement{}, nil, fmt.Errorf("%w: missing end-of-contents", ErrFormat)
		}
		if _, content, err = readBER(content, depth+1); err != nil {
			return berElement{}, nil, err
		}
	}
	bodyLen := len(b) - h.size - len(content)
	end := h.size + bodyLen + 2
	return berElement{h: h, raw: b[:end], body: b[h.size : h.size+bodyLen]}, b[end:], nil
}

// children reads the elements inside a constructed element.
func (e berElement) children(depth int) ([]berElement, error) {
	var out []berElement
	rest := e.body
	for len(rest) > 0 {
		c, r, err := readBER(rest, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		rest = r
	}
	return out, nil
}

// signedAttrsAsSent walks the original encoding of a ContentInfo holding
// SignedData to the signedAttrs of every SignerInfo, in order, and returns
// for each the octets the signature was computed over (RFC 5652 §5.4: the
// SET OF tag and the length and contents as sent), or nil when absent or when
// the element uses an indefinite length, which no signer hashes.
func signedAttrsAsSent(input []byte) ([][]byte, error) {
	ci, _, err := readBER(input, 0)
	if err != nil {
		return nil, err
	}
	path := func(e berElement, depth, idx int) (berElement, error) {
		cs, err := e.children(depth)
		if err != nil {
			return berElement{}, err
		}
		if idx < 0 {
			idx += len(cs)
		}
		if idx < 0 || idx >= len(cs) {
			return berElement{}, fmt.Errorf("%w: unexpected structure", ErrFormat)
		}
		return cs[idx], nil
	}
	explicit, err := path(ci, 0, 1)
	if err != nil {
		return nil, err
	}
	sd, err := path(explicit, 1, 0)
	if err != nil {
		return nil, err
	}
	infos, err := path(sd, 2, -1)
	if err != nil {
		return nil, err
	}
	signers, err := infos.children(3)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(signers))
	for i, si := range signers {
		fields, err := si.children(4)
		if err != nil {
			return nil, err
		}
		for _, f := range fields {
			if f.h.class == 2 && f.h.number == 0 && f.h.constructed && f.h.length >= 0 {
				out[i] = append([]byte{0x31}, f.raw[1:]...)
			}
		}
	}
	return out, nil
}
