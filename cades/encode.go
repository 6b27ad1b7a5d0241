package cades

import (
	"bytes"
	"encoding/asn1"
	"fmt"
	"slices"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// derSetOf returns the elements sorted as DER requires for SET OF (X.690
// §11.6): ascending by their encodings.
func derSetOf(elems [][]byte) [][]byte {
	out := slices.Clone(elems)
	slices.SortStableFunc(out, bytes.Compare)
	return out
}

// dedup drops repeated encodings, keeping the first.
func dedup(elems [][]byte) [][]byte {
	var out [][]byte
	for _, e := range elems {
		if !slices.ContainsFunc(out, func(o []byte) bool { return bytes.Equal(o, e) }) {
			out = append(out, e)
		}
	}
	return out
}

func addSet(b *cryptobyte.Builder, tag cbasn1.Tag, elems [][]byte) {
	b.AddASN1(tag, func(b *cryptobyte.Builder) {
		for _, e := range derSetOf(elems) {
			b.AddBytes(e)
		}
	})
}

// attributeDER encodes Attribute (RFC 5652 §5.3) with DER values.
func attributeDER(t asn1.ObjectIdentifier, values ...[]byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(t)
		addSet(b, cbasn1.SET, values)
	})
	return b.BytesOrPanic()
}

func (s *SignerInfo) hasUnsigned(t asn1.ObjectIdentifier) bool {
	return slices.ContainsFunc(s.UnsignedAttributes, func(a Attribute) bool { return a.Type.Equal(t) })
}

// addUnsigned adds an unsigned attribute with one value. The SignerInfo is
// re-encoded on output; its signed parts stay as they are.
func (s *SignerInfo) addUnsigned(t asn1.ObjectIdentifier, value []byte) {
	s.unsigned = append(s.unsigned, attributeDER(t, value))
	s.UnsignedAttributes = append(s.UnsignedAttributes, Attribute{Type: t, RawValues: [][]byte{value}})
	s.der = nil
}

// checkAugmentable refuses signers with an earlier archive time-stamp (TS
// 101 733 archive-time-stamp or -v2) or a long-term-validation attribute.
// EN 319 122-1 §5.5.3 forbids changing SignedData.certificates and crls
// then (new validation data would go into the latest such token, which we
// do not do), and those time-stamps hash the unsigned attributes in order
// of appearance, which re-encoding as DER may change.
func (s *SignerInfo) checkAugmentable() error {
	for _, oid := range []asn1.ObjectIdentifier{oidArchiveTimeStampV1, oidArchiveTimeStampV2, oidLongTermValidation} {
		if s.hasUnsigned(oid) {
			return fmt.Errorf("%w: the signature has a TS 101 733 attribute %v (ATSv2 or earlier, long-term-validation) that augmenting it would break (EN 319 122-1 §5.5.3)", ErrUnsupported, oid)
		}
	}
	return nil
}

// encode returns the DER SignerInfo: the input bytes if unchanged,
// otherwise version, sid, digestAlgorithm, the signed attributes exactly as
// signed, signatureAlgorithm, signature and the unsigned attributes as a DER
// SET (RFC 5652 §5.3).
func (s *SignerInfo) encode() []byte {
	if s.der != nil {
		return s.der
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(s.version)
		b.AddBytes(s.sid)
		b.AddBytes(s.digestAlgDER)
		if s.RawSignedAttributes != nil {
			b.AddBytes([]byte{0xa0})
			b.AddBytes(s.RawSignedAttributes[1:])
		}
		b.AddBytes(s.sigAlgDER)
		b.AddASN1OctetString(s.Signature)
		if len(s.unsigned) > 0 {
			addSet(b, tagC1, s.unsigned)
		}
	})
	s.der = b.BytesOrPanic()
	return s.der
}

// version follows RFC 5652 §5.1.
func (sd *SignedData) computeVersion() int64 {
	v4, v3 := false, !sd.ContentType.Equal(oidData)
	for _, c := range sd.RawCertificates {
		switch c[0] {
		case 0xa3:
			return 5
		case 0xa2:
			v4 = true
		case 0xa1:
			v3 = true
		}
	}
	for _, c := range sd.crls {
		if c[0] == 0xa1 {
			return 5
		}
	}
	for _, s := range sd.Signers {
		if s.version == 3 {
			v3 = true
		}
	}
	switch {
	case v4:
		return 4
	case v3:
		return 3
	}
	return 1
}

// encode returns the DER ContentInfo holding sd (RFC 5652 §3, §5.1).
func (sd *SignedData) encode() ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidSignedData)
		b.AddASN1(tagC0, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1Int64(sd.computeVersion())
				addSet(b, cbasn1.SET, dedup(sd.digestAlgs))
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(sd.ContentType)
					if sd.eContentPresent {
						b.AddASN1(tagC0, func(b *cryptobyte.Builder) { b.AddASN1OctetString(sd.Content) })
					}
				})
				if len(sd.RawCertificates) > 0 {
					addSet(b, tagC0, sd.RawCertificates)
				}
				if len(sd.crls) > 0 {
					addSet(b, tagC1, sd.crls)
				}
				signers := make([][]byte, len(sd.Signers))
				for i, s := range sd.Signers {
					signers[i] = s.encode()
				}
				addSet(b, cbasn1.SET, signers)
			})
		})
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("cades: encoding SignedData: %w", err)
	}
	return out, nil
}

// addDigestAlgorithm puts the digest algorithm into
// SignedData.digestAlgorithms unless an equal OID is there (EN 319 122-1
// §5.5.3 recommends listing the archive time-stamp's hash).
func (sd *SignedData) addDigestAlgorithm(der []byte) {
	a, err := parseAlgorithmIdentifier(der)
	if err != nil {
		return
	}
	for _, d := range sd.digestAlgs {
		if e, err := parseAlgorithmIdentifier(d); err == nil && e.oid.Equal(a.oid) {
			return
		}
	}
	sd.digestAlgs = append(sd.digestAlgs, der)
}
