package cades

import (
	"bytes"
	"context"
	"crypto"
	"encoding/asn1"
	"fmt"
	"hash"
	"io"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// The archive-time-stamp-v3 of ETSI EN 319 122-1 §5.5.3 and its
// ats-hash-index-v3 (§5.5.2).
//
// The ats-hash-index-v3 is an unsigned attribute of the time-stamp token's
// own SignerInfo (§5.5.3: the token "shall" carry exactly one, with one
// value). The TSA signs only the imprint, so the attribute is added to the
// token after it comes back; the next archive time-stamp covers it, since
// it hashes the whole token as a value of the signer's unsigned attributes.
//
//	ATSHashIndexV3 ::= SEQUENCE {
//	  hashIndAlgorithm            AlgorithmIdentifier DEFAULT {algorithm id-sha256},
//	  certificatesHashIndex       SEQUENCE OF OCTET STRING,
//	  crlsHashIndex               SEQUENCE OF OCTET STRING,
//	  unsignedAttrValuesHashIndex SEQUENCE OF OCTET STRING }
//
// certificatesHashIndex hashes every CertificateChoices of
// SignedData.certificates, crlsHashIndex every RevocationInfoChoice of
// SignedData.crls (both tag, length and value), and
// unsignedAttrValuesHashIndex, for every value of every unsigned attribute
// of the SignerInfo, the encoding of attrType followed by the encoding of
// that value. hashIndAlgorithm is the imprint's hash.
//
// The imprint (§5.5.3) is the hash of the concatenation of
//  1. SignedData.encapContentInfo.eContentType (tag, length, value),
//  2. the hash of the signed content, computed as for message-digest,
//  3. the SignerInfo's version, sid, digestAlgorithm, signedAttrs (as [0]),
//     signatureAlgorithm and signature fields, in order, as encoded,
//  4. the ATSHashIndexV3 value.
//
// buildHashIndex and atsImprint serve both AddArchiveTimeStamp and
// ArchiveTimeStampImprint, so what is made is what is checked.

// indexedElements are the octet strings the three lists of the index hash,
// for signer s, in the state sd is in now. wholeAttrs selects the older
// indexes (TS 101 733 V2.2.1, EN 319 122-1 V1.0.0), which hash each
// unsigned Attribute whole.
func (sd *SignedData) indexedElements(s *SignerInfo, wholeAttrs bool) (certs, crls, attrs [][]byte) {
	if wholeAttrs {
		return sd.RawCertificates, sd.crls, s.unsigned
	}
	for _, a := range s.UnsignedAttributes {
		var b cryptobyte.Builder
		b.AddASN1ObjectIdentifier(a.Type)
		typ := b.BytesOrPanic()
		for _, v := range a.RawValues {
			attrs = append(attrs, append(append([]byte{}, typ...), v...))
		}
	}
	return sd.RawCertificates, sd.crls, attrs
}

// buildHashIndex encodes the ATSHashIndexV3 of s with hash h.
func (sd *SignedData) buildHashIndex(s *SignerInfo, h crypto.Hash) []byte {
	certs, crls, attrs := sd.indexedElements(s, false)
	list := func(b *cryptobyte.Builder, elems [][]byte) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			for _, e := range elems {
				b.AddASN1OctetString(hashOf(h, e))
			}
		})
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		if h != crypto.SHA256 {
			b.AddBytes(digestAlgorithmDER(h))
		}
		list(b, certs)
		list(b, crls)
		list(b, attrs)
	})
	return b.BytesOrPanic()
}

// hashIndex is a parsed ATSHashIndexV3 (or an older ATSHashIndex, which
// has the same syntax).
type hashIndex struct {
	hash               crypto.Hash
	certs, crls, attrs [][]byte
	wholeAttrs         bool // an index of before V1.1.1
}

func parseHashIndex(der []byte) (*hashIndex, error) {
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, fmt.Errorf("%w: bad ATSHashIndexV3", ErrHashIndex)
	}
	x := &hashIndex{hash: crypto.SHA256}
	if seq.PeekASN1Tag(cbasn1.SEQUENCE) {
		// Either hashIndAlgorithm or certificatesHashIndex: an
		// AlgorithmIdentifier starts with an OID.
		probe := seq
		var first cryptobyte.String
		probe.ReadASN1(&first, cbasn1.SEQUENCE)
		if first.PeekASN1Tag(cbasn1.OBJECT_IDENTIFIER) {
			var alg cryptobyte.String
			seq.ReadASN1Element(&alg, cbasn1.SEQUENCE)
			a, err := parseAlgorithmIdentifier(alg)
			if err != nil {
				return nil, err
			}
			if x.hash = hashFromOID(a.oid); x.hash == 0 || x.hash == crypto.SHA1 {
				return nil, fmt.Errorf("%w: ats-hash-index-v3 hash algorithm %v", ErrUnsupported, a.oid)
			}
		}
	}
	for _, l := range []*[][]byte{&x.certs, &x.crls, &x.attrs} {
		var hashes cryptobyte.String
		if !seq.ReadASN1(&hashes, cbasn1.SEQUENCE) {
			return nil, fmt.Errorf("%w: bad ATSHashIndexV3 list", ErrHashIndex)
		}
		for !hashes.Empty() {
			var v cryptobyte.String
			if !hashes.ReadASN1(&v, cbasn1.OCTET_STRING) {
				return nil, fmt.Errorf("%w: bad ATSHashIndexV3 entry", ErrHashIndex)
			}
			*l = append(*l, v)
		}
	}
	if !seq.Empty() {
		return nil, fmt.Errorf("%w: trailing data in ATSHashIndexV3", ErrHashIndex)
	}
	return x, nil
}

// checkCoverage checks §5.5.2: every entry of the index must name an
// element still present; elements added later are not in it and are fine.
func (sd *SignedData) checkCoverage(s *SignerInfo, x *hashIndex) error {
	certs, crls, attrs := sd.indexedElements(s, x.wholeAttrs)
	for _, l := range []struct {
		name    string
		entries [][]byte
		elems   [][]byte
	}{{"certificatesHashIndex", x.certs, certs}, {"crlsHashIndex", x.crls, crls}, {"unsignedAttrValuesHashIndex", x.attrs, attrs}} {
		avail := make(map[string]int)
		for _, e := range l.elems {
			avail[string(hashOf(x.hash, e))]++
		}
		for _, h := range l.entries {
			if avail[string(h)] == 0 {
				return fmt.Errorf("%w: an entry of %s names no element of the signature", ErrHashIndex, l.name)
			}
			avail[string(h)]--
		}
	}
	return nil
}

// atsImprint computes the message imprint of §5.5.3 over the index octets
// index and the content hash contentHash.
func (sd *SignedData) atsImprint(s *SignerInfo, index, contentHash []byte, h crypto.Hash) []byte {
	w := h.New()
	var b cryptobyte.Builder
	b.AddASN1ObjectIdentifier(sd.ContentType)
	w.Write(b.BytesOrPanic())
	w.Write(contentHash)
	b = cryptobyte.Builder{}
	b.AddASN1Int64(s.version)
	w.Write(b.BytesOrPanic())
	w.Write(s.sid)
	w.Write(s.digestAlgDER)
	if s.RawSignedAttributes != nil {
		w.Write([]byte{0xa0})
		w.Write(s.RawSignedAttributes[1:])
	}
	w.Write(s.sigAlgDER)
	b = cryptobyte.Builder{}
	b.AddASN1OctetString(s.Signature)
	w.Write(b.BytesOrPanic())
	w.Write(index)
	return w.Sum(nil)
}

// contentHash hashes the signed content (eContent when encapsulated,
// otherwise content) with h, and checks on the way that it is the content
// the signers' message-digest attributes name.
func (sd *SignedData) contentHash(content io.Reader, h crypto.Hash, signers []*SignerInfo) ([]byte, error) {
	if sd.eContentPresent {
		content = bytes.NewReader(sd.Content)
	}
	if content == nil {
		return nil, fmt.Errorf("cades: the SignedData is detached: pass its content")
	}
	// One pass over the content for h and every signer's digest algorithm.
	sums := map[crypto.Hash]hash.Hash{h: h.New()}
	for _, s := range signers {
		if _, ok := sums[s.Hash]; !ok && s.Hash.Available() {
			sums[s.Hash] = s.Hash.New()
		}
	}
	writers := make([]io.Writer, 0, len(sums))
	for _, w := range sums {
		writers = append(writers, w)
	}
	if _, err := io.Copy(io.MultiWriter(writers...), content); err != nil {
		return nil, fmt.Errorf("cades: reading content: %w", err)
	}
	for _, s := range signers {
		if w, ok := sums[s.Hash]; ok && s.MessageDigest != nil && !bytes.Equal(w.Sum(nil), s.MessageDigest) {
			return nil, fmt.Errorf("%w: the content is not the signed content", ErrDigestMismatch)
		}
	}
	return sums[h].Sum(nil), nil
}

// AddArchiveTimeStamp raises cms to B-LTA (EN 319 122-1 §6.3): it adds an
// archive-time-stamp-v3 (§5.5.3) to every SignerInfo, each token carrying
// its ats-hash-index-v3 (§5.5.2) as an unsigned attribute of the token's
// SignerInfo, and lists hash in SignedData.digestAlgorithms. content is the
// detached signed content (ignored when the content is encapsulated); it
// must hash to the message-digest attributes. On a signature that already
// has archive time-stamps the new one covers them (archive renewal); add
// the validation data for the previous time-stamp first (AddValidationData),
// so that the new one covers it too.
func AddArchiveTimeStamp(ctx context.Context, cms []byte, content io.Reader, ts Timestamper, hash crypto.Hash) ([]byte, error) {
	hash, err := defaultHash(hash)
	if err != nil {
		return nil, err
	}
	sd, err := Parse(cms)
	if err != nil {
		return nil, err
	}
	if len(sd.Signers) == 0 {
		return nil, fmt.Errorf("%w: no SignerInfo", ErrFormat)
	}
	for _, s := range sd.Signers {
		if err := s.checkAugmentable(); err != nil {
			return nil, err
		}
	}
	contentHash, err := sd.contentHash(content, hash, sd.Signers)
	if err != nil {
		return nil, err
	}
	for _, s := range sd.Signers {
		// 1. The index of what the time-stamp covers, as it is now.
		index := sd.buildHashIndex(s, hash)
		// 2. The imprint over the content, the signer and the index.
		imprint := sd.atsImprint(s, index, contentHash, hash)
		// 3. The token, and the index into the token's own SignerInfo.
		_, tok, err := timestamp(ctx, ts, imprint, hash)
		if err != nil {
			return nil, err
		}
		if tok.Signers[0].hasUnsigned(oidATSHashIndexV3) {
			return nil, fmt.Errorf("%w: the TSA's token already has an ats-hash-index-v3", ErrFormat)
		}
		tok.Signers[0].addUnsigned(oidATSHashIndexV3, index)
		der, err := tok.encode()
		if err != nil {
			return nil, err
		}
		// 4. The archive-time-stamp-v3 attribute.
		s.addUnsigned(oidArchiveTimeStampV3, der)
	}
	sd.addDigestAlgorithm(digestAlgorithmDER(hash))
	return sd.encode()
}

// ArchiveTimeStampImprint recomputes, for archive time-stamp i of s (index
// into s.ArchiveTimeStamps, oldest first), the message imprint the token
// must carry (§5.5.3), with the hash the token's imprint names. It fails
// with ErrHashIndex when the token's ats-hash-index-v3 is missing or names an
// element no longer in the signature (§5.5.2), and with ErrUnsupported for
// a SHA-1 imprint. content is the detached content (ignored when
// encapsulated). Tokens that carry the older index of TS 101 733 V2.2.1
// (id-aa-ATSHashIndex, 0.4.0.1733.2.5) or of EN 319 122-1 V1.0.0
// (id-aa-ATSHashIndex-v2), which hash whole unsigned attributes, are
// checked too. Index entries are matched against the DER encodings of the
// elements (Parse normalises BER); an index computed over a BER original
// would not match.
func (sd *SignedData) ArchiveTimeStampImprint(s *SignerInfo, i int, content io.Reader) ([]byte, crypto.Hash, error) {
	if i < 0 || i >= len(s.ArchiveTimeStamps) {
		return nil, 0, fmt.Errorf("cades: archive time-stamp %d of %d", i, len(s.ArchiveTimeStamps))
	}
	tok, info, err := ParseTimeStampToken(s.ArchiveTimeStamps[i])
	if err != nil {
		return nil, 0, err
	}
	h := info.Hash
	if h == 0 || h == crypto.SHA1 || !h.Available() {
		return nil, 0, fmt.Errorf("%w: archive time-stamp imprint hash", ErrUnsupported)
	}
	index, x, err := tokenHashIndex(tok.Signers[0])
	if err != nil {
		return nil, 0, err
	}
	if err := sd.checkCoverage(s, x); err != nil {
		return nil, 0, err
	}
	contentHash, err := sd.contentHash(content, h, nil)
	if err != nil {
		return nil, 0, err
	}
	return sd.atsImprint(s, index, contentHash, h), h, nil
}

// tokenHashIndex finds the one hash index of an archive time-stamp token
// (§5.5.3). The ats-hash-index-v3 is what we write; the indexes of TS 101
// 733 V2.2.1 and EN 319 122-1 V1.0.0 are read too, so older archives can be
// checked.
func tokenHashIndex(ts *SignerInfo) ([]byte, *hashIndex, error) {
	var index []byte
	whole := false
	for _, v := range []struct {
		oid   asn1.ObjectIdentifier
		whole bool
	}{{oidATSHashIndexV3, false}, {oidATSHashIndexV2, true}, {oidATSHashIndexV1, true}} {
		val, err := singleValue(ts.UnsignedAttributes, v.oid)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrHashIndex, err)
		}
		if val != nil {
			if index != nil {
				return nil, nil, fmt.Errorf("%w: the token has more than one hash index", ErrHashIndex)
			}
			index, whole = val, v.whole
		}
	}
	if index == nil {
		return nil, nil, fmt.Errorf("%w: the token has no ats-hash-index-v3", ErrHashIndex)
	}
	x, err := parseHashIndex(index)
	if err != nil {
		return nil, nil, err
	}
	x.wholeAttrs = whole
	return index, x, nil
}

// CheckArchiveTimeStamp compares ArchiveTimeStampImprint with the imprint
// token i carries: ErrDigestMismatch if they differ. The token's own
// signature and certificate are for the caller to check.
func (sd *SignedData) CheckArchiveTimeStamp(s *SignerInfo, i int, content io.Reader) error {
	imprint, h, err := sd.ArchiveTimeStampImprint(s, i, content)
	if err != nil {
		return err
	}
	_, info, err := ParseTimeStampToken(s.ArchiveTimeStamps[i])
	if err != nil {
		return err
	}
	if info.Hash != h || !bytes.Equal(info.HashedMessage, imprint) {
		return fmt.Errorf("%w: archive time-stamp %d does not cover the signature as it is", ErrDigestMismatch, i)
	}
	return nil
}
