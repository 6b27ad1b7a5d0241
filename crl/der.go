package crl

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"
)

// DER tags used in a CertificateList.
const (
	tagBoolean         = 0x01
	tagInteger         = 0x02
	tagBitString       = 0x03
	tagOctetString     = 0x04
	tagEnumerated      = 0x0a
	tagUTCTime         = 0x17
	tagGeneralizedTime = 0x18
	tagSequence        = 0x30
	tagContext0        = 0xa0 // [0] constructed
	tagContext1        = 0x81 // [1] primitive
	tagContext2        = 0x82 // [2] primitive
	tagDirectoryName   = 0xa4 // GeneralName [4] constructed (explicit: Name is a CHOICE)
	tagURI             = 0x86 // GeneralName [6] primitive
	tagKeyIdentifier   = 0x80 // AuthorityKeyIdentifier [0] primitive
)

// maxHeader is the longest tag and length a builder writes: one tag byte
// and a long-form length of up to four bytes.
const maxHeader = 6

// Object identifiers of the CRL and CRL entry extensions (RFC 5280 section
// 5.2 and 5.3), pre-encoded as OID contents.
var (
	oidAuthorityKeyID    = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidCRLNumber         = asn1.ObjectIdentifier{2, 5, 29, 20}
	oidDeltaCRLIndicator = asn1.ObjectIdentifier{2, 5, 29, 27}
	oidIssuingDistPoint  = asn1.ObjectIdentifier{2, 5, 29, 28}
	oidFreshestCRL       = asn1.ObjectIdentifier{2, 5, 29, 46}
	oidExpiredCertsOnCRL = asn1.ObjectIdentifier{2, 5, 29, 60}
	oidReasonCode        = asn1.ObjectIdentifier{2, 5, 29, 21}
	oidInvalidityDate    = asn1.ObjectIdentifier{2, 5, 29, 24}

	// The reasonCode and invalidityDate extensions up to their values:
	// SEQUENCE { OID, OCTET STRING { ENUMERATED | GeneralizedTime } }.
	reasonCodePrefix = []byte{tagSequence, 10, 0x06, 3, 0x55, 0x1d, 0x15, tagOctetString, 3, tagEnumerated, 1}
	invalidityPrefix = []byte{tagSequence, 24, 0x06, 3, 0x55, 0x1d, 0x18, tagOctetString, 17, tagGeneralizedTime, 15}
)

// reasonRemoveFromCRL is the CRLReason of an entry in a delta CRL whose
// certificate was released from hold (RFC 5280 section 5.3.1).
const reasonRemoveFromCRL = 8

// noReason marks an entry without a reasonCode extension; RFC 5280 section
// 5.3.1 prefers that to the unspecified (0) code.
const noReason = -1

// headerLen is the size of a tag and the DER length of n content bytes.
func headerLen(n int) int {
	switch {
	case n < 0x80:
		return 2
	case n <= 0xff:
		return 3
	case n <= 0xffff:
		return 4
	case n <= 0xffffff:
		return 5
	}
	return 6
}

// appendHeader appends a tag and the DER length of n content bytes.
func appendHeader(dst []byte, tag byte, n int) []byte {
	var tmp [maxHeader]byte
	return append(dst, tmp[putHeader(tmp[:], maxHeader, tag, n):]...)
}

// putHeader writes a tag and the DER length of n content bytes so that they
// end just before buf[end], and returns where they start.
func putHeader(buf []byte, end int, tag byte, n int) int {
	l := headerLen(n)
	start := end - l
	buf[start] = tag
	if l == 2 {
		buf[start+1] = byte(n)
		return start
	}
	buf[start+1] = 0x80 | byte(l-2)
	for i := end - 1; i > start+1; i-- {
		buf[i] = byte(n)
		n >>= 8
	}
	return start
}

// appendTLV appends one element with the given content.
func appendTLV(dst []byte, tag byte, content []byte) []byte {
	return append(appendHeader(dst, tag, len(content)), content...)
}

// appendInteger appends a non-negative INTEGER given as its big-endian
// magnitude, leading zeros allowed.
func appendInteger(dst []byte, mag []byte) []byte {
	for len(mag) > 1 && mag[0] == 0 {
		mag = mag[1:]
	}
	if len(mag) == 0 {
		return append(dst, tagInteger, 1, 0)
	}
	if mag[0]&0x80 != 0 {
		dst = appendHeader(dst, tagInteger, len(mag)+1)
		dst = append(dst, 0)
		return append(dst, mag...)
	}
	return appendTLV(dst, tagInteger, mag)
}

// appendTime appends a Time as RFC 5280 section 5.1.2.4 wants it: UTCTime
// through 2049, GeneralizedTime from 2050, in UTC to the second.
func appendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	if y := t.Year(); y >= 1950 && y < 2050 {
		dst = append(dst, tagUTCTime, 13)
		return appendDigits(dst, t, false)
	}
	return appendGeneralizedTime(dst, t)
}

// appendGeneralizedTime appends a GeneralizedTime (RFC 5280 section
// 4.1.2.5.2), as the invalidityDate extension requires.
func appendGeneralizedTime(dst []byte, t time.Time) []byte {
	dst = append(dst, tagGeneralizedTime, 15)
	return appendDigits(dst, t.UTC(), true)
}

// appendDigits writes YYMMDDHHMMSSZ or YYYYMMDDHHMMSSZ without allocating.
func appendDigits(dst []byte, t time.Time, century bool) []byte {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	two := func(dst []byte, v int) []byte { return append(dst, byte('0'+v/10%10), byte('0'+v%10)) }
	if century {
		dst = two(dst, y/100)
	}
	dst = two(dst, y%100)
	dst = two(dst, int(mo))
	dst = two(dst, d)
	dst = two(dst, h)
	dst = two(dst, mi)
	dst = two(dst, s)
	return append(dst, 'Z')
}

// appendEntry appends one revokedCertificates element (RFC 5280 section
// 5.1.2.6): serial, revocation date and, when there are any, the reasonCode
// and invalidityDate entry extensions. serial is the big-endian magnitude;
// reason is a CRLReason code or noReason.
func appendEntry(dst []byte, serial []byte, revoked time.Time, reason int, invalidity time.Time) []byte {
	start := len(dst)
	dst = append(dst, tagSequence, 0)
	dst = appendInteger(dst, serial)
	dst = appendTime(dst, revoked)
	if reason != noReason || !invalidity.IsZero() {
		extStart := len(dst)
		dst = append(dst, tagSequence, 0)
		if reason != noReason {
			dst = append(append(dst, reasonCodePrefix...), byte(reason))
		}
		if !invalidity.IsZero() {
			dst = appendDigits(append(dst, invalidityPrefix...), invalidity.UTC(), true)
		}
		dst = fixLength(dst, extStart)
	}
	return fixLength(dst, start)
}

// fixLength sets the length of the element that starts at start with a
// one-byte placeholder length, moving the content when it needs more.
func fixLength(dst []byte, start int) []byte {
	n := len(dst) - start - 2
	l := headerLen(n)
	if l == 2 {
		dst[start+1] = byte(n)
		return dst
	}
	dst = append(dst, make([]byte, l-2)...)
	copy(dst[start+l:], dst[start+2:start+2+n])
	putHeader(dst, start+l, dst[start], n)
	return dst
}

// extension is one Extension (RFC 5280 section 4.1): the value is the DER
// that goes into the OCTET STRING.
type extension struct {
	id       asn1.ObjectIdentifier
	critical bool
	value    []byte
}

// appendExtensions appends crlExtensions [0] EXPLICIT Extensions.
func appendExtensions(dst []byte, exts []extension) ([]byte, error) {
	var seq []byte
	for _, e := range exts {
		oid, err := asn1.Marshal(e.id)
		if err != nil {
			return nil, fmt.Errorf("crl: encoding extension %v: %w", e.id, err)
		}
		body := oid
		if e.critical {
			body = append(body, tagBoolean, 1, 0xff)
		}
		body = appendTLV(body, tagOctetString, e.value)
		seq = appendTLV(seq, tagSequence, body)
	}
	return appendTLV(dst, tagContext0, appendTLV(nil, tagSequence, seq)), nil
}

// sigAlg is a signature algorithm a CA key signs CRLs with.
type sigAlg struct {
	der  []byte // AlgorithmIdentifier
	hash crypto.Hash
	x509 x509.SignatureAlgorithm
}

var (
	sha256WithRSA = sigAlg{[]byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00}, crypto.SHA256, x509.SHA256WithRSA}
	ecdsaSHA256   = sigAlg{[]byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}, crypto.SHA256, x509.ECDSAWithSHA256}
	ecdsaSHA384   = sigAlg{[]byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03}, crypto.SHA384, x509.ECDSAWithSHA384}
	ecdsaSHA512   = sigAlg{[]byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04}, crypto.SHA512, x509.ECDSAWithSHA512}
)

// algorithmFor picks the algorithm as the CA signs certificates: SHA-256
// with RSA PKCS #1 v1.5, ECDSA with the curve's hash.
func algorithmFor(pub crypto.PublicKey) (sigAlg, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return sha256WithRSA, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return ecdsaSHA256, nil
		case elliptic.P384():
			return ecdsaSHA384, nil
		case elliptic.P521():
			return ecdsaSHA512, nil
		}
	}
	return sigAlg{}, fmt.Errorf("crl: CA key of type %T is not supported; use RSA or ECDSA P-256, P-384, P-521", pub)
}

// signDigest signs tbs with signer and checks the signature against the
// public key, so that a faulty token never publishes a broken CRL.
func signDigest(rand io.Reader, signer crypto.Signer, alg sigAlg, tbs []byte) ([]byte, error) {
	h := alg.hash.New()
	h.Write(tbs)
	digest := h.Sum(nil)
	sig, err := signer.Sign(rand, digest, alg.hash)
	if err != nil {
		return nil, fmt.Errorf("crl: signing: %w", err)
	}
	ok := false
	switch k := signer.Public().(type) {
	case *rsa.PublicKey:
		ok = rsa.VerifyPKCS1v15(k, alg.hash, digest, sig) == nil
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(k, digest, sig)
	}
	if !ok {
		return nil, errors.New("crl: the key produced a signature that does not verify")
	}
	return sig, nil
}

// serialBytes returns the magnitude of a positive serial, using buf when
// it is big enough.
func serialBytes(n *big.Int, buf []byte) ([]byte, error) {
	if n == nil || n.Sign() <= 0 || n.BitLen() > 20*8 {
		return nil, fmt.Errorf("crl: serial %v is not a positive number of at most 20 octets", n)
	}
	return n.FillBytes(buf[:(n.BitLen()+7)/8]), nil
}
