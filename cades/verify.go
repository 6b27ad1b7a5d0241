package cades

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// VerifySignature checks the signature over the signed attributes (RFC 5652
// §5.4, §5.6) with the public key of cert, or of s.Certificate when cert is
// nil. It checks neither the message digest (CheckMessageDigest) nor the
// certificate's validity or trust.
func (s *SignerInfo) VerifySignature(cert *x509.Certificate) error {
	if cert == nil {
		cert = s.Certificate
	}
	if cert == nil {
		return ErrNoCertificate
	}
	if s.RawSignedAttributes == nil {
		return fmt.Errorf("%w: SignerInfo without signed attributes (EN 319 122-1 §5.2 requires them)", ErrUnsupported)
	}
	if s.alg.err != nil {
		return s.alg.err
	}
	if s.Hash == 0 || s.Hash == crypto.SHA224 {
		return fmt.Errorf("%w: digest algorithm %v", ErrUnsupported, s.DigestAlgorithmOID)
	}
	if s.alg.hash != s.Hash {
		return fmt.Errorf("%w: signature algorithm hash %v differs from digestAlgorithm %v", ErrUnsupported, s.alg.hash, s.Hash)
	}
	err := verifyWith(cert.PublicKey, s.alg, hashOf(s.Hash, s.RawSignedAttributes), s.Signature)
	if err != nil && s.signedAttrsDER != nil && !bytes.Equal(s.signedAttrsDER, s.RawSignedAttributes) {
		// A BER input whose signer hashed the DER form (RFC 5652 §5.4).
		if verifyWith(cert.PublicKey, s.alg, hashOf(s.Hash, s.signedAttrsDER), s.Signature) == nil {
			return nil
		}
	}
	return err
}

func hashOf(h crypto.Hash, data []byte) []byte {
	w := h.New()
	w.Write(data)
	return w.Sum(nil)
}

func verifyWith(pub crypto.PublicKey, alg sigAlg, digest, sig []byte) error {
	var ok bool
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch {
		case alg.pss != nil:
			ok = rsa.VerifyPSS(k, alg.hash, digest, sig, &rsa.PSSOptions{SaltLength: alg.pss.saltLen, Hash: alg.hash}) == nil
		case isRSAPKCS1(alg.alg):
			ok = rsa.VerifyPKCS1v15(k, alg.hash, digest, sig) == nil
		default:
			return fmt.Errorf("%w: %v signature with an RSA key", ErrSignatureInvalid, alg.alg)
		}
	case *ecdsa.PublicKey:
		if !isECDSA(alg.alg) {
			return fmt.Errorf("%w: %v signature with an ECDSA key", ErrSignatureInvalid, alg.alg)
		}
		ok = ecdsa.VerifyASN1(k, digest, sig)
	default:
		return fmt.Errorf("%w: public key type %T", ErrUnsupported, pub)
	}
	if !ok {
		return ErrSignatureInvalid
	}
	return nil
}

func isRSAPKCS1(a x509.SignatureAlgorithm) bool {
	switch a {
	case x509.SHA1WithRSA, x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA:
		return true
	}
	return false
}

func isECDSA(a x509.SignatureAlgorithm) bool {
	switch a {
	case x509.ECDSAWithSHA1, x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512:
		return true
	}
	return false
}

// CheckMessageDigest hashes content (the detached content, or
// SignedData.Content when encapsulated) with the signer's digest algorithm
// and compares it with the message-digest attribute (RFC 5652 §11.2). A
// mismatch is ErrDigestMismatch.
func (s *SignerInfo) CheckMessageDigest(content io.Reader) error {
	if s.Hash == 0 || !s.Hash.Available() {
		return fmt.Errorf("%w: digest algorithm %v", ErrUnsupported, s.DigestAlgorithmOID)
	}
	if content == nil {
		return fmt.Errorf("cades: no content to check the message digest against")
	}
	w := s.Hash.New()
	if _, err := io.Copy(w, content); err != nil {
		return fmt.Errorf("cades: reading content: %w", err)
	}
	if subtle.ConstantTimeCompare(w.Sum(nil), s.MessageDigest) != 1 {
		return ErrDigestMismatch
	}
	return nil
}

// CheckSigningCertificate checks that the signing-certificate-v2 attribute
// (RFC 5035 §3, EN 319 122-1 §5.2.2.3), and the signing-certificate
// attribute if present too, identify cert (or s.Certificate when nil) in
// their first ESSCertID(v2): certHash over the whole certificate and, when
// present, issuerSerial (RFC 5035 §5.4).
func (s *SignerInfo) CheckSigningCertificate(cert *x509.Certificate) error {
	if cert == nil {
		cert = s.Certificate
	}
	if cert == nil {
		return ErrNoCertificate
	}
	if s.sigCertErr != nil {
		return fmt.Errorf("%w: %w", ErrSigningCertificate, s.sigCertErr)
	}
	firsts := s.firstCertIDs()
	if len(firsts) == 0 {
		return fmt.Errorf("%w: no signing-certificate or signing-certificate-v2 attribute", ErrSigningCertificate)
	}
	for _, id := range firsts {
		if id.Hash == 0 || !id.Hash.Available() {
			return fmt.Errorf("%w: ESSCertIDv2 hash algorithm", ErrUnsupported)
		}
		if !bytes.Equal(hashOf(id.Hash, cert.Raw), id.CertHash) {
			return fmt.Errorf("%w: certHash (%v) differs", ErrSigningCertificate, id.Hash)
		}
		if is := id.IssuerSerial; is != nil {
			if is.Serial.Cmp(cert.SerialNumber) != 0 {
				return fmt.Errorf("%w: issuerSerial serial number differs", ErrSigningCertificate)
			}
			if !generalNamesHaveDirectoryName(is.Issuer, cert.RawIssuer) {
				return fmt.Errorf("%w: issuerSerial issuer differs", ErrSigningCertificate)
			}
		}
	}
	return nil
}

// firstCertIDs returns the first ESSCertID(v2) of each signing-certificate
// attribute present: the one that must identify the signer.
func (s *SignerInfo) firstCertIDs() []ESSCertIDv2 {
	var out []ESSCertIDv2
	for _, v := range []struct {
		oid asn1.ObjectIdentifier
		v2  bool
	}{{oidSigningCertificateV2, true}, {oidSigningCertificate, false}} {
		val, err := singleValue(s.SignedAttributes, v.oid)
		if err != nil || val == nil {
			continue
		}
		if ids, err := parseSigningCertificate(val, v.v2); err == nil && len(ids) > 0 {
			out = append(out, ids[0])
		}
	}
	return out
}

// generalNamesHaveDirectoryName reports whether GeneralNames (RFC 5280
// §4.2.1.6) holds a directoryName equal to name.
func generalNamesHaveDirectoryName(names, name []byte) bool {
	in := cryptobyte.String(names)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) {
		return false
	}
	for !seq.Empty() {
		var gn cryptobyte.String
		var tag cbasn1.Tag
		if !seq.ReadAnyASN1(&gn, &tag) {
			return false
		}
		if tag == cbasn1.Tag(4).ContextSpecific().Constructed() && bytes.Equal(gn, name) {
			return true
		}
	}
	return false
}

// SignatureTimeStampImprint is the message imprint a signature-time-stamp
// of s must carry: the hash of the signature value (EN 319 122-1 §5.3).
func (s *SignerInfo) SignatureTimeStampImprint(hash crypto.Hash) ([]byte, error) {
	if hash == 0 || !hash.Available() {
		return nil, fmt.Errorf("%w: hash %v", ErrUnsupported, hash)
	}
	return hashOf(hash, s.Signature), nil
}

// Level is the highest baseline level (EN 319 122-1 §6) that every signer
// reaches by structure alone: B-B needs the signed attributes content-type,
// message-digest and signing-certificate(-v2) (§6.3); B-T a
// signature-time-stamp (§6.3); B-LT revocation data in SignedData.crls or a
// revocation-values attribute (§6.3, §5.4); B-LTA an archive-time-stamp-v3
// (§5.5.3). No signature, time-stamp or certificate is checked.
func (sd *SignedData) Level() Level {
	if len(sd.Signers) == 0 {
		return LevelNone
	}
	level := LevelBLTA
	for _, s := range sd.Signers {
		l := LevelNone
		if s.RawSignedAttributes != nil && len(s.firstCertIDs()) > 0 {
			l = LevelBB
			if len(s.SignatureTimeStamps) > 0 {
				l = LevelBT
				if len(sd.crls) > 0 || s.hasUnsigned(oidRevocationValues) {
					l = LevelBLT
					if len(s.ArchiveTimeStamps) > 0 {
						l = LevelBLTA
					}
				}
			}
		}
		level = min(level, l)
	}
	return level
}
