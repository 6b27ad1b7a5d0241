package ca

import (
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"slices"
	"sort"
	"time"
)

// Generation is the OCES scheme a profile follows: OCES2 (NemID era) or
// OCES3 (MitID era). It decides the subject layout and the identifiers.
type Generation int

// The two OCES generations.
const (
	OCES2 Generation = 2
	OCES3 Generation = 3
)

// Profile describes one kind of certificate the CA issues. The built-in
// profiles follow the real OCES certificates; every field can be overridden
// in configuration.
type Profile struct {
	Name       string
	Kind       SubjectKind
	Generation Generation
	Validity   time.Duration
	// KeyUsage for RSA subject keys. For EC keys the encipherment bits are
	// dropped: an ECDSA key cannot encipher (RFC 5480 section 3).
	KeyUsage x509.KeyUsage
	Policies []asn1.ObjectIdentifier
	// CPS, when set, is added as a CPS pointer qualifier to the first policy,
	// and UserNotice as its explicit text (UTF8String, no noticeRef: RFC 5280
	// section 4.2.1.4 asks conforming CAs not to use noticeRef).
	CPS        string
	UserNotice string
	// SemanticsID is the ETSI EN 319 412-1 semantics identifier put in a
	// qcStatements extension (OCES3 only): natural or legal person.
	SemanticsID asn1.ObjectIdentifier
	// NameRegistrationAuthority goes with SemanticsID.
	NameRegistrationAuthority string
}

// Object identifiers used by the profiles.
var (
	// ETSI EN 319 411-1 normalized certificate policy (NCP).
	OIDPolicyNCP = asn1.ObjectIdentifier{0, 4, 0, 2042, 1, 1}
	// id-etsi-qcs-semanticsId-Natural and -Legal, ETSI EN 319 412-1 clause 5.1.
	OIDSemanticsNatural = asn1.ObjectIdentifier{0, 4, 0, 194121, 1, 1}
	OIDSemanticsLegal   = asn1.ObjectIdentifier{0, 4, 0, 194121, 1, 2}
	// OCES policy arcs under the Danish Agency for Digital Government
	// (1.2.208.169.1.1.1): .1 person, .2 employee, .3 organisation, .4 function.
	// The version arc is the operator's: set the OIDs assigned to your CP.
	OIDPolicyPOCES = asn1.ObjectIdentifier{1, 2, 208, 169, 1, 1, 1, 1, 7}
	OIDPolicyMOCES = asn1.ObjectIdentifier{1, 2, 208, 169, 1, 1, 1, 2, 7}
	OIDPolicyVOCES = asn1.ObjectIdentifier{1, 2, 208, 169, 1, 1, 1, 3, 7}
	OIDPolicyFOCES = asn1.ObjectIdentifier{1, 2, 208, 169, 1, 1, 1, 4, 7}
)

const (
	threeYears = 3 * 365 * 24 * time.Hour
	// personUsage is the key usage of the OCES2 person and employee
	// certificates; the organisation and function ones lack nonRepudiation.
	personUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment |
		x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment | x509.KeyUsageKeyAgreement
	systemUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment |
		x509.KeyUsageDataEncipherment | x509.KeyUsageKeyAgreement
	oces3SigningUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment | x509.KeyUsageKeyEncipherment
	oces3SystemUsage  = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
)

// uidRegistry is the name registration authority of the OCES3 identifiers.
const uidRegistry = "https://uid.gov.dk"

// DefaultProfiles returns the built-in profiles, keyed by name.
func DefaultProfiles() map[string]*Profile {
	ps := []*Profile{
		{Name: "poces", Kind: KindPerson, Generation: OCES2, Validity: threeYears, KeyUsage: personUsage,
			Policies: []asn1.ObjectIdentifier{OIDPolicyPOCES}},
		{Name: "moces", Kind: KindEmployee, Generation: OCES2, Validity: threeYears, KeyUsage: personUsage,
			Policies: []asn1.ObjectIdentifier{OIDPolicyMOCES}},
		{Name: "voces", Kind: KindOrganisation, Generation: OCES2, Validity: threeYears, KeyUsage: systemUsage,
			Policies: []asn1.ObjectIdentifier{OIDPolicyVOCES}},
		{Name: "foces", Kind: KindFunction, Generation: OCES2, Validity: threeYears, KeyUsage: systemUsage,
			Policies: []asn1.ObjectIdentifier{OIDPolicyFOCES}},
		{Name: "oces3-employee", Kind: KindEmployee, Generation: OCES3, Validity: threeYears, KeyUsage: oces3SigningUsage,
			Policies:    []asn1.ObjectIdentifier{OIDPolicyNCP, OIDPolicyMOCES},
			SemanticsID: OIDSemanticsNatural, NameRegistrationAuthority: uidRegistry},
		{Name: "oces3-organisation", Kind: KindOrganisation, Generation: OCES3, Validity: threeYears, KeyUsage: oces3SigningUsage,
			Policies:    []asn1.ObjectIdentifier{OIDPolicyNCP, OIDPolicyVOCES},
			SemanticsID: OIDSemanticsLegal, NameRegistrationAuthority: uidRegistry},
		{Name: "oces3-system", Kind: KindFunction, Generation: OCES3, Validity: threeYears, KeyUsage: oces3SystemUsage,
			Policies:    []asn1.ObjectIdentifier{OIDPolicyNCP, OIDPolicyVOCES},
			SemanticsID: OIDSemanticsLegal, NameRegistrationAuthority: uidRegistry},
	}
	out := make(map[string]*Profile, len(ps))
	for _, p := range ps {
		out[p.Name] = p
	}
	return out
}

// ProfileNames lists profile names in order, for help texts and errors.
func ProfileNames(ps map[string]*Profile) []string {
	names := make([]string, 0, len(ps))
	for n := range ps {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Validate checks a profile after configuration has overridden it.
func (p *Profile) Validate() error {
	switch {
	case p.Name == "":
		return fmt.Errorf("ca: profile without a name")
	case p.Generation != OCES2 && p.Generation != OCES3:
		return fmt.Errorf("ca: profile %s: generation must be 2 or 3", p.Name)
	case !slices.Contains([]SubjectKind{KindPerson, KindEmployee, KindOrganisation, KindFunction}, p.Kind):
		return fmt.Errorf("ca: profile %s: unknown subject kind %q", p.Name, p.Kind)
	case p.Generation == OCES3 && p.Kind == KindPerson:
		return fmt.Errorf("ca: profile %s: OCES3 person certificates are not supported", p.Name)
	case p.Validity < 24*time.Hour || p.Validity > 5*365*24*time.Hour:
		return fmt.Errorf("ca: profile %s: validity %s is outside 1 day to 5 years", p.Name, p.Validity)
	case p.KeyUsage&x509.KeyUsageDigitalSignature == 0:
		return fmt.Errorf("ca: profile %s: key usage must include digitalSignature", p.Name)
	case p.KeyUsage&(x509.KeyUsageCertSign|x509.KeyUsageCRLSign) != 0:
		return fmt.Errorf("ca: profile %s: an end-entity profile cannot have keyCertSign or cRLSign", p.Name)
	case len(p.Policies) == 0:
		return fmt.Errorf("ca: profile %s: at least one certificate policy OID is required", p.Name)
	}
	return nil
}
