package cades

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Errors. Every error of the package wraps one of them, or comes from the
// Timestamper or the key.
var (
	// ErrFormat: the input is not the CMS structure it should be.
	ErrFormat = errors.New("cades: malformed CMS")
	// ErrUnsupported: an algorithm, key type or structure we do not handle.
	ErrUnsupported = errors.New("cades: unsupported")
	// ErrDigestMismatch: the content does not hash to the message-digest
	// attribute, or an archive time-stamp's imprint does not match what it
	// covers (ETSI EN 319 102-1 HASH_FAILURE).
	ErrDigestMismatch = errors.New("cades: digest mismatch")
	// ErrSignatureInvalid: the signature value does not verify with the
	// signer's public key (EN 319 102-1 SIG_CRYPTO_FAILURE).
	ErrSignatureInvalid = errors.New("cades: signature does not verify")
	// ErrNoCertificate: the signer's certificate is neither in the
	// SignedData nor given (EN 319 102-1 NO_SIGNING_CERTIFICATE_FOUND).
	ErrNoCertificate = errors.New("cades: signer certificate not found")
	// ErrSigningCertificate: no signing-certificate(-v2) attribute, or one
	// that does not identify the certificate (EN 319 122-1 §5.2.2).
	ErrSigningCertificate = errors.New("cades: signing-certificate attribute does not bind the certificate")
	// ErrHashIndex: an ats-hash-index-v3 names an element that is not in the
	// signature any more, or is missing or malformed (EN 319 122-1 §5.5.2).
	ErrHashIndex = errors.New("cades: ats-hash-index-v3 does not match the signature")
)

// Level is a baseline level of ETSI EN 319 122-1 §6 (EN 319 122-2 §6).
type Level int

// The baseline levels, in increasing order.
const (
	LevelBB   Level = iota + 1 // "B-B"
	LevelBT                    // "B-T"
	LevelBLT                   // "B-LT"
	LevelBLTA                  // "B-LTA"
)

// LevelNone is returned by SignedData.Level for a structure that does not
// even reach B-B.
const LevelNone Level = 0

var levelNames = []string{"none", "B-B", "B-T", "B-LT", "B-LTA"}

// String returns "B-B", "B-T", "B-LT" or "B-LTA" ("none" for LevelNone).
func (l Level) String() string {
	if l >= 0 && int(l) < len(levelNames) {
		return levelNames[l]
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// ParseLevel parses a level name case-insensitively: B-B, B-T, B-LT, B-LTA
// (the "CAdES-" prefix and "BASELINE-" forms are accepted too).
func ParseLevel(s string) (Level, error) {
	n := strings.ToUpper(strings.TrimSpace(s))
	n = strings.TrimPrefix(n, "CADES-")
	n = strings.TrimPrefix(n, "BASELINE-")
	n = strings.ReplaceAll(n, "_", "-")
	if !strings.HasPrefix(n, "B-") && len(n) > 0 {
		n = "B-" + n
	}
	for i := LevelBB; i <= LevelBLTA; i++ {
		if levelNames[i] == n {
			return i, nil
		}
	}
	return 0, fmt.Errorf("cades: unknown level %q; use one of B-B, B-T, B-LT, B-LTA", s)
}

// SignedData is a parsed CMS SignedData (RFC 5652 §5.1) in its ContentInfo.
type SignedData struct {
	Raw           []byte // the input as given (BER or DER)
	ContentType   asn1.ObjectIdentifier
	Content       []byte              // eContent if encapsulated, nil when detached
	Certificates  []*x509.Certificate // in encoding order (a DER SET is sorted): find the signer's by SignerInfo.Certificate
	CRLs          [][]byte            // DER CertificateList
	OCSPResponses [][]byte            // DER OCSPResponse (RFC 5940 id-ri-ocsp-response; id-pkix-ocsp-basic wrapped)
	Signers       []*SignerInfo

	// RawCertificates holds every CertificateChoices element, DER, including
	// those crypto/x509 cannot parse (left out of Certificates).
	RawCertificates [][]byte

	version         int64
	digestAlgs      [][]byte // DER AlgorithmIdentifier
	eContentPresent bool
	crls            [][]byte // DER RevocationInfoChoice
}

// SignerInfo is a parsed SignerInfo (RFC 5652 §5.3) with the attributes of
// EN 319 122-1 interpreted.
type SignerInfo struct {
	Hash                 crypto.Hash             // digestAlgorithm; 0 if unknown
	SignatureAlgorithm   x509.SignatureAlgorithm // including the PSS variants; Unknown if not supported
	Signature            []byte
	RawSignedAttributes  []byte // the DER SET as signed (re-tagged 0x31), for verification
	MessageDigest        []byte
	ContentType          asn1.ObjectIdentifier
	SigningTime          time.Time         // zero if absent
	SigningCertificateV2 []ESSCertIDv2     // also v1 (signing-certificate) if present, with Hash = SHA1
	Certificate          *x509.Certificate // found in SignedData.certificates by sid (issuerAndSerialNumber or subjectKeyIdentifier); nil if absent
	SignatureTimeStamps  [][]byte          // DER tokens
	ArchiveTimeStamps    [][]byte          // DER tokens (v3), oldest genTime first
	UnsignedAttributes   []Attribute

	// SignedAttributes are all signed attributes, raw.
	SignedAttributes []Attribute
	// DigestAlgorithmOID and SignatureAlgorithmOID name the algorithms as
	// sent, for reports on unsupported ones.
	DigestAlgorithmOID    asn1.ObjectIdentifier
	SignatureAlgorithmOID asn1.ObjectIdentifier

	version        int64
	sid            []byte // DER SignerIdentifier
	sidIssuer      []byte // DER Name, for issuerAndSerialNumber
	sidSerial      *big.Int
	sidSKI         []byte
	digestAlgDER   []byte
	sigAlgDER      []byte
	alg            sigAlg
	signedAttrsDER []byte   // DER-normalised signed attributes, tagged 0x31
	unsigned       [][]byte // DER Attribute, in order
	der            []byte   // DER SignerInfo as read; nil once changed
	sigCertErr     error    // why the signing-certificate attributes could not be read
}

// ESSCertIDv2 is one ESSCertIDv2 (RFC 5035 §4) or ESSCertID (RFC 2634
// §5.4.1, Hash = SHA1).
type ESSCertIDv2 struct {
	Hash         crypto.Hash
	CertHash     []byte
	IssuerSerial *IssuerSerial
}

// IssuerSerial is IssuerSerial of RFC 5035 §4.
type IssuerSerial struct {
	Issuer []byte // raw GeneralNames
	Serial *big.Int
}

// Attribute is a CMS Attribute (RFC 5652 §5.3) with its values as DER.
type Attribute struct {
	Type      asn1.ObjectIdentifier
	RawValues [][]byte
}
