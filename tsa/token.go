package tsa

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Errors returned by ParseResponse, Query and Token.Verify.
var (
	ErrMalformed           = errors.New("tsa: malformed time-stamp response or token")
	ErrNonceMismatch       = errors.New("tsa: nonce in token does not match the request")
	ErrImprintMismatch     = errors.New("tsa: message imprint in token does not match the request")
	ErrPolicyMismatch      = errors.New("tsa: policy in token is not the requested one")
	ErrNoSignerCertificate = errors.New("tsa: signer certificate not found; add the TSA certificate to Token.Certificates")
)

// RejectionError is a TimeStampResp whose status is not granted.
type RejectionError struct {
	Status   Status
	FailInfo FailureInfo
	Text     string // statusString, joined
}

func (e *RejectionError) Error() string {
	msg := fmt.Sprintf("tsa: request %s (failInfo %s)", e.Status, e.FailInfo)
	if e.Text != "" {
		msg += ": " + e.Text
	}
	return msg
}

// Token is a parsed TimeStampToken (RFC 3161 §2.4.2).
type Token struct {
	Raw           []byte // DER ContentInfo
	Policy        asn1.ObjectIdentifier
	HashAlgorithm crypto.Hash
	HashedMessage []byte
	SerialNumber  *big.Int
	GenTime       time.Time
	Accuracy      time.Duration
	Ordering      bool
	Nonce         *big.Int            // nil if absent
	TSAName       []byte              // DER GeneralName, nil if absent
	Qualified     bool                // qcStatements with esi4-qtstStatement-1 present
	Extensions    []pkix.Extension    // all TSTInfo extensions
	Certificates  []*x509.Certificate // from the token; append the TSA certificate if certReq was false

	content []byte // DER TSTInfo, the eContent
	signer  signerInfo
}

// ContentInfo ::= SEQUENCE (RFC 5652 §3).
type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,tag:0"`
}

// SignedData ::= SEQUENCE (RFC 5652 §5.1).
type signedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	EncapContentInfo encapsulatedContentInfo
	Certificates     asn1.RawValue `asn1:"optional,tag:0"`
	CRLs             asn1.RawValue `asn1:"optional,tag:1"`
	SignerInfos      []signerInfo  `asn1:"set"`
}

// EncapsulatedContentInfo ::= SEQUENCE (RFC 5652 §5.2).
type encapsulatedContentInfo struct {
	EContentType asn1.ObjectIdentifier
	EContent     []byte `asn1:"explicit,optional,tag:0"`
}

// SignerInfo ::= SEQUENCE (RFC 5652 §5.3).
type signerInfo struct {
	Version            int
	SID                asn1.RawValue // IssuerAndSerialNumber or [0] SubjectKeyIdentifier
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignedAttrs        asn1.RawValue `asn1:"optional,tag:0"`
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
	UnsignedAttrs      asn1.RawValue `asn1:"optional,tag:1"`
}

// Attribute ::= SEQUENCE (RFC 5652 §5.3).
type attribute struct {
	Type   asn1.ObjectIdentifier
	Values []asn1.RawValue `asn1:"set"`
}

// IssuerAndSerialNumber ::= SEQUENCE (RFC 5652 §10.2.4).
type issuerAndSerialNumber struct {
	Issuer       asn1.RawValue
	SerialNumber *big.Int
}

// ParseResponse parses a DER TimeStampResp. A response that is not granted
// yields a *RejectionError.
func ParseResponse(der []byte) (*Token, error) {
	var resp timeStampResp
	if rest, err := asn1.Unmarshal(der, &resp); err != nil || len(rest) != 0 {
		return nil, ErrMalformed
	}
	st := Status(resp.Status.Status)
	if st != StatusGranted && st != StatusGrantedWithMods {
		return nil, &RejectionError{Status: st, FailInfo: failureFromBits(resp.Status.FailInfo),
			Text: freeTextString(resp.Status.StatusString)}
	}
	if len(resp.TimeStampToken.FullBytes) == 0 {
		return nil, fmt.Errorf("%w: granted response without a token", ErrMalformed)
	}
	return ParseToken(resp.TimeStampToken.FullBytes)
}

// ParseToken parses a DER TimeStampToken. It checks structure only; call
// Verify to check the signature and the signer.
func ParseToken(der []byte) (*Token, error) {
	var ci contentInfo
	if rest, err := asn1.Unmarshal(der, &ci); err != nil || len(rest) != 0 || !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("%w: not a CMS SignedData", ErrMalformed)
	}
	var sd signedData
	if rest, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: bad SignedData", ErrMalformed)
	}
	if !sd.EncapContentInfo.EContentType.Equal(oidTSTInfo) || len(sd.SignerInfos) != 1 {
		return nil, fmt.Errorf("%w: not a TSTInfo with exactly one signer", ErrMalformed)
	}
	t := &Token{Raw: der, content: sd.EncapContentInfo.EContent, signer: sd.SignerInfos[0]}
	if len(sd.Certificates.Bytes) != 0 {
		certs, err := x509.ParseCertificates(sd.Certificates.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: certificates: %v", ErrMalformed, err)
		}
		t.Certificates = certs
	}
	if err := t.parseTSTInfo(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Token) parseTSTInfo() error {
	var info tstInfo
	if rest, err := asn1.Unmarshal(t.content, &info); err != nil || len(rest) != 0 || info.Version != 1 {
		return fmt.Errorf("%w: bad TSTInfo", ErrMalformed)
	}
	hash, ok := hashFromOID(info.MessageImprint.HashAlgorithm.Algorithm)
	if !ok {
		return fmt.Errorf("%w: unsupported imprint algorithm %v", ErrMalformed, info.MessageImprint.HashAlgorithm.Algorithm)
	}
	gen, err := parseGeneralizedTime(info.GenTime)
	if err != nil {
		return err
	}
	t.Policy = info.Policy
	t.HashAlgorithm = hash
	t.HashedMessage = info.MessageImprint.HashedMessage
	t.SerialNumber = info.SerialNumber
	t.GenTime = gen
	t.Accuracy = info.Accuracy.duration()
	t.Ordering = info.Ordering
	t.Nonce = info.Nonce
	t.Extensions = info.Extensions
	if len(info.TSA.Bytes) != 0 {
		t.TSAName = info.TSA.Bytes
	}
	for _, e := range info.Extensions {
		if e.Id.Equal(oidQCStatements) {
			var qcs []qcStatement
			if _, err := asn1.Unmarshal(e.Value, &qcs); err == nil {
				for _, q := range qcs {
					t.Qualified = t.Qualified || q.StatementID.Equal(oidQTSTStatement1)
				}
			}
		}
	}
	return nil
}
