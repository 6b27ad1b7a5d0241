package validate

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Indication is a main status indication of EN 319 102-1 §5.1.3 (Table 4).
type Indication string

// Main indications.
const (
	TotalPassed   Indication = "TOTAL-PASSED"
	TotalFailed   Indication = "TOTAL-FAILED"
	Indeterminate Indication = "INDETERMINATE"
)

// SubIndication is a subindication of EN 319 102-1 §5.1.3 (Table 5).
type SubIndication string

// Subindications. The first group comes with TOTAL-FAILED, the others with
// INDETERMINATE (EXPIRED and NOT_YET_VALID with either).
const (
	FormatFailure   SubIndication = "FORMAT_FAILURE"
	HashFailure     SubIndication = "HASH_FAILURE"
	SigCryptoFailed SubIndication = "SIG_CRYPTO_FAILURE"
	Revoked         SubIndication = "REVOKED"
	NotYetValid     SubIndication = "NOT_YET_VALID"
	Expired         SubIndication = "EXPIRED"

	NoSigningCertificateFound     SubIndication = "NO_SIGNING_CERTIFICATE_FOUND"
	NoCertificateChainFound       SubIndication = "NO_CERTIFICATE_CHAIN_FOUND"
	CertificateChainGeneralFailed SubIndication = "CERTIFICATE_CHAIN_GENERAL_FAILURE"
	TryLater                      SubIndication = "TRY_LATER"
	RevokedNoPOE                  SubIndication = "REVOKED_NO_POE"
	RevokedCANoPOE                SubIndication = "REVOKED_CA_NO_POE"
	OutOfBoundsNoPOE              SubIndication = "OUT_OF_BOUNDS_NO_POE"
	OutOfBoundsNotRevoked         SubIndication = "OUT_OF_BOUNDS_NOT_REVOKED"
	CryptoConstraintsFailure      SubIndication = "CRYPTO_CONSTRAINTS_FAILURE"
	TimestampOrderFailure         SubIndication = "TIMESTAMP_ORDER_FAILURE"
	SignedDataNotFound            SubIndication = "SIGNED_DATA_NOT_FOUND"
)

// Report is the validation report of one document (TS 119 102-2 §4.3,
// ValidationReport), one entry per signature and document time-stamp.
type Report struct {
	ValidationTime time.Time `json:"validationTime"`
	DocumentType   string    `json:"documentType"` // "PDF" or "CMS"
	DocumentSHA256 string    `json:"documentSHA256"`
	// Indication is the worst of the signatures' (TOTAL-PASSED only when
	// there is at least one signature and every one passed).
	Indication    Indication        `json:"mainIndication"`
	SubIndication SubIndication     `json:"subIndication,omitempty"`
	Signatures    []SignatureReport `json:"signatureValidationReports"`
	Warnings      []string          `json:"warnings,omitempty"`
}

// Passed reports whether every signature is TOTAL-PASSED.
func (r *Report) Passed() bool { return r.Indication == TotalPassed }

// SignatureReport is one SignatureValidationReport (TS 119 102-2 §4.3.1).
type SignatureReport struct {
	ID            string        `json:"id"`   // the PDF field name, or "signer-N" in a CMS
	Type          string        `json:"type"` // "signature" or "document-time-stamp"
	Format        string        `json:"format,omitempty"`
	Indication    Indication    `json:"mainIndication"`
	SubIndication SubIndication `json:"subIndication,omitempty"`
	Reason        string        `json:"reason,omitempty"`
	Level         string        `json:"signatureLevel,omitempty"` // B-B, B-T, B-LT, B-LTA; "" below B-B
	Signer        *Signer       `json:"signerInformation,omitempty"`
	// ClaimedSigningTime is the signer's own claim (/M or signing-time).
	ClaimedSigningTime *time.Time `json:"claimedSigningTime,omitempty"`
	// BestSignatureTime is the earliest proof of existence (EN 319 102-1
	// §5.6.2.4); SigningTimeProof says what proves it ("signature-time-stamp",
	// "document-time-stamp", "archive-time-stamp"), "none" when only the
	// validation time is known.
	BestSignatureTime time.Time         `json:"bestSignatureTime"`
	SigningTimeProof  string            `json:"signingTimeProof"`
	DigestAlgorithm   string            `json:"digestAlgorithm,omitempty"`
	Chain             []CertificateInfo `json:"certificateChain,omitempty"`
	Revocation        []RevocationInfo  `json:"revocationData,omitempty"`
	TimeStamps        []TimeStampInfo   `json:"timeStamps,omitempty"`
	Changes           []string          `json:"changesAfterSigning,omitempty"`
	Warnings          []string          `json:"warnings,omitempty"`
}

// Signer is who signed (TS 119 102-2 SignerInformation).
type Signer struct {
	Subject      string `json:"subject"`
	CommonName   string `json:"commonName,omitempty"`
	SerialNumber string `json:"serialNumber,omitempty"` // PID:…, CVR:…-RID:…, UI:DK-…
	Organization string `json:"organization,omitempty"`
	Profile      string `json:"profile,omitempty"` // poces, moces, voces, foces, oces3-…
	Pseudonym    bool   `json:"pseudonym,omitempty"`
}

// CertificateInfo is one certificate of the chain, leaf first.
type CertificateInfo struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serialNumber"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	SHA256    string    `json:"sha256"`
	Trusted   bool      `json:"trustAnchor,omitempty"`
}

// RevocationInfo is the status used for one certificate.
type RevocationInfo struct {
	Subject    string     `json:"subject"`
	Status     string     `json:"status"` // good, revoked, on hold, unknown, not checked
	Source     string     `json:"source"` // "embedded OCSP", "embedded CRL", "OCSP", "CRL", "none"
	URL        string     `json:"url,omitempty"`
	ThisUpdate *time.Time `json:"thisUpdate,omitempty"`
	RevokedAt  *time.Time `json:"revocationTime,omitempty"`
	Reason     string     `json:"revocationReason,omitempty"`
}

// TimeStampInfo is one time-stamp token that was checked.
type TimeStampInfo struct {
	Type          string        `json:"type"` // signature-time-stamp, archive-time-stamp, document-time-stamp
	GenTime       time.Time     `json:"genTime"`
	TSA           string        `json:"tsa,omitempty"`
	Indication    Indication    `json:"mainIndication"`
	SubIndication SubIndication `json:"subIndication,omitempty"`
	Reason        string        `json:"reason,omitempty"`
}

// outcome is an indication with its reason, the result of one step.
type outcome struct {
	ind    Indication
	sub    SubIndication
	reason string
}

func passed() outcome { return outcome{ind: TotalPassed} }

func failed(sub SubIndication, format string, args ...any) outcome {
	return outcome{TotalFailed, sub, fmt.Sprintf(format, args...)}
}

func indeterminate(sub SubIndication, format string, args ...any) outcome {
	return outcome{Indeterminate, sub, fmt.Sprintf(format, args...)}
}

func (o outcome) ok() bool { return o.ind == TotalPassed || o.ind == "" }

// rank orders indications: FAILED is worse than INDETERMINATE.
func rank(i Indication) int {
	switch i {
	case TotalFailed:
		return 2
	case Indeterminate:
		return 1
	}
	return 0
}

func (r *SignatureReport) set(o outcome) {
	r.Indication, r.SubIndication, r.Reason = o.ind, o.sub, o.reason
}

func (r *SignatureReport) warn(format string, args ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
}

// finish sets the report's overall indication from its signatures.
func (r *Report) finish() {
	r.Indication = TotalPassed
	if len(r.Signatures) == 0 {
		r.Indication, r.SubIndication = Indeterminate, SignedDataNotFound
		return
	}
	for _, s := range r.Signatures {
		if rank(s.Indication) > rank(r.Indication) {
			r.Indication, r.SubIndication = s.Indication, s.SubIndication
		}
	}
}

func certInfo(c *x509.Certificate, anchor bool) CertificateInfo {
	sum := sha256.Sum256(c.Raw)
	return CertificateInfo{Subject: c.Subject.String(), Issuer: c.Issuer.String(), Serial: fmt.Sprintf("%X", c.SerialNumber),
		NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(), SHA256: hex.EncodeToString(sum[:]), Trusted: anchor}
}

var (
	oidOrganizationIdentifier = asn1.ObjectIdentifier{2, 5, 4, 97}
	oidPseudonym              = asn1.ObjectIdentifier{2, 5, 4, 65}
)

// signerOf reads the OCES identity of a certificate: the serialNumber
// attribute (PID, RID, UID, FID; UI:DK- in OCES3) and the profile it
// implies (DESIGN.md, certificate profiles).
func signerOf(c *x509.Certificate) *Signer {
	s := &Signer{Subject: c.Subject.String(), CommonName: c.Subject.CommonName, SerialNumber: c.Subject.SerialNumber}
	if len(c.Subject.Organization) > 0 {
		s.Organization = c.Subject.Organization[0]
	}
	orgID := ""
	for _, n := range c.Subject.Names {
		if n.Type.Equal(oidOrganizationIdentifier) {
			orgID, _ = n.Value.(string)
		}
		if n.Type.Equal(oidPseudonym) {
			s.Pseudonym = true
		}
	}
	sn := s.SerialNumber
	switch {
	case strings.HasPrefix(sn, "PID:"):
		s.Profile = "poces"
	case strings.HasPrefix(sn, "CVR:") && strings.Contains(sn, "-RID:"):
		s.Profile = "moces"
	case strings.HasPrefix(sn, "CVR:") && strings.Contains(sn, "-UID:"):
		s.Profile = "voces"
	case strings.HasPrefix(sn, "CVR:") && strings.Contains(sn, "-FID:"):
		s.Profile = "foces"
	case strings.HasPrefix(sn, "UI:DK-E:"):
		s.Profile = "oces3-employee"
	case strings.HasPrefix(sn, "UI:DK-O:") && orgID != "":
		s.Profile = "oces3-organisation"
	case strings.HasPrefix(sn, "UI:DK-O:"):
		s.Profile = "oces3"
	}
	return s
}
