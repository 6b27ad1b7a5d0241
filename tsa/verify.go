package tsa

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
)

// Verify checks the token's signature and signer:
//
//  1. the signed attributes carry contentType id-ct-TSTInfo and a
//     messageDigest equal to the digest of TSTInfo (RFC 5652 §5.4, §11);
//  2. the signer certificate, found in t.Certificates by the SignerInfo's
//     sid, is the one named by signing-certificate-v2 (RFC 5816 §2.2.1);
//  3. the signature over the signed attributes verifies with its key;
//  4. it carries exactly the critical EKU id-kp-timeStamping (RFC 3161 §2.3);
//  5. it chains to roots through intermediates and the token's certificates,
//     at genTime.
//
// When the request did not set certReq, the token has no certificates: append
// the TSA certificate to t.Certificates first. A nil roots means the system pool.
func (t *Token) Verify(roots, intermediates *x509.CertPool) error {
	attrs, err := t.signedAttributes()
	if err != nil {
		return err
	}
	if err := t.checkContentAttrs(attrs); err != nil {
		return err
	}
	cert, err := t.signerCertificate()
	if err != nil {
		return err
	}
	certV2, ok := attrs[oidSigningCertificateV2.String()]
	if !ok {
		return errors.New("tsa: token has no signing-certificate-v2 attribute")
	}
	if err := matchESSCertIDv2(certV2, cert); err != nil {
		return err
	}
	alg, err := signatureAlgorithm(t.signer.DigestAlgorithm.Algorithm, t.signer.SignatureAlgorithm.Algorithm, cert)
	if err != nil {
		return err
	}
	signed := bytes.Clone(t.signer.SignedAttrs.FullBytes)
	signed[0] = 0x31 // signed over as SET OF, not [0] IMPLICIT (RFC 5652 §5.4)
	if err := cert.CheckSignature(alg, signed, t.signer.Signature); err != nil {
		return fmt.Errorf("tsa: token signature: %w", err)
	}
	if err := checkTimeStampingEKU(cert); err != nil {
		return fmt.Errorf("tsa: signer certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if intermediates != nil {
		pool = intermediates.Clone()
	}
	for _, c := range t.Certificates {
		pool.AddCert(c)
	}
	_, err = cert.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: pool,
		CurrentTime:   t.GenTime,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping},
	})
	if err != nil {
		return fmt.Errorf("tsa: signer certificate chain: %w", err)
	}
	return nil
}

// signedAttributes returns the single value of each signed attribute by OID.
func (t *Token) signedAttributes() (map[string][]byte, error) {
	if len(t.signer.SignedAttrs.FullBytes) == 0 {
		return nil, errors.New("tsa: token has no signed attributes")
	}
	out := make(map[string][]byte)
	rest := t.signer.SignedAttrs.Bytes
	for len(rest) > 0 {
		var a attribute
		var err error
		if rest, err = asn1.Unmarshal(rest, &a); err != nil {
			return nil, fmt.Errorf("%w: signed attributes", ErrMalformed)
		}
		key := a.Type.String()
		if _, dup := out[key]; dup || len(a.Values) != 1 {
			return nil, fmt.Errorf("%w: signed attribute %s must occur once with one value", ErrMalformed, key)
		}
		out[key] = a.Values[0].FullBytes
	}
	return out, nil
}

func (t *Token) checkContentAttrs(attrs map[string][]byte) error {
	var ct asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(attrs[oidContentType.String()], &ct); err != nil || !ct.Equal(oidTSTInfo) {
		return errors.New("tsa: contentType attribute is not id-ct-TSTInfo")
	}
	hash, ok := hashFromOID(t.signer.DigestAlgorithm.Algorithm)
	if !ok {
		return fmt.Errorf("tsa: unsupported digest algorithm %v", t.signer.DigestAlgorithm.Algorithm)
	}
	var md []byte
	if _, err := asn1.Unmarshal(attrs[oidMessageDigest.String()], &md); err != nil {
		return errors.New("tsa: missing or malformed messageDigest attribute")
	}
	h := hash.New()
	h.Write(t.content)
	if !bytes.Equal(md, h.Sum(nil)) {
		return errors.New("tsa: messageDigest does not match TSTInfo")
	}
	return nil
}

// SignerCertificate returns the certificate in t.Certificates that the
// token's SignerInfo names: the TSA certificate. Verify checks it; this is
// for a caller that also checks its revocation status.
func (t *Token) SignerCertificate() (*x509.Certificate, error) { return t.signerCertificate() }

// signerCertificate finds the certificate named by the SignerInfo's sid.
func (t *Token) signerCertificate() (*x509.Certificate, error) {
	sid := t.signer.SID
	for _, c := range t.Certificates {
		if sid.Class == asn1.ClassContextSpecific && sid.Tag == 0 {
			if len(c.SubjectKeyId) != 0 && bytes.Equal(c.SubjectKeyId, sid.Bytes) {
				return c, nil
			}
			continue
		}
		var ias issuerAndSerialNumber
		if _, err := asn1.Unmarshal(sid.FullBytes, &ias); err != nil {
			return nil, fmt.Errorf("%w: signer identifier", ErrMalformed)
		}
		if ias.SerialNumber != nil && ias.SerialNumber.Cmp(c.SerialNumber) == 0 &&
			bytes.Equal(ias.Issuer.FullBytes, c.RawIssuer) {
			return c, nil
		}
	}
	return nil, ErrNoSignerCertificate
}

// signatureAlgorithm maps a SignerInfo's digest and signature algorithms to
// x509's: RSA PKCS #1 v1.5 (rsaEncryption or shaNNNWithRSAEncryption) and
// ECDSA with SHA-2.
func signatureAlgorithm(digest, sig asn1.ObjectIdentifier, cert *x509.Certificate) (x509.SignatureAlgorithm, error) {
	hash, ok := hashFromOID(digest)
	if !ok {
		return 0, fmt.Errorf("tsa: unsupported digest algorithm %v", digest)
	}
	rsaAlgs := map[crypto.Hash]x509.SignatureAlgorithm{
		crypto.SHA256: x509.SHA256WithRSA, crypto.SHA384: x509.SHA384WithRSA, crypto.SHA512: x509.SHA512WithRSA,
	}
	ecAlgs := map[crypto.Hash]x509.SignatureAlgorithm{
		crypto.SHA256: x509.ECDSAWithSHA256, crypto.SHA384: x509.ECDSAWithSHA384, crypto.SHA512: x509.ECDSAWithSHA512,
	}
	switch {
	case sig.Equal(oidRSAEncryption) && cert.PublicKeyAlgorithm == x509.RSA:
		return rsaAlgs[hash], nil
	case sig.Equal(oidSHA256WithRSA) && hash == crypto.SHA256,
		sig.Equal(oidSHA384WithRSA) && hash == crypto.SHA384,
		sig.Equal(oidSHA512WithRSA) && hash == crypto.SHA512:
		return rsaAlgs[hash], nil
	case sig.Equal(oidECDSAWithSHA256) && hash == crypto.SHA256,
		sig.Equal(oidECDSAWithSHA384) && hash == crypto.SHA384,
		sig.Equal(oidECDSAWithSHA512) && hash == crypto.SHA512:
		return ecAlgs[hash], nil
	}
	return 0, fmt.Errorf("tsa: unsupported signature algorithm %v with digest %v", sig, digest)
}
