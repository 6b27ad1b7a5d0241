package tsa

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/oces-pki/oces/internal/der"
)

// The token's DER is written directly, lengths first, into one buffer
// (RFC 5652 §5 SignedData, RFC 3161 §2.4.2 TSTInfo). Everything that is
// the same in every token is encoded once by newTokenEncoder: the
// algorithm identifiers, the SignerIdentifier, the contentType and
// signing-certificate-v2 attributes, the certificates, the policies, the
// accuracy, the tsa name and the extensions. Per token only the TSTInfo's
// serial, genTime and nonce, the messageDigest and signingTime attributes
// and the signature are new. The encoding is the one digitorus/pkcs7 and
// encoding/asn1 gave before (cms_test.go compares the two byte for byte):
// SignedData version 3, digest algorithm without parameters, signer
// identified by issuerAndSerialNumber, signed attributes sorted as a DER
// SET OF, signature algorithm without parameters.

// ASN.1 tags used by the encoder.
const (
	tagInteger     = 0x02
	tagOctetString = 0x04
	tagOID         = 0x06
	tagUTCTime     = 0x17
	tagGenTime     = 0x18
	tagSequence    = 0x30
	tagSet         = 0x31
	tagContext0    = 0xa0 // [0] constructed
	tagContext1    = 0xa1 // [1] constructed
)

// tokenEncoder holds the constant parts of every token.
type tokenEncoder struct {
	hash      crypto.Hash
	digestAlg []byte   // AlgorithmIdentifier of hash, no parameters
	sigAlg    []byte   // AlgorithmIdentifier of the signature, no parameters
	sid       []byte   // IssuerAndSerialNumber of the TSA certificate
	attrCT    []byte   // Attribute contentType = id-ct-TSTInfo
	attrCert  []byte   // Attribute signing-certificate-v2
	certs     []byte   // [0] IMPLICIT CertificateSet: the TSA certificate and the chain
	mdOID     []byte   // OID messageDigest, with its tag
	stOID     []byte   // OID signingTime, with its tag
	policies  [][]byte // OID of each Config.Policies entry, with its tag
	accuracy  []byte   // Accuracy
	tail      []byte   // tsa [0] and extensions [1] of TSTInfo
}

// Encodings of constant OIDs and of the fixed TSTInfo version.
var (
	derVersion1    = []byte{tagInteger, 1, 1}
	derVersion3    = []byte{tagInteger, 1, 3}
	derGranted     = []byte{tagSequence, 3, tagInteger, 1, 0} // PKIStatusInfo{granted}
	derSignedData  = mustOID(oidSignedData)
	derTSTInfoType = mustOID(oidTSTInfo)
)

func mustOID(oid asn1.ObjectIdentifier) []byte {
	der, err := asn1.Marshal(oid)
	if err != nil {
		panic(err)
	}
	return der
}

// newTokenEncoder encodes the constant parts of the tokens of an Authority.
func newTokenEncoder(cfg *Config, hash crypto.Hash, certV2 []byte, tsaName asn1.RawValue, exts []pkix.Extension) (*tokenEncoder, error) {
	e := &tokenEncoder{hash: hash, mdOID: mustOID(oidMessageDigest), stOID: mustOID(oidSigningTime)}
	digestOID, ok := oidFromHash(hash)
	if !ok {
		return nil, fmt.Errorf("tsa: no OID for digest %v", hash)
	}
	sigOID, err := signatureOID(cfg.Signer.Public(), hash)
	if err != nil {
		return nil, err
	}
	var fail error
	marshal := func(v any) []byte {
		der, err := asn1.Marshal(v)
		if err != nil && fail == nil {
			fail = fmt.Errorf("tsa: encoding token constants: %w", err)
		}
		return der
	}
	e.digestAlg = marshal(pkix.AlgorithmIdentifier{Algorithm: digestOID})
	e.sigAlg = marshal(pkix.AlgorithmIdentifier{Algorithm: sigOID})
	e.sid = marshal(struct {
		Issuer asn1.RawValue
		Serial *big.Int
	}{asn1.RawValue{FullBytes: cfg.Certificate.RawIssuer}, cfg.Certificate.SerialNumber})
	e.attrCT = encodeAttribute(mustOID(oidContentType), derTSTInfoType)
	e.attrCert = encodeAttribute(mustOID(oidSigningCertificateV2), certV2)
	var set []byte
	for _, c := range append([]*x509.Certificate{cfg.Certificate}, cfg.Chain...) {
		set = append(set, c.Raw...)
	}
	e.certs = der.AppendTLV(nil, tagContext0, set)
	for _, p := range cfg.Policies {
		e.policies = append(e.policies, marshal(p))
	}
	e.accuracy = marshal(newAccuracy(cfg.Accuracy))
	e.tail = append(e.tail, tsaName.FullBytes...)
	if len(exts) > 0 {
		seq := marshal(exts)
		if fail == nil {
			seq[0] = tagContext1 // [1] IMPLICIT Extensions
			e.tail = append(e.tail, seq...)
		}
	}
	if fail != nil {
		return nil, fail
	}
	return e, nil
}

// signatureOID names the signature algorithm of the key with hash, as
// digitorus/pkcs7 named it: PKCS #1 v1.5 for RSA, ECDSA otherwise.
func signatureOID(pub crypto.PublicKey, hash crypto.Hash) (asn1.ObjectIdentifier, error) {
	rsaOIDs := map[crypto.Hash]asn1.ObjectIdentifier{
		crypto.SHA256: oidSHA256WithRSA, crypto.SHA384: oidSHA384WithRSA, crypto.SHA512: oidSHA512WithRSA}
	ecOIDs := map[crypto.Hash]asn1.ObjectIdentifier{
		crypto.SHA256: oidECDSAWithSHA256, crypto.SHA384: oidECDSAWithSHA384, crypto.SHA512: oidECDSAWithSHA512}
	var oid asn1.ObjectIdentifier
	switch pub.(type) {
	case *ecdsa.PublicKey:
		oid = ecOIDs[hash]
	default:
		oid = rsaOIDs[hash]
	}
	if oid == nil {
		return nil, fmt.Errorf("tsa: no signature algorithm for %T with %v", pub, hash)
	}
	return oid, nil
}

// encodeAttribute encodes Attribute ::= SEQUENCE { attrType, attrValues SET { value } }.
func encodeAttribute(oid, value []byte) []byte {
	b := der.AppendHeader(nil, tagSequence, len(oid)+der.Size(len(value)))
	b = append(b, oid...)
	return der.AppendTLV(b, tagSet, value)
}

// tstInfo encodes the TSTInfo of req with serial and genTime into b.
func (e *tokenEncoder) tstInfo(b []byte, policy int, imprint, serial, genTime, nonce []byte) []byte {
	n := len(derVersion1) + len(e.policies[policy]) + len(imprint) + len(serial) + len(genTime) +
		len(e.accuracy) + len(nonce) + len(e.tail)
	b = der.AppendHeader(b, tagSequence, n)
	b = append(b, derVersion1...)
	b = append(b, e.policies[policy]...)
	b = append(b, imprint...)
	b = append(b, serial...)
	b = append(b, genTime...)
	b = append(b, e.accuracy...)
	b = append(b, nonce...)
	return append(b, e.tail...)
}

// response signs content (a TSTInfo) at now and returns the DER of a
// granted TimeStampResp carrying the token.
func (e *tokenEncoder) response(signer crypto.Signer, content []byte, now time.Time, withCerts bool) ([]byte, error) {
	// Signed attributes: contentType, messageDigest, signingTime,
	// signing-certificate-v2, sorted by their encodings (DER SET OF).
	h := e.hash.New()
	h.Write(content)
	var mdBuf [2 + 64]byte
	md := der.AppendTLV(mdBuf[:0], tagOctetString, h.Sum(nil))
	var stBuf [2 + 15]byte
	attrs := [4][]byte{e.attrCT, encodeAttribute(e.mdOID, md), encodeAttribute(e.stOID, appendSigningTime(stBuf[:0], now)), e.attrCert}
	for i := 1; i < len(attrs); i++ { // insertion sort of four
		for j := i; j > 0 && bytes.Compare(attrs[j-1], attrs[j]) > 0; j-- {
			attrs[j-1], attrs[j] = attrs[j], attrs[j-1]
		}
	}
	attrLen := 0
	for _, a := range attrs {
		attrLen += len(a)
	}
	signed := make([]byte, 0, der.Size(attrLen))
	signed = der.AppendHeader(signed, tagSet, attrLen)
	for _, a := range attrs {
		signed = append(signed, a...)
	}
	h.Reset()
	h.Write(signed)
	sig, err := signer.Sign(rand.Reader, h.Sum(nil), e.hash)
	if err != nil {
		return nil, err
	}
	if len(sig) == 0 {
		return nil, errors.New("tsa: the signer returned an empty signature")
	}

	// SignerInfo ::= SEQUENCE { version 1, sid, digestAlgorithm,
	//   [0] IMPLICIT signedAttrs, signatureAlgorithm, signature }
	siLen := len(derVersion1) + len(e.sid) + len(e.digestAlg) + len(signed) + len(e.sigAlg) + der.Size(len(sig))
	encap := len(derTSTInfoType) + der.Size(der.Size(len(content)))
	sdLen := len(derVersion3) + der.Size(len(e.digestAlg)) + der.Size(encap) + der.Size(der.Size(siLen))
	if withCerts {
		sdLen += len(e.certs)
	}
	ciLen := len(derSignedData) + der.Size(der.Size(sdLen))
	respLen := len(derGranted) + der.Size(ciLen)

	b := make([]byte, 0, der.Size(respLen))
	b = der.AppendHeader(b, tagSequence, respLen) // TimeStampResp
	b = append(b, derGranted...)
	b = der.AppendHeader(b, tagSequence, ciLen) // ContentInfo
	b = append(b, derSignedData...)
	b = der.AppendHeader(b, tagContext0, der.Size(sdLen))
	b = der.AppendHeader(b, tagSequence, sdLen) // SignedData
	b = append(b, derVersion3...)
	b = der.AppendTLV(b, tagSet, e.digestAlg)
	b = der.AppendHeader(b, tagSequence, encap) // EncapsulatedContentInfo
	b = append(b, derTSTInfoType...)
	b = der.AppendHeader(b, tagContext0, der.Size(len(content)))
	b = der.AppendTLV(b, tagOctetString, content)
	if withCerts {
		b = append(b, e.certs...)
	}
	b = der.AppendHeader(b, tagSet, der.Size(siLen))
	b = der.AppendHeader(b, tagSequence, siLen) // SignerInfo
	b = append(b, derVersion1...)
	b = append(b, e.sid...)
	b = append(b, e.digestAlg...)
	b = append(b, tagContext0) // [0] IMPLICIT SET OF Attribute
	b = append(b, signed[1:]...)
	b = append(b, e.sigAlg...)
	b = der.AppendTLV(b, tagOctetString, sig)
	return b, nil
}

// appendSigningTime encodes t as encoding/asn1 does a time.Time: UTCTime
// from 1950 to 2049 (RFC 5652 §11.3), GeneralizedTime otherwise; whole
// seconds, UTC.
func appendSigningTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	if y := t.Year(); y >= 1950 && y < 2050 {
		b = append(b, tagUTCTime, 13)
		b = appendDigits(b, y%100, 2)
	} else {
		b = append(b, tagGenTime, 15)
		b = appendDigits(b, y, 4)
	}
	return appendClock(b, t)
}

// appendClock writes MMDDhhmmssZ.
func appendClock(b []byte, t time.Time) []byte {
	b = appendDigits(b, int(t.Month()), 2)
	b = appendDigits(b, t.Day(), 2)
	b = appendDigits(b, t.Hour(), 2)
	b = appendDigits(b, t.Minute(), 2)
	b = appendDigits(b, t.Second(), 2)
	return append(b, 'Z')
}

// appendDigits writes v in exactly n decimal digits.
func appendDigits(b []byte, v, n int) []byte {
	var d [9]byte
	for i := n - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:n]...)
}

// appendInteger encodes a DER INTEGER as encoding/asn1 does.
func appendInteger(b []byte, n *big.Int) []byte {
	if n.Sign() < 0 {
		der, err := asn1.Marshal(n)
		if err != nil {
			panic(err) // a *big.Int always encodes
		}
		return append(b, der...)
	}
	var buf [32]byte
	var v []byte
	if size := (n.BitLen() + 7) / 8; size <= len(buf) {
		v = n.FillBytes(buf[:size])
	} else {
		v = n.Bytes()
	}
	lead := len(v) == 0 || v[0]&0x80 != 0
	l := len(v)
	if lead {
		l++
	}
	b = der.AppendHeader(b, tagInteger, l)
	if lead {
		b = append(b, 0)
	}
	return append(b, v...)
}
