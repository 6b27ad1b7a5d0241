package ocsp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
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
	return k, nil
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
// answer for, nonce the request's nonce extnValue to echo, or nil.
func (k *signingKey) sign(rand io.Reader, certIDDER []byte, s *single, nonce []byte) ([]byte, error) {
	if k.key != nil && k.key.state.retired.Load() {
		return nil, errRetired
	}
	tbs := cryptobyte.NewBuilder(make([]byte, 0, 256))
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
	tbsDER, err := tbs.Bytes()
	if err != nil {
		return nil, fmt.Errorf("ocsp: encoding response data: %w", err)
	}
	h := k.hash.New()
	h.Write(tbsDER)
	sig, err := k.signer.Sign(rand, h.Sum(nil), k.hash)
	if err != nil {
		return nil, fmt.Errorf("ocsp: signing response: %w", err)
	}
	out := cryptobyte.NewBuilder(make([]byte, 0, len(tbsDER)+len(sig)+len(k.cert.Raw)+64))
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
						b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
							b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddBytes(k.cert.Raw) })
						})
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

// response is one signed OCSPResponse ready to serve, with its HTTP
// validators computed once.
type response struct {
	der          []byte
	etag         []string // quoted, as the ETag header carries it
	length       []string // Content-Length
	thisUpdate   time.Time
	lastModified []string
	expires      []string
	nextUpdate   time.Time
	// single is what the response says, so that a response for another
	// CertID hash or a live nonce response can say the same.
	single single
	// seq orders updates of one entry: see Responder.install.
	seq uint64
	// base, for a SHA-256 response, is the SHA-1 response it mirrors; it
	// is current only while base is.
	base *response
	// unique marks a live response to a nonce: not to be cached.
	unique bool
	// key is the state of the key that signed it: once the key is
	// retired, the response is not served.
	key *keyState
}

func newResponse(der []byte, s *single, seq uint64, d *dates, k *signingKey) *response {
	sum := sha256.Sum256(der)
	return &response{
		der: der, etag: []string{`"` + hex.EncodeToString(sum[:16]) + `"`},
		length:     []string{strconv.Itoa(len(der))},
		thisUpdate: s.thisUpdate, lastModified: d.format(s.thisUpdate), expires: d.format(s.nextUpdate),
		nextUpdate: s.nextUpdate, single: *s, seq: seq, key: k.key.state,
	}
}

// retired reports whether the key that signed r is retired.
func (r *response) retired() bool { return r.key != nil && r.key.retired.Load() }

// dates caches formatted HTTP dates: every response signed in the same
// second shares the same Last-Modified and Expires strings.
type dates struct {
	last  [2]time.Time
	value [2][]string
}

func (d *dates) format(t time.Time) []string {
	for i := range d.last {
		if d.value[i] != nil && d.last[i].Equal(t) {
			return d.value[i]
		}
	}
	d.last[1], d.value[1] = d.last[0], d.value[0]
	d.last[0], d.value[0] = t, []string{t.UTC().Format(http.TimeFormat)}
	return d.value[0]
}
