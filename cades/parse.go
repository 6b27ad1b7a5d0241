package cades

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math/big"
	"sort"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

var (
	tagC0 = cbasn1.Tag(0).ContextSpecific().Constructed()
	tagC1 = cbasn1.Tag(1).ContextSpecific().Constructed()
	tagP0 = cbasn1.Tag(0).ContextSpecific()
)

// MaxInputSize bounds what Parse and the Add functions accept.
const MaxInputSize = 256 << 20

// Parse reads a ContentInfo holding a SignedData (RFC 5652 §3, §5), in DER
// or BER. It checks structure only: VerifySignature, CheckSigningCertificate
// and CheckMessageDigest check the cryptography.
func Parse(der []byte) (*SignedData, error) {
	if len(der) > MaxInputSize {
		return nil, fmt.Errorf("%w: input of %d bytes exceeds %d", ErrFormat, len(der), MaxInputSize)
	}
	norm, err := toDER(der)
	if err != nil {
		return nil, err
	}
	sd, err := parseDER(norm)
	if err != nil {
		return nil, err
	}
	sd.Raw = der
	// Keep the signed attributes as the signer hashed them when the input
	// was not DER (RFC 5652 §5.4).
	if !bytes.Equal(norm, der) {
		sent, err := signedAttrsAsSent(der)
		if err != nil {
			return nil, err
		}
		if len(sent) != len(sd.Signers) {
			return nil, fmt.Errorf("%w: signer count differs between encodings", ErrFormat)
		}
		for i, s := range sd.Signers {
			if sent[i] != nil && s.RawSignedAttributes != nil {
				s.RawSignedAttributes = sent[i]
				if !bytes.Equal(sent[i], s.signedAttrsDER) {
					s.der = nil // re-encode with the octets as sent
				}
			}
		}
	}
	return sd, nil
}

func parseDER(der []byte) (*SignedData, error) {
	in := cryptobyte.String(der)
	var ci, content, sdSeq cryptobyte.String
	var ct asn1.ObjectIdentifier
	if !in.ReadASN1(&ci, cbasn1.SEQUENCE) || !in.Empty() ||
		!ci.ReadASN1ObjectIdentifier(&ct) || !ci.ReadASN1(&content, tagC0) || !ci.Empty() {
		return nil, fmt.Errorf("%w: not a ContentInfo", ErrFormat)
	}
	if !ct.Equal(oidSignedData) {
		return nil, fmt.Errorf("%w: content type %v is not signed-data", ErrFormat, ct)
	}
	if !content.ReadASN1(&sdSeq, cbasn1.SEQUENCE) || !content.Empty() {
		return nil, fmt.Errorf("%w: bad SignedData", ErrFormat)
	}
	sd := &SignedData{}
	var algs, encap, signers cryptobyte.String
	if !sdSeq.ReadASN1Integer(&sd.version) || !sdSeq.ReadASN1(&algs, cbasn1.SET) ||
		!sdSeq.ReadASN1(&encap, cbasn1.SEQUENCE) {
		return nil, fmt.Errorf("%w: bad SignedData header", ErrFormat)
	}
	for !algs.Empty() {
		var a cryptobyte.String
		if !algs.ReadASN1Element(&a, cbasn1.SEQUENCE) {
			return nil, fmt.Errorf("%w: bad digestAlgorithms", ErrFormat)
		}
		sd.digestAlgs = append(sd.digestAlgs, a)
	}
	if err := sd.parseEncap(encap); err != nil {
		return nil, err
	}
	var certs, crls cryptobyte.String
	var hasCerts, hasCRLs bool
	if !sdSeq.ReadOptionalASN1(&certs, &hasCerts, tagC0) || !sdSeq.ReadOptionalASN1(&crls, &hasCRLs, tagC1) ||
		!sdSeq.ReadASN1(&signers, cbasn1.SET) || !sdSeq.Empty() {
		return nil, fmt.Errorf("%w: bad SignedData fields", ErrFormat)
	}
	if err := sd.parseCertificates(certs); err != nil {
		return nil, err
	}
	if err := sd.parseCRLs(crls); err != nil {
		return nil, err
	}
	for !signers.Empty() {
		var si cryptobyte.String
		if !signers.ReadASN1Element(&si, cbasn1.SEQUENCE) {
			return nil, fmt.Errorf("%w: bad SignerInfo", ErrFormat)
		}
		s, err := parseSignerInfo(si)
		if err != nil {
			return nil, err
		}
		if s.ContentType != nil && !s.ContentType.Equal(sd.ContentType) {
			return nil, fmt.Errorf("%w: content-type attribute %v differs from eContentType %v (RFC 5652 §11.1)", ErrFormat, s.ContentType, sd.ContentType)
		}
		s.Certificate = sd.findCertificate(s)
		sd.Signers = append(sd.Signers, s)
	}
	return sd, nil
}

// parseEncap reads EncapsulatedContentInfo (RFC 5652 §5.2).
func (sd *SignedData) parseEncap(encap cryptobyte.String) error {
	if !encap.ReadASN1ObjectIdentifier(&sd.ContentType) {
		return fmt.Errorf("%w: bad eContentType", ErrFormat)
	}
	var ec cryptobyte.String
	if !encap.ReadOptionalASN1(&ec, &sd.eContentPresent, tagC0) || !encap.Empty() {
		return fmt.Errorf("%w: bad encapContentInfo", ErrFormat)
	}
	if sd.eContentPresent {
		var octets cryptobyte.String
		if !ec.ReadASN1(&octets, cbasn1.OCTET_STRING) || !ec.Empty() {
			return fmt.Errorf("%w: bad eContent", ErrFormat)
		}
		sd.Content = append([]byte{}, octets...)
	}
	return nil
}

// parseCertificates reads CertificateSet (RFC 5652 §10.2.3). Choices other
// than certificate are kept raw.
func (sd *SignedData) parseCertificates(set cryptobyte.String) error {
	for !set.Empty() {
		var c cryptobyte.String
		var tag cbasn1.Tag
		if !set.ReadAnyASN1Element(&c, &tag) {
			return fmt.Errorf("%w: bad CertificateChoices", ErrFormat)
		}
		sd.RawCertificates = append(sd.RawCertificates, c)
		if tag == cbasn1.SEQUENCE {
			if cert, err := x509.ParseCertificate(c); err == nil {
				sd.Certificates = append(sd.Certificates, cert)
			}
		}
	}
	return nil
}

// parseCRLs reads RevocationInfoChoices (RFC 5652 §10.2.1): CertificateList
// or [1] OtherRevocationInfoFormat, of which id-ri-ocsp-response (RFC 5940
// §4.1) and id-pkix-ocsp-basic are read as OCSP responses.
func (sd *SignedData) parseCRLs(set cryptobyte.String) error {
	for !set.Empty() {
		var c cryptobyte.String
		var tag cbasn1.Tag
		if !set.ReadAnyASN1Element(&c, &tag) {
			return fmt.Errorf("%w: bad RevocationInfoChoice", ErrFormat)
		}
		sd.crls = append(sd.crls, c)
		switch tag {
		case cbasn1.SEQUENCE:
			sd.CRLs = append(sd.CRLs, c)
		case tagC1:
			var other cryptobyte.String
			var format asn1.ObjectIdentifier
			var info cryptobyte.String
			var infoTag cbasn1.Tag
			if !c.ReadASN1(&other, tagC1) || !other.ReadASN1ObjectIdentifier(&format) ||
				!other.ReadAnyASN1Element(&info, &infoTag) || !other.Empty() {
				return fmt.Errorf("%w: bad OtherRevocationInfoFormat", ErrFormat)
			}
			switch {
			case format.Equal(oidRIOCSPResponse):
				sd.OCSPResponses = append(sd.OCSPResponses, info)
			case format.Equal(oidOCSPBasic):
				sd.OCSPResponses = append(sd.OCSPResponses, wrapBasicOCSP(info))
			}
		}
	}
	return nil
}

// wrapBasicOCSP makes an OCSPResponse (RFC 6960 §4.2.1) with status
// successful around a BasicOCSPResponse.
func wrapBasicOCSP(basic []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Enum(0)
		b.AddASN1(tagC0, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidOCSPBasic)
				b.AddASN1OctetString(basic)
			})
		})
	})
	return b.BytesOrPanic()
}

func parseSignerInfo(der cryptobyte.String) (*SignerInfo, error) {
	s := &SignerInfo{der: append([]byte{}, der...)}
	var seq, sid, digestAlg, sigAlg cryptobyte.String
	var sidTag cbasn1.Tag
	if !der.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1Integer(&s.version) ||
		!seq.ReadAnyASN1Element(&sid, &sidTag) || !seq.ReadASN1Element(&digestAlg, cbasn1.SEQUENCE) {
		return nil, fmt.Errorf("%w: bad SignerInfo", ErrFormat)
	}
	s.sid = sid
	if err := s.parseSID(sid, sidTag); err != nil {
		return nil, err
	}
	da, err := parseAlgorithmIdentifier(digestAlg)
	if err != nil {
		return nil, err
	}
	s.digestAlgDER, s.DigestAlgorithmOID, s.Hash = digestAlg, da.oid, hashFromOID(da.oid)
	var signed, unsigned cryptobyte.String
	var hasSigned, hasUnsigned bool
	var sig cryptobyte.String
	if !seq.ReadOptionalASN1(&signed, &hasSigned, tagC0) || !seq.ReadASN1Element(&sigAlg, cbasn1.SEQUENCE) ||
		!seq.ReadASN1(&sig, cbasn1.OCTET_STRING) || !seq.ReadOptionalASN1(&unsigned, &hasUnsigned, tagC1) || !seq.Empty() {
		return nil, fmt.Errorf("%w: bad SignerInfo fields", ErrFormat)
	}
	sa, err := parseAlgorithmIdentifier(sigAlg)
	if err != nil {
		return nil, err
	}
	s.sigAlgDER, s.SignatureAlgorithmOID = sigAlg, sa.oid
	s.alg = signatureAlgorithm(s.Hash, sa)
	s.SignatureAlgorithm = s.alg.alg
	s.Signature = append([]byte{}, sig...)
	if hasSigned {
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(signed) })
		s.signedAttrsDER = b.BytesOrPanic()
		s.RawSignedAttributes = s.signedAttrsDER
		if s.SignedAttributes, _, err = parseAttributes(signed); err != nil {
			return nil, err
		}
		if err := s.interpretSigned(); err != nil {
			return nil, err
		}
	}
	if hasUnsigned {
		if s.UnsignedAttributes, s.unsigned, err = parseAttributes(unsigned); err != nil {
			return nil, err
		}
		s.interpretUnsigned()
	}
	return s, nil
}

// parseSID reads SignerIdentifier (RFC 5652 §5.3): IssuerAndSerialNumber or
// [0] SubjectKeyIdentifier.
func (s *SignerInfo) parseSID(sid cryptobyte.String, tag cbasn1.Tag) error {
	switch tag {
	case cbasn1.SEQUENCE:
		var seq, name cryptobyte.String
		s.sidSerial = new(big.Int)
		if !sid.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1Element(&name, cbasn1.SEQUENCE) ||
			!seq.ReadASN1Integer(s.sidSerial) || !seq.Empty() {
			return fmt.Errorf("%w: bad IssuerAndSerialNumber", ErrFormat)
		}
		s.sidIssuer = name
	case tagP0:
		var ski cryptobyte.String
		if !sid.ReadASN1(&ski, tagP0) {
			return fmt.Errorf("%w: bad SubjectKeyIdentifier", ErrFormat)
		}
		s.sidSKI = ski
	default:
		return fmt.Errorf("%w: bad SignerIdentifier", ErrFormat)
	}
	return nil
}

// parseAttributes reads the contents of a SET OF Attribute (RFC 5652 §5.3).
func parseAttributes(set cryptobyte.String) ([]Attribute, [][]byte, error) {
	var attrs []Attribute
	var raws [][]byte
	for !set.Empty() {
		var raw, seq, values cryptobyte.String
		var a Attribute
		if !set.ReadASN1Element(&raw, cbasn1.SEQUENCE) {
			return nil, nil, fmt.Errorf("%w: bad Attribute", ErrFormat)
		}
		elem := raw
		if !elem.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&a.Type) ||
			!seq.ReadASN1(&values, cbasn1.SET) || !seq.Empty() {
			return nil, nil, fmt.Errorf("%w: bad Attribute", ErrFormat)
		}
		for !values.Empty() {
			var v cryptobyte.String
			var tag cbasn1.Tag
			if !values.ReadAnyASN1Element(&v, &tag) {
				return nil, nil, fmt.Errorf("%w: bad value of attribute %v", ErrFormat, a.Type)
			}
			a.RawValues = append(a.RawValues, v)
		}
		attrs = append(attrs, a)
		raws = append(raws, raw)
	}
	return attrs, raws, nil
}

// singleValue returns the one value of the one attribute of type t, nil if
// there is none. RFC 5652 §11.1-11.3 allow one instance with one value.
func singleValue(attrs []Attribute, t asn1.ObjectIdentifier) ([]byte, error) {
	var v []byte
	for _, a := range attrs {
		if !a.Type.Equal(t) {
			continue
		}
		if v != nil || len(a.RawValues) != 1 {
			return nil, fmt.Errorf("%w: attribute %v must occur once with one value", ErrFormat, t)
		}
		v = a.RawValues[0]
	}
	return v, nil
}

// interpretSigned reads content-type, message-digest (both required by RFC
// 5652 §5.3 when signed attributes are present), signing-time and the
// signing-certificate attributes.
func (s *SignerInfo) interpretSigned() error {
	ct, err := singleValue(s.SignedAttributes, oidContentType)
	if err != nil {
		return err
	}
	md, err := singleValue(s.SignedAttributes, oidMessageDigest)
	if err != nil {
		return err
	}
	if ct == nil || md == nil {
		return fmt.Errorf("%w: signed attributes without content-type or message-digest (RFC 5652 §5.3)", ErrFormat)
	}
	in := cryptobyte.String(ct)
	if !in.ReadASN1ObjectIdentifier(&s.ContentType) || !in.Empty() {
		return fmt.Errorf("%w: bad content-type attribute", ErrFormat)
	}
	in = md
	var digest cryptobyte.String
	if !in.ReadASN1(&digest, cbasn1.OCTET_STRING) || !in.Empty() {
		return fmt.Errorf("%w: bad message-digest attribute", ErrFormat)
	}
	s.MessageDigest = append([]byte{}, digest...)
	st, err := singleValue(s.SignedAttributes, oidSigningTime)
	if err != nil {
		return err
	}
	if st != nil {
		if s.SigningTime, err = parseTime(st); err != nil {
			return err
		}
	}
	// A bad signing-certificate attribute is a finding for
	// CheckSigningCertificate, not a reason to refuse the whole structure.
	for _, v := range []struct {
		oid asn1.ObjectIdentifier
		v2  bool
	}{{oidSigningCertificateV2, true}, {oidSigningCertificate, false}} {
		val, err := singleValue(s.SignedAttributes, v.oid)
		if err == nil && val != nil {
			var ids []ESSCertIDv2
			ids, err = parseSigningCertificate(val, v.v2)
			s.SigningCertificateV2 = append(s.SigningCertificateV2, ids...)
		}
		if err != nil && s.sigCertErr == nil {
			s.sigCertErr = err
		}
	}
	return nil
}

// parseSigningCertificate reads SigningCertificateV2 (RFC 5035 §3) or
// SigningCertificate (RFC 2634 §5.4).
func parseSigningCertificate(v []byte, v2 bool) ([]ESSCertIDv2, error) {
	in := cryptobyte.String(v)
	var seq, certs cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() || !seq.ReadASN1(&certs, cbasn1.SEQUENCE) {
		return nil, fmt.Errorf("%w: bad signing-certificate attribute", ErrFormat)
	}
	var out []ESSCertIDv2
	for !certs.Empty() {
		var idSeq cryptobyte.String
		if !certs.ReadASN1(&idSeq, cbasn1.SEQUENCE) {
			return nil, fmt.Errorf("%w: bad ESSCertID", ErrFormat)
		}
		id := ESSCertIDv2{Hash: crypto.SHA1}
		if v2 {
			id.Hash = crypto.SHA256 // DEFAULT {algorithm id-sha256}
			if idSeq.PeekASN1Tag(cbasn1.SEQUENCE) {
				var alg cryptobyte.String
				idSeq.ReadASN1Element(&alg, cbasn1.SEQUENCE)
				a, err := parseAlgorithmIdentifier(alg)
				if err != nil {
					return nil, err
				}
				id.Hash = hashFromOID(a.oid)
			}
		}
		var hash cryptobyte.String
		if !idSeq.ReadASN1(&hash, cbasn1.OCTET_STRING) {
			return nil, fmt.Errorf("%w: bad certHash", ErrFormat)
		}
		id.CertHash = append([]byte{}, hash...)
		if !idSeq.Empty() {
			var is, names cryptobyte.String
			serial := new(big.Int)
			if !idSeq.ReadASN1(&is, cbasn1.SEQUENCE) || !is.ReadASN1Element(&names, cbasn1.SEQUENCE) ||
				!is.ReadASN1Integer(serial) || !is.Empty() || !idSeq.Empty() {
				return nil, fmt.Errorf("%w: bad IssuerSerial", ErrFormat)
			}
			id.IssuerSerial = &IssuerSerial{Issuer: append([]byte{}, names...), Serial: serial}
		}
		out = append(out, id)
	}
	return out, nil
}

// interpretUnsigned collects the time-stamp tokens: signature-time-stamp
// (EN 319 122-1 §5.3) and archive-time-stamp-v3 (§5.5.3), the latter sorted
// by genTime so that index i means the i-th archive time-stamp made (a
// token whose index covers another of the same genTime sorts after it).
func (s *SignerInfo) interpretUnsigned() {
	var ats [][]byte
	for _, a := range s.UnsignedAttributes {
		switch {
		case a.Type.Equal(oidSignatureTimeStamp):
			s.SignatureTimeStamps = append(s.SignatureTimeStamps, a.RawValues...)
		case a.Type.Equal(oidArchiveTimeStampV3):
			ats = append(ats, a.RawValues...)
		}
	}
	times := make([]time.Time, len(ats))
	indexes := make([]*hashIndex, len(ats))
	for i, t := range ats {
		if tok, info, err := ParseTimeStampToken(t); err == nil {
			times[i] = info.GenTime
			_, indexes[i], _ = tokenHashIndex(tok.Signers[0])
		}
	}
	// A token whose index covers another came after it: that orders
	// renewals within one genTime tick.
	covers := func(a, b int) bool {
		x := indexes[a]
		if x == nil || x.wholeAttrs {
			return false
		}
		var ob cryptobyte.Builder
		ob.AddASN1ObjectIdentifier(oidArchiveTimeStampV3)
		h := hashOf(x.hash, append(ob.BytesOrPanic(), ats[b]...))
		for _, e := range x.attrs {
			if bytes.Equal(e, h) {
				return true
			}
		}
		return false
	}
	idx := make([]int, len(ats))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ia, ib := idx[a], idx[b]
		if !times[ia].Equal(times[ib]) {
			return times[ia].Before(times[ib])
		}
		return covers(ib, ia)
	})
	for _, i := range idx {
		s.ArchiveTimeStamps = append(s.ArchiveTimeStamps, ats[i])
	}
}

// parseTime reads a UTCTime or GeneralizedTime (RFC 5652 §11.3).
func parseTime(v []byte) (time.Time, error) {
	in := cryptobyte.String(v)
	var t time.Time
	switch {
	case in.PeekASN1Tag(cbasn1.UTCTime):
		if !in.ReadASN1UTCTime(&t) || !in.Empty() {
			return t, fmt.Errorf("%w: bad UTCTime", ErrFormat)
		}
		return t, nil
	case in.PeekASN1Tag(cbasn1.GeneralizedTime):
		var c cryptobyte.String
		if !in.ReadASN1(&c, cbasn1.GeneralizedTime) || !in.Empty() {
			return t, fmt.Errorf("%w: bad GeneralizedTime", ErrFormat)
		}
		return parseGeneralizedTime(string(c))
	}
	return t, fmt.Errorf("%w: bad time", ErrFormat)
}

// parseGeneralizedTime accepts YYYYMMDDHHMMSS[.f*]Z, the form RFC 5280
// §4.1.2.5.2 and RFC 3161 §2.4.2 use, and the offset forms of BER.
func parseGeneralizedTime(s string) (time.Time, error) {
	for _, layout := range []string{"20060102150405Z0700", "20060102150405.999999999Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: bad GeneralizedTime %q", ErrFormat, s)
}

// findCertificate finds the signer's certificate by its SignerIdentifier.
func (sd *SignedData) findCertificate(s *SignerInfo) *x509.Certificate {
	for _, c := range sd.Certificates {
		if s.matchesCertificate(c) {
			return c
		}
	}
	return nil
}

func (s *SignerInfo) matchesCertificate(c *x509.Certificate) bool {
	if s.sidSKI != nil {
		return len(c.SubjectKeyId) > 0 && bytes.Equal(c.SubjectKeyId, s.sidSKI)
	}
	return s.sidSerial != nil && c.SerialNumber.Cmp(s.sidSerial) == 0 && bytes.Equal(c.RawIssuer, s.sidIssuer)
}
