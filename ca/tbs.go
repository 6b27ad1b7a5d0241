package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// This file makes a certificate in two steps, so that nothing the CA key
// has not been asked to sign is signed: encodeTBS makes the TBSCertificate
// (RFC 5280 section 4.1.1) from a template without any signature, and
// signCertificate signs those bytes and puts the Certificate together.

// errCaptured stops CreateCertificate once tbsCapture has the bytes.
var errCaptured = errors.New("ca: TBSCertificate captured, not signed")

// tbsCapture stands in for the CA key in x509.CreateCertificate: it has
// the CA's public key, so that crypto/x509 chooses the same algorithm and
// checks the same things as with the real key, and, being a
// crypto.MessageSigner, it is handed the encoded TBSCertificate itself
// (crypto.SignMessage hashes only for a plain Signer). It keeps the bytes
// and refuses to sign.
type tbsCapture struct {
	pub crypto.PublicKey
	tbs []byte
}

var _ crypto.MessageSigner = (*tbsCapture)(nil)

func (c *tbsCapture) Public() crypto.PublicKey { return c.pub }

func (c *tbsCapture) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errCaptured
}

func (c *tbsCapture) SignMessage(_ io.Reader, msg []byte, _ crypto.SignerOpts) ([]byte, error) {
	c.tbs = bytes.Clone(msg)
	return nil, errCaptured
}

// encodeTBS returns the DER TBSCertificate that x509.CreateCertificate
// makes of template, issuer and pub for a CA key issuer.PublicKey signing
// with sigAlg.
func encodeTBS(template, issuer *x509.Certificate, pub crypto.PublicKey, sigAlg x509.SignatureAlgorithm) ([]byte, error) {
	if issuer.PublicKey == nil {
		return nil, errors.New("ca: encoding TBSCertificate: the issuer has no public key")
	}
	t := *template
	t.SignatureAlgorithm = sigAlg
	capture := &tbsCapture{pub: issuer.PublicKey}
	_, err := x509.CreateCertificate(nil, &t, issuer, pub, capture)
	if capture.tbs == nil {
		if err == nil {
			err = errors.New("crypto/x509 did not ask for a signature")
		}
		return nil, fmt.Errorf("ca: encoding TBSCertificate: %w", err)
	}
	return capture.tbs, nil
}

// signCertificate has key sign tbs, checks the signature with pub as
// crypto/x509 does (a signer that faults must not get an RSA signature
// published), and returns the DER Certificate: tbs, its own signature
// AlgorithmIdentifier, the signature (RFC 5280 section 4.1).
func signCertificate(rnd io.Reader, key crypto.Signer, pub crypto.PublicKey, sigAlg x509.SignatureAlgorithm, tbs []byte) ([]byte, error) {
	hash, err := hashOf(sigAlg)
	if err != nil {
		return nil, err
	}
	h := hash.New()
	h.Write(tbs)
	digest := h.Sum(nil)
	sig, err := key.Sign(rnd, digest, hash)
	if err != nil {
		return nil, err
	}
	if err := verifyDigest(pub, hash, digest, sig); err != nil {
		return nil, fmt.Errorf("ca: the CA key's signature does not verify: %w", err)
	}
	return assembleCertificate(tbs, sig)
}

// hashOf is the digest of the signature algorithms signatureAlgorithm picks.
func hashOf(alg x509.SignatureAlgorithm) (crypto.Hash, error) {
	switch alg {
	case x509.SHA256WithRSA, x509.ECDSAWithSHA256:
		return crypto.SHA256, nil
	case x509.ECDSAWithSHA384:
		return crypto.SHA384, nil
	}
	return 0, fmt.Errorf("ca: signature algorithm %s is not supported", alg)
}

// verifyDigest checks a PKCS#1 v1.5 or ECDSA signature over digest.
func verifyDigest(pub crypto.PublicKey, hash crypto.Hash, digest, sig []byte) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return verifyPKCS1v15(k, hash, digest, sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return errors.New("ECDSA verification failure")
		}
		return nil
	}
	return fmt.Errorf("CA key of type %T is not supported", pub)
}

// digestInfoPrefix is the DER DigestInfo of RFC 8017 section 9.2 note 1
// before the digest, for each hash a CA key signs with.
var digestInfoPrefix = map[crypto.Hash][]byte{
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
}

// verifyPKCS1v15 checks an RSASSA-PKCS1-v1_5 signature the way RFC 8017
// section 8.2.2 describes: s^e mod n must be, byte for byte, the encoded
// message 0x00 0x01 0xff... 0x00 DigestInfo that EMSA-PKCS1-v1_5 makes of
// digest (nothing in it is parsed). rsa.VerifyPKCS1v15 does the same, but
// sets the modulus up anew for every call, which for a 3072-bit key costs
// more than the exponentiation; math/big, which is not constant-time, is
// fine here: the signature and the key are public.
func verifyPKCS1v15(pub *rsa.PublicKey, hash crypto.Hash, digest, sig []byte) error {
	prefix, ok := digestInfoPrefix[hash]
	if !ok || len(digest) != hash.Size() {
		return fmt.Errorf("unsupported digest %v of %d bytes", hash, len(digest))
	}
	k := pub.Size()
	tLen := len(prefix) + len(digest)
	if len(sig) != k || k < tLen+11 {
		return errors.New("RSA signature of the wrong length")
	}
	s := new(big.Int).SetBytes(sig)
	if s.Cmp(pub.N) >= 0 {
		return errors.New("RSA signature out of range")
	}
	em := s.Exp(s, big.NewInt(int64(pub.E)), pub.N).FillBytes(make([]byte, k))
	want := make([]byte, k)
	want[1] = 0x01
	for i := 2; i < k-tLen-1; i++ {
		want[i] = 0xff
	}
	copy(want[k-tLen:], prefix)
	copy(want[k-len(digest):], digest)
	if !bytes.Equal(em, want) {
		return errors.New("RSA verification failure")
	}
	return nil
}

// tbsSignatureAlgorithm returns the DER signature AlgorithmIdentifier
// inside a TBSCertificate: the third field, after version and serial.
func tbsSignatureAlgorithm(tbs []byte) ([]byte, error) {
	in := cryptobyte.String(tbs)
	var seq, alg cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() ||
		!seq.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!seq.SkipASN1(cbasn1.INTEGER) ||
		!seq.ReadASN1Element(&alg, cbasn1.SEQUENCE) {
		return nil, errors.New("ca: malformed TBSCertificate")
	}
	return alg, nil
}

// assembleCertificate is Certificate ::= SEQUENCE { tbsCertificate,
// signatureAlgorithm, signatureValue } with the algorithm of the TBS.
func assembleCertificate(tbs, sig []byte) ([]byte, error) {
	alg, err := tbsSignatureAlgorithm(tbs)
	if err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		b.AddBytes(alg)
		b.AddASN1BitString(sig)
	})
	der, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("ca: encoding certificate: %w", err)
	}
	return der, nil
}

// unsignedCertificate is the certificate of tbs with a zero signature of
// the length the CA key issuerKey makes: what the linter reads.
func unsignedCertificate(tbs []byte, issuerKey crypto.PublicKey) ([]byte, error) {
	return assembleCertificate(tbs, make([]byte, signatureLength(issuerKey)))
}

// signatureLength is the length of a signature by key: the modulus for
// RSA, a typical DER ECDSA-Sig-Value for ECDSA.
func signatureLength(key crypto.PublicKey) int {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return k.Size()
	case *ecdsa.PublicKey:
		return 2*((k.Curve.Params().BitSize+7)/8) + 8
	}
	return 64
}
