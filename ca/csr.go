package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// maxCSRBytes bounds a request before it is parsed.
const maxCSRBytes = 64 << 10

// ParseCSR reads a PKCS#10 request in DER or PEM, checks its signature (the
// applicant's proof of possession of the private key) and the key policy:
// RSA of 2048 to 8192 bits with exponent 65537, or ECDSA on P-256 or P-384.
// Every refusal wraps ErrInvalidRequest and says why.
func ParseCSR(data []byte) (*x509.CertificateRequest, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: the certificate request is empty", ErrInvalidRequest)
	}
	if len(data) > maxCSRBytes {
		return nil, fmt.Errorf("%w: the certificate request is %d bytes; at most %d are accepted", ErrInvalidRequest, len(data), maxCSRBytes)
	}
	der := data
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
			return nil, fmt.Errorf("%w: PEM block is %q, want CERTIFICATE REQUEST", ErrInvalidRequest, block.Type)
		}
		der = block.Bytes
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("%w: not a PKCS#10 certificate request (%v)", ErrInvalidRequest, err)
	}
	if err := CheckPublicKey(csr.PublicKey); err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: the request's signature does not verify, so it proves no possession of the key (%v)", ErrInvalidRequest, err)
	}
	return csr, nil
}

// CheckPublicKey applies the key policy to a subject key.
func CheckPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < 2048 || bits > 8192 {
			return fmt.Errorf("%w: RSA key of %d bits; use 2048 to 8192 bits (3072 recommended)", ErrInvalidRequest, bits)
		}
		if k.E != 65537 {
			return fmt.Errorf("%w: RSA public exponent %d; only 65537 is accepted", ErrInvalidRequest, k.E)
		}
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return fmt.Errorf("%w: ECDSA curve %s; use P-256 or P-384", ErrInvalidRequest, k.Curve.Params().Name)
		}
	default:
		return fmt.Errorf("%w: unsupported key type %T; use RSA or ECDSA (P-256, P-384)", ErrInvalidRequest, pub)
	}
	return nil
}

// signatureAlgorithm picks the algorithm a CA key signs with: SHA-256 with
// RSA PKCS#1 v1.5 as the OCES2 CAs do, ECDSA with the curve's hash.
func signatureAlgorithm(pub crypto.PublicKey) (x509.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return x509.SHA256WithRSA, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return x509.ECDSAWithSHA256, nil
		case elliptic.P384():
			return x509.ECDSAWithSHA384, nil
		}
	}
	return 0, fmt.Errorf("ca: CA key of type %T is not supported", pub)
}
