package badinput

import (
	"bytes"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/rand/v2"
)

// gen accumulates the corpus; rng is seeded, so the output is fixed.
type gen struct {
	rng *rand.Rand
	out []Request
}

func newGen() *gen { return &gen{rng: rand.New(rand.NewPCG(15, 2))} }

func (g *gen) add(r Request) {
	r.Name = fmt.Sprintf("%03d-%s", len(g.out), r.Name)
	g.out = append(g.out, r)
}

// tlv encodes one DER element with a definite length.
func tlv(tag byte, content ...[]byte) []byte {
	body := bytes.Join(content, nil)
	return append(append([]byte{tag}, length(len(body))...), body...)
}

func length(n int) []byte {
	switch {
	case n < 0x80:
		return []byte{byte(n)}
	case n < 0x100:
		return []byte{0x81, byte(n)}
	case n < 0x10000:
		return []byte{0x82, byte(n >> 8), byte(n)}
	default:
		return []byte{0x83, byte(n >> 16), byte(n >> 8), byte(n)}
	}
}

func seq(content ...[]byte) []byte { return tlv(0x30, content...) }
func octets(b []byte) []byte       { return tlv(0x04, b) }
func integer(b ...byte) []byte     { return tlv(0x02, b) }

// oid encodes an OBJECT IDENTIFIER from its DER content octets.
func oid(content ...byte) []byte { return tlv(0x06, content) }

var (
	oidSHA1   = []byte{0x2b, 0x0e, 0x03, 0x02, 0x1a}
	oidSHA256 = []byte{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01}
	oidMD5    = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05}
	oidNonce  = []byte{0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02} // id-pkix-ocsp-nonce
	oidOther  = []byte{0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x15, 0x07} // an extension nobody knows here
	oidPolicy = []byte{0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f, 0x01} // a policy the TSA does not have
)

func algID(o []byte, params ...[]byte) []byte {
	if len(params) == 0 {
		return seq(oid(o...))
	}
	return seq(append([][]byte{oid(o...)}, params...)...)
}

var null = []byte{0x05, 0x00}

// mutations returns variants of a valid DER value: every truncation point
// that matters (each element boundary and a few inside), bit flips, length
// octets rewritten to indefinite, huge and zero, tags replaced, trailing
// data. label prefixes their names.
func (g *gen) mutations(der []byte, flips int) []struct {
	name string
	data []byte
} {
	type variant = struct {
		name string
		data []byte
	}
	var vs []variant
	for _, cut := range []int{0, 1, 2, 3, 5, 8, len(der) / 4, len(der) / 2, len(der) - 3, len(der) - 1} {
		if cut >= 0 && cut < len(der) {
			vs = append(vs, variant{fmt.Sprintf("truncated-at-%d", cut), append([]byte(nil), der[:cut]...)})
		}
	}
	for i := range flips {
		b := append([]byte(nil), der...)
		pos := g.rng.IntN(len(b))
		b[pos] ^= 1 << g.rng.IntN(8)
		vs = append(vs, variant{fmt.Sprintf("bitflip-%d-at-%d", i, pos), b})
	}
	// Length octets: the second byte of the outer element and of the first
	// inner one.
	for _, pos := range []int{1, 3} {
		if pos >= len(der) {
			continue
		}
		for _, l := range []struct {
			name string
			b    []byte
		}{
			{"indefinite", []byte{0x80}},
			{"huge", []byte{0x84, 0xff, 0xff, 0xff, 0xff}},
			{"zero", []byte{0x00}},
			{"nine-octets", []byte{0x89, 1, 0, 0, 0, 0, 0, 0, 0, 0}},
			{"non-minimal", []byte{0x82, 0x00, der[pos]}},
		} {
			b := append(append(append([]byte(nil), der[:pos]...), l.b...), der[pos+1:]...)
			vs = append(vs, variant{fmt.Sprintf("length-%s-at-%d", l.name, pos), b})
		}
	}
	for _, tag := range []byte{0x31, 0x04, 0xa0, 0x1f, 0xff} {
		b := append([]byte(nil), der...)
		b[0] = tag
		vs = append(vs, variant{fmt.Sprintf("outer-tag-%02x", tag), b})
	}
	vs = append(vs,
		variant{"trailing-zeros", append(append([]byte(nil), der...), 0, 0)},
		variant{"trailing-copy", append(append([]byte(nil), der...), der...)},
		variant{"doubled-in-sequence", seq(der, der)},
	)
	return vs
}

// deep is n nested indefinite-length SEQUENCEs, never closed.
func deep(n int) []byte { return bytes.Repeat([]byte{0x30, 0x80}, n) }

// deepDefinite is n nested SEQUENCEs with definite lengths around a NULL.
func deepDefinite(n int) []byte {
	b := null
	for range n {
		b = seq(b)
	}
	return b
}

// junk is n bytes from the generator's random source.
func (g *gen) junk(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.rng.UintN(256))
	}
	return b
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func b64(der []byte) string { return base64.StdEncoding.EncodeToString(der) }
