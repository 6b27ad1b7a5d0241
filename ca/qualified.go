package ca

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/oces-pki/oces/audit"
)

// The qualified-signing profile: a qualified certificate for one
// electronic signature by a natural person, issued to a key that the
// signing service generated in its HSM a moment before (MitID's model).
// Its qcStatements follow ETSI EN 319 412-5: QcCompliance (4.2.1), QcSSCD
// (4.2.2), QcType id-etsi-qct-esign (4.2.3) and QcPDS (4.3.4), with the
// natural-person semantics identifier of EN 319 412-1 (5.1). The subject is
// CN=<name>, serialNumber=UI:DK-P:G:<uuid>, C=DK.

// QualifiedProfileName is the profile recorded with these certificates.
const QualifiedProfileName = "qualified-signing"

// ETSI EN 319 412-5 statement identifiers and EN 319 411-2 policies.
var (
	oidQcsCompliance = asn1.ObjectIdentifier{0, 4, 0, 1862, 1, 1}
	oidQcsSSCD       = asn1.ObjectIdentifier{0, 4, 0, 1862, 1, 4}
	oidQcsPDS        = asn1.ObjectIdentifier{0, 4, 0, 1862, 1, 5}
	oidQcsType       = asn1.ObjectIdentifier{0, 4, 0, 1862, 1, 6}
	oidQctESign      = asn1.ObjectIdentifier{0, 4, 0, 1862, 1, 6, 1}
	// OIDPolicyQCPnQSCD is QCP-n-qscd (ETSI EN 319 411-2 5.3): qualified
	// certificates for natural persons with the key in a QSCD.
	OIDPolicyQCPnQSCD = asn1.ObjectIdentifier{0, 4, 0, 194112, 1, 2}
)

// PDSLocation is one PKI disclosure statement: an https URL and its
// language (ISO 639-1, lower case).
type PDSLocation struct {
	URL      string
	Language string
}

// QualifiedProfile is the configurable part of qualified-signing.
type QualifiedProfile struct {
	Validity time.Duration // 1 hour by default; 5 minutes to 24 hours
	Policies []asn1.ObjectIdentifier
	PDS      []PDSLocation
}

// DefaultQualifiedProfile is valid an hour, under QCP-n-qscd and the POCES
// policy, with an English disclosure statement at https://<host>/pds/en.
func DefaultQualifiedProfile(baseURL string) *QualifiedProfile {
	host := "localhost"
	if u, err := url.Parse(baseURL); err == nil && u.Host != "" {
		host = u.Hostname()
	}
	return &QualifiedProfile{
		Validity: time.Hour,
		Policies: []asn1.ObjectIdentifier{OIDPolicyQCPnQSCD, OIDPolicyPOCES},
		PDS:      []PDSLocation{{URL: "https://" + host + "/pds/en", Language: "en"}},
	}
}

// Validate checks the profile's bounds.
func (p *QualifiedProfile) Validate() error {
	switch {
	case p.Validity < 5*time.Minute || p.Validity > 24*time.Hour:
		return fmt.Errorf("ca: profile %s: validity %s is outside 5 minutes to 24 hours", QualifiedProfileName, p.Validity)
	case len(p.Policies) == 0:
		return fmt.Errorf("ca: profile %s: at least one certificate policy OID is required", QualifiedProfileName)
	case len(p.PDS) == 0:
		return fmt.Errorf("ca: profile %s: a PKI disclosure statement (pds) is required", QualifiedProfileName)
	}
	for _, l := range p.PDS {
		u, err := url.Parse(l.URL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("ca: profile %s: PDS URL %q must be an absolute https URL", QualifiedProfileName, l.URL)
		}
		if len(l.Language) != 2 || strings.Trim(l.Language, "abcdefghijklmnopqrstuvwxyz") != "" {
			return fmt.Errorf("ca: profile %s: PDS language %q must be two lower-case letters (ISO 639-1)", QualifiedProfileName, l.Language)
		}
	}
	return nil
}

// QualifiedRequest asks for a one-time qualified signing certificate.
// There is no CSR: the key was generated a moment before in the signing
// service's HSM, which holds it, as for service certificates.
type QualifiedRequest struct {
	CA        string
	PublicKey crypto.PublicKey
	Name      string // the citizen's name, CN
	UUID      string // the citizen's OCES3 identifier
	Actor     audit.Actor
}

// pdsLocation is PdsLocation of ETSI EN 319 412-5 4.3.4.
type pdsLocation struct {
	URL      string `asn1:"ia5"`
	Language string `asn1:"printable"`
}

// IssueQualified issues a qualified-signing certificate through the same
// durable, linted path as every other certificate (see Issue).
func (c *CA) IssueQualified(ctx context.Context, req QualifiedRequest) (*Certificate, error) {
	cert, err := c.issueQualified(ctx, req)
	var recorded auditedError
	if err != nil && !errors.As(err, &recorded) {
		c.auditFailure(ctx, req.Actor, audit.ActionCertIssue, QualifiedProfileName, err)
	}
	return cert, err
}

func (c *CA) issueQualified(ctx context.Context, req QualifiedRequest) (*Certificate, error) {
	p := c.qualified
	iss, err := c.Issuer(req.CA)
	if err != nil {
		return nil, err
	}
	if err := CheckPublicKey(req.PublicKey); err != nil {
		return nil, err
	}
	if err := checkName("name", req.Name, true); err != nil {
		return nil, err
	}
	if !isUUID(req.UUID) {
		return nil, fmt.Errorf("%w: %q is not a lower-case UUID", ErrInvalidRequest, req.UUID)
	}
	id := "UI:DK-P:G:" + req.UUID
	rawSubject, err := asn1.Marshal(pkix.RDNSequence{
		{{Type: oidCommonName, Value: asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte(req.Name)}}},
		{{Type: oidSerialNumber, Value: printable(id)}},
		{{Type: oidCountry, Value: printable("DK")}},
	})
	if err != nil {
		return nil, fmt.Errorf("ca: encoding subject: %w", err)
	}
	ski, err := subjectKeyID(req.PublicKey)
	if err != nil {
		return nil, err
	}
	now := c.now().UTC().Truncate(time.Second)
	serial, err := c.newSerial()
	if err != nil {
		return nil, err
	}
	seq, err := c.nextSequence(ctx, iss)
	if err != nil {
		return nil, err
	}
	partition := int(seq / uint64(iss.PartitionSize))
	cdp, err := crlDistributionPoints(iss.urls.fullCRL, iss.subject, partition, iss.urls.partitionCRL(partition))
	if err != nil {
		return nil, err
	}
	pol, err := certificatePolicies(&Profile{Policies: p.Policies})
	if err != nil {
		return nil, err
	}
	qc, err := qualifiedStatements(p.PDS)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial.Big(), RawSubject: rawSubject,
		NotBefore: now, NotAfter: now.Add(p.Validity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		BasicConstraintsValid: true, SubjectKeyId: ski, AuthorityKeyId: iss.Certificate.SubjectKeyId,
		OCSPServer: []string{iss.urls.ocsp}, IssuingCertificateURL: []string{iss.urls.caIssuers},
		ExtraExtensions:    []pkix.Extension{pol, cdp, qc},
		SignatureAlgorithm: iss.sigAlg,
	}
	if tmpl.NotAfter.After(iss.Certificate.NotAfter) {
		return nil, fmt.Errorf("%w: issuing CA %s expires before a %s certificate would", ErrConflict, iss.Name, QualifiedProfileName)
	}
	tbs, lintDER, err := encodeForLint(tmpl, iss.Certificate, req.PublicKey, iss.sigAlg)
	if err != nil {
		return nil, fmt.Errorf("ca: issuing %s certificate: %w", QualifiedProfileName, err)
	}
	prep := &Prepared{Serial: serial, CA: iss.Name, Profile: QualifiedProfileName, SubjectID: id, Partition: partition,
		NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter, Created: now, TBS: tbs}
	if err := c.lintAndReserve(ctx, prep, lintDER, req.Actor); err != nil {
		return nil, err
	}
	return c.sign(ctx, iss, prep, req.Actor)
}

// qualifiedStatements builds the qcStatements extension of the profile.
func qualifiedStatements(pds []PDSLocation) (pkix.Extension, error) {
	types, err := asn1.Marshal([]asn1.ObjectIdentifier{oidQctESign})
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("ca: encoding QcType: %w", err)
	}
	locs := make([]pdsLocation, len(pds))
	for i, l := range pds {
		locs[i] = pdsLocation(l)
	}
	pdsDER, err := asn1.Marshal(locs)
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("ca: encoding QcPDS: %w", err)
	}
	semantics, err := asn1.Marshal(semanticsInformation{SemanticsIdentifier: OIDSemanticsNatural,
		NameRegistrationAuthorities: []asn1.RawValue{uriName(uidRegistry)}})
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("ca: encoding semantics information: %w", err)
	}
	der, err := asn1.Marshal([]qcStatement{
		{StatementID: oidQcsPkixQCSyntaxV2, StatementInfo: asn1.RawValue{FullBytes: semantics}},
		{StatementID: oidQcsCompliance},
		{StatementID: oidQcsSSCD},
		{StatementID: oidQcsType, StatementInfo: asn1.RawValue{FullBytes: types}},
		{StatementID: oidQcsPDS, StatementInfo: asn1.RawValue{FullBytes: pdsDER}},
	})
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("ca: encoding qcStatements: %w", err)
	}
	return pkix.Extension{Id: oidExtQCStatements, Value: der}, nil
}

// isUUID accepts the lower-case text form 8-4-4-4-12.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
				return false
			}
		}
	}
	return true
}
