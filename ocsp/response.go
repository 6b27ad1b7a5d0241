package ocsp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/oces-pki/oces/ca"
)

// responseStatus is OCSPResponseStatus of RFC 6960 section 4.2.1.
type responseStatus int

const (
	statusSuccessful       responseStatus = 0
	statusMalformedRequest responseStatus = 1
	statusInternalError    responseStatus = 2
	statusTryLater         responseStatus = 3
	statusUnauthorized     responseStatus = 6
)

// errorResponse is the DER of an OCSPResponse without responseBytes.
func errorResponse(s responseStatus) []byte { return []byte{0x30, 0x03, 0x0a, 0x01, byte(s)} }

// certStatus is the CertStatus choice of a SingleResponse.
type certStatus uint8

const (
	certGood certStatus = iota
	certRevoked
	certUnknown
)

// notIssuedTime is the revocationTime RFC 6960 section 2.2 prescribes for a
// certificate that was never issued.
var notIssuedTime = time.Unix(0, 0).UTC()

// single is what one SingleResponse says, plus the response-level choices.
type single struct {
	status     certStatus
	revokedAt  time.Time
	reason     int // CRLReason, -1 for none
	thisUpdate time.Time
	nextUpdate time.Time
	// notIssued adds the extended revoked definition extension (RFC 6960
	// section 4.4.8) to a "revoked" answer for a serial never issued.
	notIssued bool
}

// singleFor translates a certificate record into a SingleResponse.
func singleFor(c *ca.Certificate) single {
	s := single{reason: -1}
	switch c.Status {
	case ca.StatusGood:
		s.status = certGood
	case ca.StatusSuspended:
		s.status, s.revokedAt, s.reason = certRevoked, c.RevokedAt, ca.ReasonCertificateHold.Code()
	default: // revoked, and anything unexpected, is never "good"
		s.status, s.revokedAt, s.reason = certRevoked, c.RevokedAt, c.Reason.Code()
		if c.Reason == "" {
			s.reason = -1
		}
	}
	if s.status == certRevoked && s.revokedAt.IsZero() {
		s.revokedAt = c.StatusChanged
	}
	return s
}

// notIssuedSingle is the answer for a serial this CA never issued.
func notIssuedSingle() single {
	return single{status: certRevoked, revokedAt: notIssuedTime,
		reason: ca.ReasonCertificateHold.Code(), notIssued: true}
}

// signingKey is a delegated responder: its key and its certificate.
type signingKey struct {
	key     *hsmKey // the HSM key and its retirement
	signer  crypto.Signer
	cert    *x509.Certificate
	keyHash []byte // SHA-1 of the subjectPublicKey: ResponderID byKey
	hash    crypto.Hash
	algID   []byte // DER AlgorithmIdentifier of the signature
	// certs is the certs field of a BasicOCSPResponse carrying cert,
	// encoded once for every response this key signs.
	certs []byte
	// idx is the key's index in its issuer's key list (issuer.keyAt),
	// which the response store records instead of a pointer.
	idx uint16
}

var (
	algECDSASHA256 = []byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}
	algECDSASHA384 = []byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03}
	algRSASHA256   = []byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00}
)

func newSigningKey(signer crypto.Signer, cert *x509.Certificate) (*signingKey, error) {
	k := &signingKey{signer: signer, cert: cert}
	switch pub := signer.Public().(type) {
	case *ecdsa.PublicKey:
		k.hash, k.algID = crypto.SHA256, algECDSASHA256
		if pub.Curve == elliptic.P384() {
			k.hash, k.algID = crypto.SHA384, algECDSASHA384
		}
	case *rsa.PublicKey:
		k.hash, k.algID = crypto.SHA256, algRSASHA256
	default:
		return nil, fmt.Errorf("ocsp: responder key of type %T is not supported", pub)
	}
	if pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("ocsp: responder certificate does not match the responder key")
	}
	bits, err := subjectPublicKey(cert.RawSubjectPublicKeyInfo)
	if err != nil {
		return nil, err
	}
	h := sha1.Sum(bits)
	k.keyHash = h[:]
	b := cryptobyte.NewBuilder(make([]byte, 0, len(cert.Raw)+8))
	b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddBytes(cert.Raw) })
	})
	if k.certs, err = b.Bytes(); err != nil {
		return nil, fmt.Errorf("ocsp: encoding the responder certificate: %w", err)
	}
	return k, nil
}

// maxSignature is the largest signature the key makes, in bytes: an
// ECDSA-Sig-Value in DER, or an RSA signature of the modulus size.
func maxSignature(pub crypto.PublicKey) int {
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		return 2*((pub.Curve.Params().BitSize+7)/8) + 9
	case *rsa.PublicKey:
		return (pub.N.BitLen() + 7) / 8
	}
	return 0
}

// subjectPublicKey returns the BIT STRING contents of a SubjectPublicKeyInfo.
func subjectPublicKey(spki []byte) ([]byte, error) {
	in := cryptobyte.String(spki)
	var seq, alg cryptobyte.String
	var bits []byte
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1(&alg, cbasn1.SEQUENCE) ||
		!seq.ReadASN1BitStringAsBytes(&bits) {
		return nil, errors.New("ocsp: parsing subject public key info")
	}
	return bits, nil
}

// sign builds and signs a BasicOCSPResponse for one CertID and wraps it in
// an OCSPResponse (RFC 6960 section 4.2.1). certIDDER is the CertID to
// answer for, nonce the request's nonce extnValue to echo, or nil. It
// returns the response and the signature in it.
func (k *signingKey) sign(rand io.Reader, certIDDER []byte, s *single, nonce []byte) (der, sig []byte, err error) {
	if k.key != nil && k.key.state.retired.Load() {
		return nil, nil, errRetired
	}
	tbsDER, err := k.responseData(make([]byte, 0, 256), certIDDER, s, nonce)
	if err != nil {
		return nil, nil, err
	}
	h := k.hash.New()
	h.Write(tbsDER)
	sig, err = k.signer.Sign(rand, h.Sum(nil), k.hash)
	if err != nil {
		return nil, nil, fmt.Errorf("ocsp: signing response: %w", err)
	}
	der, err = k.wrap(tbsDER, sig)
	return der, sig, err
}

// responseData encodes the ResponseData of one SingleResponse into buf.
// The encoding is a function of its arguments alone, so that a stored
// signature can be served with the ResponseData rebuilt (see table.go).
func (k *signingKey) responseData(buf, certIDDER []byte, s *single, nonce []byte) ([]byte, error) {
	tbs := cryptobyte.NewBuilder(buf)
	tbs.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // ResponseData
		b.AddASN1(cbasn1.Tag(2).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1OctetString(k.keyHash) // responderID byKey
		})
		b.AddASN1GeneralizedTime(s.thisUpdate) // producedAt
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { addSingle(b, certIDDER, s) })
		})
		if s.notIssued || nonce != nil {
			b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					if nonce != nil {
						addExtension(b, oidOCSPNonce, nonce)
					}
					if s.notIssued {
						addExtension(b, oidExtendedRevoke, []byte{0x05, 0x00})
					}
				})
			})
		}
	})
	der, err := tbs.Bytes()
	if err != nil {
		return nil, fmt.Errorf("ocsp: encoding response data: %w", err)
	}
	return der, nil
}

// wrap makes the OCSPResponse of a signed ResponseData, with the
// responder certificate in the certs field.
func (k *signingKey) wrap(tbsDER, sig []byte) ([]byte, error) {
	out := cryptobyte.NewBuilder(make([]byte, 0, len(tbsDER)+len(sig)+len(k.certs)+48))
	out.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // OCSPResponse
		b.AddASN1Enum(int64(statusSuccessful))
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // ResponseBytes
				b.AddASN1ObjectIdentifier(oidOCSPBasic)
				b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // BasicOCSPResponse
						b.AddBytes(tbsDER)
						b.AddBytes(k.algID)
						b.AddASN1BitString(sig)
						b.AddBytes(k.certs)
					})
				})
			})
		})
	})
	der, err := out.Bytes()
	if err != nil {
		return nil, fmt.Errorf("ocsp: encoding response: %w", err)
	}
	return der, nil
}

// addSingle writes the body of a SingleResponse:
//
//	SingleResponse ::= SEQUENCE {
//	    certID                       CertID,
//	    certStatus                   CertStatus,
//	    thisUpdate                   GeneralizedTime,
//	    nextUpdate         [0]       EXPLICIT GeneralizedTime OPTIONAL,
//	    singleExtensions   [1]       EXPLICIT Extensions OPTIONAL }
func addSingle(b *cryptobyte.Builder, certIDDER []byte, s *single) {
	b.AddBytes(certIDDER)
	switch s.status {
	case certGood:
		b.AddBytes([]byte{0x80, 0x00}) // good [0] IMPLICIT NULL
	case certRevoked:
		b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1GeneralizedTime(s.revokedAt.UTC().Truncate(time.Second))
			if s.reason >= 0 {
				b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					b.AddASN1Enum(int64(s.reason))
				})
			}
		})
	default:
		b.AddBytes([]byte{0x82, 0x00}) // unknown [2] IMPLICIT NULL
	}
	b.AddASN1GeneralizedTime(s.thisUpdate)
	b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
		b.AddASN1GeneralizedTime(s.nextUpdate)
	})
}

func addExtension(b *cryptobyte.Builder, oid asn1.ObjectIdentifier, value []byte) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		b.AddASN1OctetString(value)
	})
}

// certIDFor encodes the CertID of serial under an issuer's name and key
// hashes, as the pre-signed responses carry it.
func certIDFor(alg []byte, nameHash, keyHash []byte, serial ca.Serial) []byte {
	i := 0
	for i < len(serial)-1 && serial[i] == 0 {
		i++
	}
	n := serial[i:]
	b := cryptobyte.NewBuilder(make([]byte, 0, 96))
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(alg)
		b.AddASN1OctetString(nameHash)
		b.AddASN1OctetString(keyHash)
		b.AddASN1(cbasn1.INTEGER, func(b *cryptobyte.Builder) {
			if n[0]&0x80 != 0 {
				b.AddUint8(0)
			}
			b.AddBytes(n)
		})
	})
	return b.BytesOrPanic()
}

// response is one OCSPResponse ready to serve.
type response struct {
	der []byte
	// etag is the quoted ETag; nil for responses not to be cached
	// (protocol errors, answers to a nonce, to a serial never issued).
	etag []string
	// single is what the response says, so that a response for another
	// CertID hash or a live nonce response can say the same.
	single single
	// stamp names the stored record the response came from, 0 for none.
	stamp uint64
	// unique marks a live response to a nonce: not to be cached.
	unique bool
	// pooled marks a response of serveRecord, recycled once written.
	pooled bool
}

// etagOf is the ETag of a response with signature sig: its last bytes,
// which differ between any two signatures made.
func etagOf(sig []byte) []string {
	tail := sig[max(0, len(sig)-12):]
	var b [2 + 2*12]byte
	b[0] = '"'
	n := 1 + hex.Encode(b[1:], tail)
	b[n] = '"'
	return []string{string(b[:n+1])}
}
