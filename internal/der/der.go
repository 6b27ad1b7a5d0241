// Package der writes the tag-length headers of DER (ITU-T X.690 §8.1 and
// §10.1: definite lengths in the fewest octets) for the encoders that
// write their structures directly into one buffer, lengths computed
// first (tsa, ocsp).
package der

// LenOfLen is the size of the DER length field for n content octets.
func LenOfLen(n int) int {
	switch {
	case n < 0x80:
		return 1
	case n < 0x100:
		return 2
	case n < 0x10000:
		return 3
	case n < 0x1000000:
		return 4
	}
	return 5
}

// Size is the size of a TLV with a one-octet tag and n content octets.
func Size(n int) int { return 1 + LenOfLen(n) + n }

// AppendHeader appends tag and the DER length of n content octets. (The
// cases are written out: this runs several times for every OCSP response
// served and every time-stamp.)
func AppendHeader(b []byte, tag byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, tag, byte(n))
	case n < 0x100:
		return append(b, tag, 0x81, byte(n))
	case n < 0x10000:
		return append(b, tag, 0x82, byte(n>>8), byte(n))
	case n < 0x1000000:
		return append(b, tag, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, tag, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// AppendTLV appends tag, the length of content, and content.
func AppendTLV(b []byte, tag byte, content []byte) []byte {
	return append(AppendHeader(b, tag, len(content)), content...)
}
