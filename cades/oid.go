package cades

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Object identifiers, named as in the documents that define them.
var (
	// RFC 5652 §4, §5.
	oidData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	// RFC 3161 §2.4.2.
	oidTSTInfo = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}

	// RFC 5652 §11.
	oidContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningTime   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	// RFC 2634 §5.4 (signing-certificate) and RFC 5035 §3 (signing-certificate-v2).
	oidSigningCertificate   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}
	oidSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	// RFC 3161 Appendix A: id-aa-signatureTimeStampToken (EN 319 122-1 §5.3).
	oidSignatureTimeStamp = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 14}
	// EN 319 122-1 §5.4.2 / TS 101 733: revocation-values.
	oidRevocationValues = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 24}
	// TS 101 733: archive-time-stamp (v1) and archive-time-stamp-v2, whose
	// imprints depend on the order of the unsigned attributes.
	oidArchiveTimeStampV1 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 27}
	oidArchiveTimeStampV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 48}
	// TS 101 733: long-term-validation (id-aa-ets-longTermValidation).
	oidLongTermValidation = asn1.ObjectIdentifier{0, 4, 0, 1733, 2, 2}
	// EN 319 122-1 §5.5.3: id-aa-ets-archiveTimestampV3.
	oidArchiveTimeStampV3 = asn1.ObjectIdentifier{0, 4, 0, 1733, 2, 4}
	// EN 319 122-1 §5.5.2: id-aa-ATSHashIndex-v3.
	oidATSHashIndexV3 = asn1.ObjectIdentifier{0, 4, 0, 19122, 1, 5}
	// The index of TS 101 733 V2.2.1 §6.4.2 (id-aa-ATSHashIndex) and of
	// EN 319 122-1 V1.0.0 (id-aa-ATSHashIndex-v2), which hash whole
	// unsigned attributes instead of attribute values.
	oidATSHashIndexV1 = asn1.ObjectIdentifier{0, 4, 0, 1733, 2, 5}
	oidATSHashIndexV2 = asn1.ObjectIdentifier{0, 4, 0, 19122, 1, 4}

	// RFC 5940 §4.1: id-ri-ocsp-response; RFC 6960: id-pkix-ocsp-basic,
	// which some implementations use as an other revocation info format.
	oidRIOCSPResponse = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 16, 2}
	oidOCSPBasic      = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 1}

	// RFC 5754 §2 (SHA-2), RFC 3370 (SHA-1).
	oidSHA1   = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}

	// RFC 3370 §3.2, RFC 4055 §5, RFC 5754 §3.2: RSA PKCS #1 v1.5.
	oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidSHA1WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidSHA256WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	// RFC 4055 §3: RSASSA-PSS and MGF1.
	oidRSAPSS = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	// RFC 5758 §3.2, RFC 5753 §7.1.3: ECDSA.
	oidECPublicKey     = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidECDSAWithSHA1   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
)

var hashOIDs = []struct {
	h   crypto.Hash
	oid asn1.ObjectIdentifier
}{
	{crypto.SHA1, oidSHA1}, {crypto.SHA256, oidSHA256}, {crypto.SHA384, oidSHA384}, {crypto.SHA512, oidSHA512},
}

// hashFromOID maps a digest algorithm OID to a hash; 0 if unknown.
func hashFromOID(oid asn1.ObjectIdentifier) crypto.Hash {
	for _, e := range hashOIDs {
		if e.oid.Equal(oid) {
			return e.h
		}
	}
	return 0
}

func oidFromHash(h crypto.Hash) (asn1.ObjectIdentifier, bool) {
	for _, e := range hashOIDs {
		if e.h == h {
			return e.oid, true
		}
	}
	return nil, false
}

// checkSigningHash accepts the hashes we sign and time-stamp with.
func checkSigningHash(h crypto.Hash) error {
	switch h {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
		return nil
	}
	return fmt.Errorf("%w: hash %v; use SHA-256, SHA-384 or SHA-512", ErrUnsupported, h)
}

// algorithmIdentifier is a parsed AlgorithmIdentifier (RFC 5280 §4.1.1.2).
type algorithmIdentifier struct {
	oid    asn1.ObjectIdentifier
	params []byte // DER of the parameters, nil when absent
	raw    []byte // DER of the whole AlgorithmIdentifier
}

func parseAlgorithmIdentifier(der []byte) (algorithmIdentifier, error) {
	s := cryptobyte.String(der)
	var seq cryptobyte.String
	a := algorithmIdentifier{raw: der}
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() || !seq.ReadASN1ObjectIdentifier(&a.oid) {
		return a, fmt.Errorf("%w: bad AlgorithmIdentifier", ErrFormat)
	}
	if !seq.Empty() {
		var p cryptobyte.String
		var tag cbasn1.Tag
		if !seq.ReadAnyASN1Element(&p, &tag) || !seq.Empty() {
			return a, fmt.Errorf("%w: bad AlgorithmIdentifier parameters", ErrFormat)
		}
		a.params = p
	}
	return a, nil
}

// digestAlgorithmDER encodes a digest AlgorithmIdentifier with absent
// parameters, as RFC 5754 §2 says to generate them.
func digestAlgorithmDER(h crypto.Hash) []byte {
	oid, _ := oidFromHash(h)
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oid) })
	return b.BytesOrPanic()
}

// hashAlgorithmNULL encodes a hash AlgorithmIdentifier with NULL parameters,
// the form RFC 4055 §2.1 prescribes inside RSASSA-PSS-params.
func hashAlgorithmNULL(b *cryptobyte.Builder, h crypto.Hash) {
	oid, _ := oidFromHash(h)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		b.AddASN1NULL()
	})
}

// signatureAlgorithmDER is the SignerInfo.signatureAlgorithm for a key
// type, hash and padding: sha*WithRSAEncryption with NULL parameters (RFC
// 4055 §5), id-RSASSA-PSS with explicit parameters (RFC 4055 §3.1: salt
// length = hash length, MGF1 with the same hash, trailer field 1 omitted as
// the DEFAULT), or ecdsa-with-SHA* with absent parameters (RFC 5758 §3.2).
func signatureAlgorithmDER(pub crypto.PublicKey, h crypto.Hash, pss bool) ([]byte, x509.SignatureAlgorithm, error) {
	var b cryptobyte.Builder
	switch keyKind(pub) {
	case "rsa":
		if pss {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidRSAPSS)
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { hashAlgorithmNULL(b, h) })
					b.AddASN1(cbasn1.Tag(1).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1ObjectIdentifier(oidMGF1)
							hashAlgorithmNULL(b, h)
						})
					})
					b.AddASN1(cbasn1.Tag(2).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(h.Size())) })
				})
			})
			alg := map[crypto.Hash]x509.SignatureAlgorithm{crypto.SHA256: x509.SHA256WithRSAPSS, crypto.SHA384: x509.SHA384WithRSAPSS, crypto.SHA512: x509.SHA512WithRSAPSS}[h]
			return b.BytesOrPanic(), alg, nil
		}
		oid := map[crypto.Hash]asn1.ObjectIdentifier{crypto.SHA256: oidSHA256WithRSA, crypto.SHA384: oidSHA384WithRSA, crypto.SHA512: oidSHA512WithRSA}[h]
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
			b.AddASN1NULL()
		})
		alg := map[crypto.Hash]x509.SignatureAlgorithm{crypto.SHA256: x509.SHA256WithRSA, crypto.SHA384: x509.SHA384WithRSA, crypto.SHA512: x509.SHA512WithRSA}[h]
		return b.BytesOrPanic(), alg, nil
	case "ecdsa":
		if pss {
			return nil, 0, fmt.Errorf("%w: RSA-PSS asked for an ECDSA key", ErrUnsupported)
		}
		oid := map[crypto.Hash]asn1.ObjectIdentifier{crypto.SHA256: oidECDSAWithSHA256, crypto.SHA384: oidECDSAWithSHA384, crypto.SHA512: oidECDSAWithSHA512}[h]
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oid) })
		alg := map[crypto.Hash]x509.SignatureAlgorithm{crypto.SHA256: x509.ECDSAWithSHA256, crypto.SHA384: x509.ECDSAWithSHA384, crypto.SHA512: x509.ECDSAWithSHA512}[h]
		return b.BytesOrPanic(), alg, nil
	}
	return nil, 0, fmt.Errorf("%w: key type %T; use RSA or ECDSA P-256/P-384/P-521", ErrUnsupported, pub)
}

// pssParams are RSASSA-PSS-params (RFC 4055 §3.1) as far as we verify them.
type pssParams struct {
	hash     crypto.Hash
	saltLen  int
	mgf1Hash crypto.Hash
}

// parsePSSParams reads RSASSA-PSS-params. Absent fields take the RFC 4055
// defaults (SHA-1, MGF1 with SHA-1, salt length 20, trailer field 1).
func parsePSSParams(der []byte) (pssParams, error) {
	p := pssParams{hash: crypto.SHA1, saltLen: 20, mgf1Hash: crypto.SHA1}
	s := cryptobyte.String(der)
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() {
		return p, fmt.Errorf("%w: bad RSASSA-PSS-params", ErrFormat)
	}
	var f cryptobyte.String
	var ok bool
	if !seq.ReadOptionalASN1(&f, &ok, cbasn1.Tag(0).ContextSpecific().Constructed()) {
		return p, fmt.Errorf("%w: bad RSASSA-PSS-params hashAlgorithm", ErrFormat)
	}
	if ok {
		a, err := parseAlgorithmIdentifier(f)
		if err != nil {
			return p, err
		}
		p.hash = hashFromOID(a.oid)
	}
	if !seq.ReadOptionalASN1(&f, &ok, cbasn1.Tag(1).ContextSpecific().Constructed()) {
		return p, fmt.Errorf("%w: bad RSASSA-PSS-params maskGenAlgorithm", ErrFormat)
	}
	if ok {
		a, err := parseAlgorithmIdentifier(f)
		if err != nil {
			return p, err
		}
		if !a.oid.Equal(oidMGF1) {
			return p, fmt.Errorf("%w: RSASSA-PSS mask generation %v", ErrUnsupported, a.oid)
		}
		h, err := parseAlgorithmIdentifier(a.params)
		if err != nil {
			return p, err
		}
		p.mgf1Hash = hashFromOID(h.oid)
	}
	if !seq.ReadOptionalASN1(&f, &ok, cbasn1.Tag(2).ContextSpecific().Constructed()) {
		return p, fmt.Errorf("%w: bad RSASSA-PSS-params saltLength", ErrFormat)
	}
	if ok {
		var n int64
		if !f.ReadASN1Int64WithTag(&n, cbasn1.INTEGER) || !f.Empty() || n < 0 || n > 1<<16 {
			return p, fmt.Errorf("%w: bad RSASSA-PSS saltLength", ErrFormat)
		}
		p.saltLen = int(n)
	}
	if !seq.ReadOptionalASN1(&f, &ok, cbasn1.Tag(3).ContextSpecific().Constructed()) {
		return p, fmt.Errorf("%w: bad RSASSA-PSS-params trailerField", ErrFormat)
	}
	if ok {
		var n int64
		if !f.ReadASN1Int64WithTag(&n, cbasn1.INTEGER) || n != 1 {
			return p, fmt.Errorf("%w: RSASSA-PSS trailerField must be 1 (RFC 4055 §3.1)", ErrFormat)
		}
	}
	if !seq.Empty() {
		return p, fmt.Errorf("%w: trailing data in RSASSA-PSS-params", ErrFormat)
	}
	return p, nil
}

// sigAlg is what a SignerInfo's digest and signature algorithms mean.
type sigAlg struct {
	alg  x509.SignatureAlgorithm
	pss  *pssParams
	hash crypto.Hash // the hash the signature algorithm itself names
	err  error       // why it cannot be verified (ErrUnsupported or ErrFormat)
}

// signatureAlgorithm interprets SignerInfo.signatureAlgorithm together with
// SignerInfo.digestAlgorithm (RFC 5652 §5.3; RFC 3370 §3.2 and RFC 5753 §7.1.3
// allow the bare rsaEncryption and id-ecPublicKey OIDs, whose hash is the
// digest algorithm).
func signatureAlgorithm(digest crypto.Hash, a algorithmIdentifier) sigAlg {
	rsaAlgs := map[crypto.Hash]x509.SignatureAlgorithm{crypto.SHA1: x509.SHA1WithRSA, crypto.SHA256: x509.SHA256WithRSA, crypto.SHA384: x509.SHA384WithRSA, crypto.SHA512: x509.SHA512WithRSA}
	ecAlgs := map[crypto.Hash]x509.SignatureAlgorithm{crypto.SHA1: x509.ECDSAWithSHA1, crypto.SHA256: x509.ECDSAWithSHA256, crypto.SHA384: x509.ECDSAWithSHA384, crypto.SHA512: x509.ECDSAWithSHA512}
	pssAlgs := map[crypto.Hash]x509.SignatureAlgorithm{crypto.SHA256: x509.SHA256WithRSAPSS, crypto.SHA384: x509.SHA384WithRSAPSS, crypto.SHA512: x509.SHA512WithRSAPSS}
	named := func(h crypto.Hash, algs map[crypto.Hash]x509.SignatureAlgorithm) sigAlg {
		s := sigAlg{alg: algs[h], hash: h}
		if s.alg == x509.UnknownSignatureAlgorithm {
			s.err = fmt.Errorf("%w: signature algorithm %v", ErrUnsupported, a.oid)
		}
		return s
	}
	switch {
	case a.oid.Equal(oidRSAEncryption):
		return named(digest, rsaAlgs)
	case a.oid.Equal(oidECPublicKey):
		return named(digest, ecAlgs)
	case a.oid.Equal(oidSHA1WithRSA):
		return named(crypto.SHA1, rsaAlgs)
	case a.oid.Equal(oidSHA256WithRSA):
		return named(crypto.SHA256, rsaAlgs)
	case a.oid.Equal(oidSHA384WithRSA):
		return named(crypto.SHA384, rsaAlgs)
	case a.oid.Equal(oidSHA512WithRSA):
		return named(crypto.SHA512, rsaAlgs)
	case a.oid.Equal(oidECDSAWithSHA1):
		return named(crypto.SHA1, ecAlgs)
	case a.oid.Equal(oidECDSAWithSHA256):
		return named(crypto.SHA256, ecAlgs)
	case a.oid.Equal(oidECDSAWithSHA384):
		return named(crypto.SHA384, ecAlgs)
	case a.oid.Equal(oidECDSAWithSHA512):
		return named(crypto.SHA512, ecAlgs)
	case a.oid.Equal(oidRSAPSS):
		if a.params == nil {
			return sigAlg{err: fmt.Errorf("%w: RSASSA-PSS without parameters", ErrFormat)}
		}
		p, err := parsePSSParams(a.params)
		if err != nil {
			return sigAlg{err: err}
		}
		s := named(p.hash, pssAlgs)
		s.pss = &p
		if s.err == nil && p.mgf1Hash != p.hash {
			s.err = fmt.Errorf("%w: RSASSA-PSS with MGF1 hash %v differing from %v", ErrUnsupported, p.mgf1Hash, p.hash)
		}
		return s
	}
	return sigAlg{err: fmt.Errorf("%w: signature algorithm %v", ErrUnsupported, a.oid)}
}
