package cades

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// SignOptions tune SignDigest and Sign.
type SignOptions struct {
	Hash         crypto.Hash           // digest algorithm for content and signed attributes; default SHA-256; SHA-384, SHA-512
	PSS          bool                  // RSA-PSS (salt length = hash length, MGF1 with the same hash) for RSA keys
	Certificates []*x509.Certificate   // the signer's certificate first, then its chain; all go into SignedData.certificates
	SigningTime  time.Time             // zero: no signing-time attribute (PAdES forbids it); CAdES callers set it
	ContentType  asn1.ObjectIdentifier // eContentType; default id-data
	Rand         io.Reader             // for PSS; default crypto/rand
}

// keyKind is "rsa" or "ecdsa" for the key types we sign with.
func keyKind(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return "rsa"
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return "ecdsa"
		}
	}
	return ""
}

// Sign hashes r under opts.Hash and calls SignDigest.
func Sign(ctx context.Context, key crypto.Signer, r io.Reader, opts SignOptions) ([]byte, error) {
	h := opts.Hash
	if h == 0 {
		h = crypto.SHA256
	}
	if err := checkSigningHash(h); err != nil {
		return nil, err
	}
	w := h.New()
	if _, err := io.Copy(w, r); err != nil {
		return nil, fmt.Errorf("cades: reading content: %w", err)
	}
	return SignDigest(ctx, key, w.Sum(nil), opts)
}

// SignDigest makes a detached B-B SignedData (EN 319 122-1 §6.3, no
// eContent) over content whose opts.Hash digest is digest, and returns the
// DER ContentInfo. The signed attributes are (EN 319 122-1 §5.1, §5.2):
// content-type, message-digest, signing-certificate-v2 with one ESSCertIDv2
// for the signer's certificate carrying issuerSerial (its hashAlgorithm
// omitted for SHA-256, the DEFAULT of RFC 5035 §4), and signing-time when
// opts.SigningTime is set. The signer is identified by issuerAndSerialNumber
// (SignerInfo version 1). The signature is verified with the certificate's
// public key before it is returned, so a key that does not match the
// certificate, or an HSM that signs wrongly, is caught here.
func SignDigest(ctx context.Context, key crypto.Signer, digest []byte, opts SignOptions) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h := opts.Hash
	if h == 0 {
		h = crypto.SHA256
	}
	if err := checkSigningHash(h); err != nil {
		return nil, err
	}
	if len(digest) != h.Size() {
		return nil, fmt.Errorf("cades: digest is %d bytes; %v needs %d", len(digest), h, h.Size())
	}
	if len(opts.Certificates) == 0 || opts.Certificates[0] == nil {
		return nil, errors.New("cades: SignOptions.Certificates must start with the signer's certificate")
	}
	cert := opts.Certificates[0]
	ct := opts.ContentType
	if ct == nil {
		ct = oidData
	}
	sigAlgDER, _, err := signatureAlgorithmDER(cert.PublicKey, h, opts.PSS)
	if err != nil {
		return nil, err
	}
	// 1. The signed attributes, a DER SET (RFC 5652 §5.4).
	signedAttrs, err := signedAttributes(ct, digest, cert, h, opts.SigningTime)
	if err != nil {
		return nil, err
	}
	// 2. The signature over their DER encoding with the SET OF tag.
	sig, err := signAttributes(key, signedAttrs, h, opts)
	if err != nil {
		return nil, err
	}
	// 3. SignerInfo and SignedData.
	sid, err := issuerAndSerial(cert)
	if err != nil {
		return nil, err
	}
	s := &SignerInfo{
		version: 1, sid: sid, digestAlgDER: digestAlgorithmDER(h), sigAlgDER: sigAlgDER,
		RawSignedAttributes: signedAttrs, Signature: sig,
	}
	sd := &SignedData{ContentType: ct, digestAlgs: [][]byte{digestAlgorithmDER(h)}, Signers: []*SignerInfo{s}}
	for _, c := range opts.Certificates {
		if c != nil {
			sd.RawCertificates = append(sd.RawCertificates, c.Raw)
		}
	}
	sd.RawCertificates = dedup(sd.RawCertificates)
	out, err := sd.encode()
	if err != nil {
		return nil, err
	}
	// 4. Verify the signature with the certificate's key, reading the
	// algorithm identifier we wrote as a relying party would.
	a, err := parseAlgorithmIdentifier(sigAlgDER)
	if err != nil {
		return nil, err
	}
	if err := verifyWith(cert.PublicKey, signatureAlgorithm(h, a), hashOf(h, signedAttrs), sig); err != nil {
		return nil, fmt.Errorf("cades: the new signature does not verify with the certificate's key (wrong key for the certificate?): %w", err)
	}
	return out, nil
}

func signAttributes(key crypto.Signer, signedAttrs []byte, h crypto.Hash, opts SignOptions) ([]byte, error) {
	var so crypto.SignerOpts = h
	if opts.PSS {
		if _, ok := key.Public().(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("%w: RSA-PSS needs an RSA key, not %T", ErrUnsupported, key.Public())
		}
		so = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
	}
	r := opts.Rand
	if r == nil {
		r = rand.Reader
	}
	sig, err := key.Sign(r, hashOf(h, signedAttrs), so)
	if err != nil {
		return nil, fmt.Errorf("cades: signing: %w", err)
	}
	return sig, nil
}

// signedAttributes encodes the SignedAttributes SET (RFC 5652 §5.3).
func signedAttributes(ct asn1.ObjectIdentifier, digest []byte, cert *x509.Certificate, h crypto.Hash, signingTime time.Time) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1ObjectIdentifier(ct)
	ctVal := b.BytesOrPanic()
	b = cryptobyte.Builder{}
	b.AddASN1OctetString(digest)
	mdVal := b.BytesOrPanic()
	scv2, err := signingCertificateV2(cert, h)
	if err != nil {
		return nil, err
	}
	attrs := [][]byte{
		attributeDER(oidContentType, ctVal),
		attributeDER(oidMessageDigest, mdVal),
		attributeDER(oidSigningCertificateV2, scv2),
	}
	if !signingTime.IsZero() {
		attrs = append(attrs, attributeDER(oidSigningTime, encodeTime(signingTime)))
	}
	b = cryptobyte.Builder{}
	addSet(&b, cbasn1.SET, attrs)
	return b.Bytes()
}

// signingCertificateV2 encodes SigningCertificateV2 (RFC 5035 §3) with one
// ESSCertIDv2 (§4) whose certHash uses h.
func signingCertificateV2(cert *x509.Certificate, h crypto.Hash) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				if h != crypto.SHA256 {
					b.AddBytes(digestAlgorithmDER(h))
				}
				b.AddASN1OctetString(hashOf(h, cert.Raw))
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.Tag(4).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddBytes(cert.RawIssuer) })
					})
					b.AddASN1BigInt(cert.SerialNumber)
				})
			})
		})
	})
	return b.Bytes()
}

// issuerAndSerial encodes IssuerAndSerialNumber (RFC 5652 §10.2.4).
func issuerAndSerial(cert *x509.Certificate) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(cert.RawIssuer)
		b.AddASN1BigInt(cert.SerialNumber)
	})
	return b.Bytes()
}

// encodeTime encodes a Time (RFC 5652 §11.3): UTCTime for 1950-2049,
// GeneralizedTime otherwise, in UTC to the second.
func encodeTime(t time.Time) []byte {
	t = t.UTC().Truncate(time.Second)
	var b cryptobyte.Builder
	if y := t.Year(); y >= 1950 && y < 2050 {
		b.AddASN1UTCTime(t)
	} else {
		b.AddASN1GeneralizedTime(t)
	}
	return b.BytesOrPanic()
}
