package tsa

import (
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Object identifiers used by the protocol.
var (
	oidSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}

	oidSignedData           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidTSTInfo              = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}  // id-ct-TSTInfo
	oidContentType          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}         // id-contentType
	oidMessageDigest        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}         // id-messageDigest
	oidSigningTime          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}         // id-signingTime
	oidSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47} // id-aa-signingCertificateV2
	oidQCStatements         = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 3}          // id-pe-qcStatements
	oidQTSTStatement1       = asn1.ObjectIdentifier{0, 4, 0, 19422, 1, 1}               // esi4-qtstStatement-1
	oidExtKeyUsage          = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidRSAEncryption        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidSHA256WithRSA        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidECDSAWithSHA256      = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384      = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512      = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
)

// hashOIDs are the message imprint algorithms this TSA accepts. SHA-1 and
// everything else is rejected with badAlg (RFC 3161 §2.4.2).
var hashOIDs = []struct {
	oid  asn1.ObjectIdentifier
	hash crypto.Hash
}{
	{oidSHA256, crypto.SHA256},
	{oidSHA384, crypto.SHA384},
	{oidSHA512, crypto.SHA512},
}

func hashFromOID(oid asn1.ObjectIdentifier) (crypto.Hash, bool) {
	for _, h := range hashOIDs {
		if h.oid.Equal(oid) {
			return h.hash, true
		}
	}
	return 0, false
}

func oidFromHash(h crypto.Hash) (asn1.ObjectIdentifier, bool) {
	for _, e := range hashOIDs {
		if e.hash == h {
			return e.oid, true
		}
	}
	return nil, false
}

// Status is a PKIStatus (RFC 3161 §2.4.2).
type Status int

// PKIStatus values.
const (
	StatusGranted                Status = 0
	StatusGrantedWithMods        Status = 1
	StatusRejection              Status = 2
	StatusWaiting                Status = 3
	StatusRevocationWarning      Status = 4
	StatusRevocationNotification Status = 5
)

func (s Status) String() string {
	switch s {
	case StatusGranted:
		return "granted"
	case StatusGrantedWithMods:
		return "grantedWithMods"
	case StatusRejection:
		return "rejection"
	case StatusWaiting:
		return "waiting"
	case StatusRevocationWarning:
		return "revocationWarning"
	case StatusRevocationNotification:
		return "revocationNotification"
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// FailureInfo is a bit number of PKIFailureInfo (RFC 3161 §2.4.2).
type FailureInfo int

// PKIFailureInfo bits.
const (
	FailNone                FailureInfo = -1 // no failInfo present
	FailBadAlg              FailureInfo = 0
	FailBadRequest          FailureInfo = 2
	FailBadDataFormat       FailureInfo = 5
	FailTimeNotAvailable    FailureInfo = 14
	FailUnacceptedPolicy    FailureInfo = 15
	FailUnacceptedExtension FailureInfo = 16
	FailAddInfoNotAvailable FailureInfo = 17
	FailSystemFailure       FailureInfo = 25
)

func (f FailureInfo) String() string {
	switch f {
	case FailNone:
		return "none"
	case FailBadAlg:
		return "badAlg"
	case FailBadRequest:
		return "badRequest"
	case FailBadDataFormat:
		return "badDataFormat"
	case FailTimeNotAvailable:
		return "timeNotAvailable"
	case FailUnacceptedPolicy:
		return "unacceptedPolicy"
	case FailUnacceptedExtension:
		return "unacceptedExtension"
	case FailAddInfoNotAvailable:
		return "addInfoNotAvailable"
	case FailSystemFailure:
		return "systemFailure"
	}
	return "failureInfo(" + strconv.Itoa(int(f)) + ")"
}

// bitString encodes f as a DER named-bit-list BIT STRING: trailing zero bits
// are dropped (X.690 §11.2.2), so the length is exactly f+1 bits.
func (f FailureInfo) bitString() asn1.BitString {
	if f < 0 {
		return asn1.BitString{}
	}
	b := make([]byte, int(f)/8+1)
	b[int(f)/8] = 0x80 >> (uint(f) % 8)
	return asn1.BitString{Bytes: b, BitLength: int(f) + 1}
}

// freeText encodes PKIFreeText (RFC 4210 §5.1.1): a SEQUENCE OF UTF8String.
func freeText(texts ...string) []asn1.RawValue {
	out := make([]asn1.RawValue, len(texts))
	for i, t := range texts {
		out[i] = asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte(t)}
	}
	return out
}

func freeTextString(ft []asn1.RawValue) string {
	var s []string
	for _, v := range ft {
		s = append(s, string(v.Bytes))
	}
	return strings.Join(s, "; ")
}

// failureFromBits returns the lowest bit set in a PKIFailureInfo.
func failureFromBits(bs asn1.BitString) FailureInfo {
	for i := 0; i < bs.BitLength; i++ {
		if bs.At(i) == 1 {
			return FailureInfo(i)
		}
	}
	return FailNone
}

// TimeStampReq ::= SEQUENCE (RFC 3161 §2.4.1).
type timeStampReq struct {
	Version        int
	MessageImprint messageImprint
	ReqPolicy      asn1.ObjectIdentifier `asn1:"optional"`
	Nonce          *big.Int              `asn1:"optional"`
	CertReq        bool                  `asn1:"optional"` // DEFAULT FALSE
	Extensions     []pkix.Extension      `asn1:"optional,tag:0"`
}

// MessageImprint ::= SEQUENCE (RFC 3161 §2.4.1). Raw keeps the request's
// encoding so that the token copies it verbatim.
type messageImprint struct {
	Raw           asn1.RawContent
	HashAlgorithm pkix.AlgorithmIdentifier
	HashedMessage []byte
}

// TimeStampResp ::= SEQUENCE (RFC 3161 §2.4.2).
type timeStampResp struct {
	Status         pkiStatusInfo
	TimeStampToken asn1.RawValue `asn1:"optional"`
}

// PKIStatusInfo ::= SEQUENCE (RFC 3161 §2.4.2, RFC 4210 §5.2.3).
type pkiStatusInfo struct {
	Status       int
	StatusString []asn1.RawValue `asn1:"optional"` // PKIFreeText: UTF8Strings
	FailInfo     asn1.BitString  `asn1:"optional"`
}

// TSTInfo ::= SEQUENCE (RFC 3161 §2.4.2). GenTime is raw because
// encoding/asn1 neither writes nor reads fractional seconds.
type tstInfo struct {
	Version        int
	Policy         asn1.ObjectIdentifier
	MessageImprint messageImprint
	SerialNumber   *big.Int
	GenTime        asn1.RawValue
	Accuracy       accuracy         `asn1:"optional"`
	Ordering       bool             `asn1:"optional"` // DEFAULT FALSE
	Nonce          *big.Int         `asn1:"optional"`
	TSA            asn1.RawValue    `asn1:"optional,tag:0"` // [0] GeneralName, FullBytes when writing
	Extensions     []pkix.Extension `asn1:"optional,tag:1"`
}

// Accuracy ::= SEQUENCE (RFC 3161 §2.4.2).
type accuracy struct {
	Seconds int `asn1:"optional"`
	Millis  int `asn1:"optional,tag:0"`
	Micros  int `asn1:"optional,tag:1"`
}

// newAccuracy encodes d, rounding up to the next microsecond so that the
// stated accuracy is never better than the configured one.
func newAccuracy(d time.Duration) accuracy {
	us := (d + time.Microsecond - 1) / time.Microsecond
	return accuracy{
		Seconds: int(us / 1e6),
		Millis:  int(us / 1e3 % 1e3),
		Micros:  int(us % 1e3),
	}
}

func (a accuracy) duration() time.Duration {
	return time.Duration(a.Seconds)*time.Second + time.Duration(a.Millis)*time.Millisecond +
		time.Duration(a.Micros)*time.Microsecond
}

// QCStatement ::= SEQUENCE (RFC 3739 §3.2.6), used for EN 319 422 clause 9.1.
type qcStatement struct {
	StatementID   asn1.ObjectIdentifier
	StatementInfo asn1.RawValue `asn1:"optional"`
}

// SigningCertificateV2 ::= SEQUENCE (RFC 5816 §2.2.1, RFC 5035 §3).
type signingCertificateV2 struct {
	Certs    []essCertIDv2
	Policies asn1.RawValue `asn1:"optional"`
}

// ESSCertIDv2 ::= SEQUENCE (RFC 5035 §4). HashAlgorithm DEFAULT id-sha256 is
// left out when SHA-256, as DER requires.
type essCertIDv2 struct {
	HashAlgorithm pkix.AlgorithmIdentifier `asn1:"optional"`
	CertHash      []byte
	IssuerSerial  issuerSerial `asn1:"optional"`
}

// IssuerSerial ::= SEQUENCE (RFC 5035 §4).
type issuerSerial struct {
	Issuer       []asn1.RawValue // GeneralNames
	SerialNumber *big.Int
}

// formatGeneralizedTime writes t in UTC as a DER GeneralizedTime with digits
// fractional-second digits (0, 3 or 6), trailing zeros removed (X.690 §11.7).
func formatGeneralizedTime(t time.Time, digits int) []byte {
	return appendGeneralizedTime(make([]byte, 0, 2+22), t, digits)
}

// appendGeneralizedTime is formatGeneralizedTime appending to b.
func appendGeneralizedTime(b []byte, t time.Time, digits int) []byte {
	t = t.UTC()
	var s [22]byte // YYYYMMDDhhmmss.ffffffZ
	v := appendDigits(s[:0], t.Year(), 4)
	v = appendClock(v, t)
	v = v[:len(v)-1] // the Z comes after the fraction
	if digits > 0 {
		var f [9]byte
		frac := appendDigits(f[:0], t.Nanosecond()/pow10(9-digits), digits)
		for len(frac) > 0 && frac[len(frac)-1] == '0' {
			frac = frac[:len(frac)-1]
		}
		if len(frac) > 0 {
			v = append(v, '.')
			v = append(v, frac...)
		}
	}
	v = append(v, 'Z')
	b = append(b, asn1.TagGeneralizedTime, byte(len(v)))
	return append(b, v...)
}

func pow10(n int) int {
	p := 1
	for range n {
		p *= 10
	}
	return p
}

var errGenTime = errors.New("tsa: malformed genTime")

// parseGeneralizedTime reads a DER GeneralizedTime with optional fraction.
func parseGeneralizedTime(rv asn1.RawValue) (time.Time, error) {
	if rv.Class != asn1.ClassUniversal || rv.Tag != asn1.TagGeneralizedTime || rv.IsCompound {
		return time.Time{}, errGenTime
	}
	s := string(rv.Bytes)
	if len(s) < 15 || s[len(s)-1] != 'Z' {
		return time.Time{}, errGenTime
	}
	t, err := time.Parse("20060102150405Z", s)
	if err != nil {
		return time.Time{}, errGenTime
	}
	if len(s) > 15 && (s[14] != '.' || s[len(s)-2] == '0' || s[len(s)-2] == '.') {
		return time.Time{}, errGenTime // DER: no trailing zeros, no bare point
	}
	return t, nil
}
