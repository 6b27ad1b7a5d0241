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
func toDER(b []byte) ([]byte, error) {
	out, rest, err := appendDER(make([]byte, 0, len(b)), b, 0)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrFormat, len(rest))
	}
	return out, nil
}

// appendDER appends the DER form of the first BER element of b.
func appendDER(out, b []byte, depth int) ([]byte, []byte, error) {
	if depth > maxDepth {
		return nil, nil, fmt.Errorf("%w: nesting deeper than %d", ErrFormat, maxDepth)
	}
	h, err := readBERHeader(b)
	if err != nil {
		return nil, nil, err
	}
	if h.class == classUniversal && h.number == 0 {
		return nil, nil, fmt.Errorf("%w: unexpected end-of-contents", ErrFormat)
	}
	body := b[h.size:]
	if !h.constructed {
		out = appendIdentifier(out, h.class, false, h.number)
		out = appendLength(out, h.length)
		return append(out, body[:h.length]...), body[h.length:], nil
	}
	content, rest := body, []byte(nil)
	if h.length >= 0 {
		content, rest = body[:h.length], body[h.length:]
	}
	if h.class == classUniversal && stringType(h.number) {
		var s stringSegments
		left, err := s.collect(content, h.length < 0, h.number, depth+1)
		if err != nil {
			return nil, nil, err
		}
		if h.length < 0 {
			rest = left
		}
		data := s.data
		if h.number == 3 {
			data = append([]byte{s.unused}, s.data...)
		}
		out = appendIdentifier(out, h.class, false, h.number)
		out = appendLength(out, len(data))
		return append(out, data...), rest, nil
	}
	var inner []byte
	for {
		if h.length < 0 {
			if isEOC(content) {
				rest = content[2:]
				break
			}
			if len(content) == 0 {
				return nil, nil, fmt.Errorf("%w: missing end-of-contents", ErrFormat)
			}
		} else if len(content) == 0 {
			break
		}
		if inner, content, err = appendDER(inner, content, depth+1); err != nil {
			return nil, nil, err
		}
	}
	out = appendIdentifier(out, h.class, true, h.number)
	out = appendLength(out, len(inner))
	return append(out, inner...), rest, nil
}

// stringSegments joins the segments of a constructed string (X.690 §8.6.4,
// §8.7.3).
type stringSegments struct {
	data     []byte
	unused   byte // BIT STRING: unused bits of the last segment
	finished bool // BIT STRING: a segment with unused bits was seen
}

func (s *stringSegments) collect(content []byte, indefinite bool, typ uint32, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: nesting deeper than %d", ErrFormat, maxDepth)
	}
	for {
		if indefinite {
			if isEOC(content) {
				return content[2:], nil
			}
			if len(content) == 0 {
				return nil, fmt.Errorf("%w: missing end-of-contents", ErrFormat)
			}
		} else if len(content) == 0 {
			return nil, nil
		}
		h, err := readBERHeader(content)
		if err != nil {
			return nil, err
		}
		segType := uint32(4)
		if typ == 3 {
			segType = 3
		}
		if h.class != classUniversal || (h.number != segType && h.number != typ) {
			return nil, fmt.Errorf("%w: bad segment in a constructed string", ErrFormat)
		}
		body := content[h.size:]
		if h.constructed {
			inner, rest := body, []byte(nil)
			if h.length >= 0 {
				inner, rest = body[:h.length], body[h.length:]
			}
			left, err := s.collect(inner, h.length < 0, typ, depth+1)
			if err != nil {
				return nil, err
			}
			if h.length < 0 {
				rest = left
			}
			content = rest
			continue
		}
		seg := body[:h.length]
		content = body[h.length:]
		if typ != 3 {
			s.data = append(s.data, seg...)
			continue
		}
		if len(seg) == 0 || seg[0] > 7 || s.finished || (len(seg) == 1 && seg[0] != 0) {
			return nil, fmt.Errorf("%w: bad BIT STRING segment", ErrFormat)
		}
		if seg[0] != 0 {
			s.finished = true
		}
		s.unused = seg[0]
		s.data = append(s.data, seg[1:]...)
	}
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
