package cades

import (
	"bytes"
	"crypto/x509"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// ValidationData is what B-LT adds: the certificates of the chains and the
// revocation data for them (EN 319 122-1 §6.3, B-LT).
type ValidationData struct {
	Certificates  []*x509.Certificate
	OCSPResponses [][]byte // DER OCSPResponse (with responseStatus), as RFC 5940 other revocation info id-ri-ocsp-response
	CRLs          [][]byte // DER CertificateList
}

// AddValidationData raises cms towards B-LT: certificates go into
// SignedData.certificates, CRLs into SignedData.crls and OCSP responses into
// SignedData.crls as OtherRevocationInfoFormat with id-ri-ocsp-response
// (RFC 5940 §2, §4.1), each only once. The SignerInfos are untouched byte for
// byte, so their signatures, time-stamps and any archive-time-stamp-v3 stay
// valid (EN 319 122-1 §5.5.2: an ats-hash-index-v3 ignores elements added
// after it). The SignedData version follows RFC 5652 §5.1 (5 once an OCSP
// response is in).
func AddValidationData(cms []byte, vd ValidationData) ([]byte, error) {
	sd, err := Parse(cms)
	if err != nil {
		return nil, err
	}
	for _, s := range sd.Signers {
		if err := s.checkAugmentable(); err != nil {
			return nil, err
		}
	}
	has := func(list [][]byte, e []byte) bool {
		for _, l := range list {
			if bytes.Equal(l, e) {
				return true
			}
		}
		return false
	}
	for _, c := range vd.Certificates {
		if c != nil && !has(sd.RawCertificates, c.Raw) {
			sd.RawCertificates = append(sd.RawCertificates, c.Raw)
			sd.Certificates = append(sd.Certificates, c)
		}
	}
	for i, crl := range vd.CRLs {
		der, err := toDER(crl)
		if err != nil || der[0] != 0x30 {
			return nil, fmt.Errorf("cades: ValidationData.CRLs[%d] is not a DER CertificateList: %w", i, ErrFormat)
		}
		if !has(sd.crls, der) {
			sd.crls = append(sd.crls, der)
			sd.CRLs = append(sd.CRLs, der)
		}
	}
	for i, resp := range vd.OCSPResponses {
		der, err := toDER(resp)
		if err != nil || der[0] != 0x30 {
			return nil, fmt.Errorf("cades: ValidationData.OCSPResponses[%d] is not a DER OCSPResponse: %w", i, ErrFormat)
		}
		choice := otherRevocationInfo(der)
		if !has(sd.crls, choice) && !has(sd.OCSPResponses, der) {
			sd.crls = append(sd.crls, choice)
			sd.OCSPResponses = append(sd.OCSPResponses, der)
		}
	}
	return sd.encode()
}

// otherRevocationInfo encodes RevocationInfoChoice other: [1] IMPLICIT
// OtherRevocationInfoFormat { id-ri-ocsp-response, OCSPResponse } (RFC 5652
// §10.2.1, RFC 5940 §4.1).
func otherRevocationInfo(ocspResponse []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(tagC1, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidRIOCSPResponse)
		b.AddBytes(ocspResponse)
	})
	return b.BytesOrPanic()
}
