package ocsp

import (
	"time"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/internal/der"
)

// The serving path rebuilds a pre-signed response from its record (see
// table.go). It writes the DER directly, lengths computed first, into one
// buffer, producing byte for byte what the cryptobyte encoding of
// signingKey.responseData and signingKey.wrap produced when the response
// was signed (minimal DER lengths, times as GeneralizedTime in UTC): the
// tests verify every served response's signature, so a difference would
// not go unnoticed.

// appendGeneralizedTime writes t as YYYYMMDDHHMMSSZ, the digits written
// directly (time.AppendFormat parses its layout on every call).
func appendGeneralizedTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	b = append(b, 0x18, 15,
		byte('0'+year/1000%10), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10))
	for _, v := range [...]int{int(month), day, hour, minute, sec} {
		b = append(b, byte('0'+v/10), byte('0'+v%10))
	}
	return append(b, 'Z')
}

const generalizedTimeSize = 17

// serialContent is the INTEGER contents of a serial: minimal, with a
// leading zero if the top bit is set (as certIDFor writes it).
func serialContent(s *ca.Serial) (lead bool, n []byte) {
	i := 0
	for i < len(s)-1 && s[i] == 0 {
		i++
	}
	return s[i]&0x80 != 0, s[i:]
}

// oidBasicTLV is id-pkix-ocsp-basic, encoded.
var oidBasicTLV = []byte{0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01}

// appendStored appends the OCSPResponse of a stored record: a SingleResponse
// for serial under the issuer's hashes at index i, saying s, signed sig.
func (k *signingKey) appendStored(b []byte, iss *issuer, i int, serial *ca.Serial, s *single, sig []byte) []byte {
	lead, num := serialContent(serial)
	intLen := len(num)
	if lead {
		intLen++
	}
	alg, nh, kh := certIDAlgs[i], iss.nameHash[i], iss.keyHash[i]
	certID := len(alg) + der.Size(len(nh)) + der.Size(len(kh)) + der.Size(intLen)
	status := 2 // good [0] NULL
	revoked := 0
	if s.status == certRevoked {
		revoked = generalizedTimeSize
		if s.reason >= 0 {
			revoked += 5 // [0] { ENUMERATED }
		}
		status = der.Size(revoked)
	} else if s.status != certGood {
		status = 2 // unknown [2] NULL
	}
	singleLen := der.Size(certID) + status + generalizedTimeSize + der.Size(generalizedTimeSize)
	responses := der.Size(singleLen)
	tbs := der.Size(der.Size(len(k.keyHash))) + generalizedTimeSize + der.Size(responses)
	basic := der.Size(tbs) + len(k.algID) + der.Size(1+len(sig)) + len(k.certs)
	respBytes := len(oidBasicTLV) + der.Size(der.Size(basic)) // OCTET STRING { BasicOCSPResponse }
	explicit := der.Size(respBytes)
	outer := 3 + der.Size(explicit)

	b = der.AppendHeader(b, 0x30, outer) // OCSPResponse
	b = append(b, 0x0a, 0x01, 0x00)      // responseStatus successful
	b = der.AppendHeader(b, 0xa0, explicit)
	b = der.AppendHeader(b, 0x30, respBytes) // ResponseBytes
	b = append(b, oidBasicTLV...)
	b = der.AppendHeader(b, 0x04, der.Size(basic))
	b = der.AppendHeader(b, 0x30, basic) // BasicOCSPResponse
	b = der.AppendHeader(b, 0x30, tbs)   // ResponseData
	b = der.AppendHeader(b, 0xa2, der.Size(len(k.keyHash)))
	b = der.AppendHeader(b, 0x04, len(k.keyHash))
	b = append(b, k.keyHash...)
	b = appendGeneralizedTime(b, s.thisUpdate) // producedAt
	b = der.AppendHeader(b, 0x30, responses)
	b = der.AppendHeader(b, 0x30, singleLen) // SingleResponse
	b = der.AppendHeader(b, 0x30, certID)
	b = append(b, alg...)
	b = der.AppendHeader(b, 0x04, len(nh))
	b = append(b, nh...)
	b = der.AppendHeader(b, 0x04, len(kh))
	b = append(b, kh...)
	b = der.AppendHeader(b, 0x02, intLen)
	if lead {
		b = append(b, 0)
	}
	b = append(b, num...)
	switch s.status {
	case certGood:
		b = append(b, 0x80, 0x00)
	case certRevoked:
		b = der.AppendHeader(b, 0xa1, revoked)
		b = appendGeneralizedTime(b, s.revokedAt.Truncate(time.Second))
		if s.reason >= 0 {
			b = append(b, 0xa0, 0x03, 0x0a, 0x01, byte(s.reason))
		}
	default:
		b = append(b, 0x82, 0x00)
	}
	b = appendGeneralizedTime(b, s.thisUpdate)
	b = der.AppendHeader(b, 0xa0, generalizedTimeSize)
	b = appendGeneralizedTime(b, s.nextUpdate)
	b = append(b, k.algID...)
	b = der.AppendHeader(b, 0x03, 1+len(sig))
	b = append(b, 0)
	b = append(b, sig...)
	return append(b, k.certs...)
}

// storedSize is an upper bound of the size appendStored writes.
func (k *signingKey) storedSize(sig []byte) int {
	return 256 + len(k.keyHash) + len(sig) + len(k.certs)
}
