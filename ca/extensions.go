package ca

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
)

// Extensions that crypto/x509's template cannot express the way OCES writes
// them: CRL distribution points with a directory name, policy qualifiers and
// ETSI qcStatements. The structs mirror the ASN.1 of RFC 5280 and RFC 3739.

var (
	oidExtCRLDistributionPoints = asn1.ObjectIdentifier{2, 5, 29, 31}
	oidExtCertificatePolicies   = asn1.ObjectIdentifier{2, 5, 29, 32}
	oidExtQCStatements          = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 3}
	oidQtCPS                    = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 2, 1}
	oidQtUnotice                = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 2, 2}
	oidQcsPkixQCSyntaxV2        = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 11, 2}

	// Attribute types of the subject names.
	oidCountry                = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidOrganization           = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidCommonName             = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidSerialNumber           = asn1.ObjectIdentifier{2, 5, 4, 5}
	oidGivenName              = asn1.ObjectIdentifier{2, 5, 4, 42}
	oidSurname                = asn1.ObjectIdentifier{2, 5, 4, 4}
	oidOrganizationIdentifier = asn1.ObjectIdentifier{2, 5, 4, 97}
)

// GeneralName tags (RFC 5280 section 4.2.1.6), context-specific.
const (
	tagRFC822Name    = 1
	tagDirectoryName = 4
	tagURI           = 6
)

// distributionPoint is DistributionPoint with only the fullName choice.
type distributionPoint struct {
	Name distributionPointName `asn1:"optional,tag:0"`
}

type distributionPointName struct {
	FullName []asn1.RawValue `asn1:"optional,tag:0"`
}

// policyInformation is PolicyInformation of RFC 5280 section 4.2.1.4.
type policyInformation struct {
	PolicyIdentifier asn1.ObjectIdentifier
	Qualifiers       []policyQualifierInfo `asn1:"optional"`
}

type policyQualifierInfo struct {
	PolicyQualifierID asn1.ObjectIdentifier
	Qualifier         asn1.RawValue
}

type userNotice struct {
	ExplicitText string `asn1:"utf8"`
}

// qcStatement is QCStatement of RFC 3739 section 3.2.6.
type qcStatement struct {
	StatementID   asn1.ObjectIdentifier
	StatementInfo asn1.RawValue `asn1:"optional"`
}

// semanticsInformation is SemanticsInformation of RFC 3739 section 3.2.6.1.
type semanticsInformation struct {
	SemanticsIdentifier         asn1.ObjectIdentifier `asn1:"optional"`
	NameRegistrationAuthorities []asn1.RawValue       `asn1:"optional"`
}

func uriName(u string) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tagURI, Bytes: []byte(u)}
}

// dirName wraps a DER Name as the explicitly tagged directoryName choice.
func dirName(der []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tagDirectoryName, IsCompound: true, Bytes: der}
}

// crlDistributionPoints builds the extension OCES leaves carry: the full
// CRL by URL, then the certificate's partition both as a directory name (the
// issuer's name plus CN=CRL<n>) and as a URL.
func crlDistributionPoints(fullURL string, issuerName pkix.RDNSequence, partition int, partitionURL string) (pkix.Extension, error) {
	partName := append(pkix.RDNSequence{}, issuerName...)
	partName = append(partName, pkix.RelativeDistinguishedNameSET{
		{Type: oidCommonName, Value: PartitionName(partition)},
	})
	partDER, err := asn1.Marshal(partName)
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("ca: encoding partition name: %w", err)
	}
	dps := []distributionPoint{
		{Name: distributionPointName{FullName: []asn1.RawValue{uriName(fullURL)}}},
		{Name: distributionPointName{FullName: []asn1.RawValue{dirName(partDER), uriName(partitionURL)}}},
	}
	der, err := asn1.Marshal(dps)
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("ca: encoding CRL distribution points: %w", err)
	}
	return pkix.Extension{Id: oidExtCRLDistributionPoints, Value: der}, nil
}

// PartitionName is the common name that identifies CRL partition n, as in
// the real OCES directory names ("CRL148").
func PartitionName(n int) string { return fmt.Sprintf("CRL%d", n) }

// certificatePolicies builds the policies extension, with the CPS pointer
// and explicit text on the first policy when the profile has them.
func certificatePolicies(p *Profile) (pkix.Extension, error) {
	infos := make([]policyInformation, len(p.Policies))
	for i, oid := range p.Policies {
		infos[i].PolicyIdentifier = oid
	}
	if p.CPS != "" {
		infos[0].Qualifiers = append(infos[0].Qualifiers, policyQualifierInfo{
			PolicyQualifierID: oidQtCPS,
			Qualifier:         asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte(p.CPS)},
		})
	}
	if p.UserNotice != "" {
		notice, err := asn1.Marshal(userNotice{ExplicitText: p.UserNotice})
		if err != nil {
			return pkix.Extension{}, fmt.Errorf("ca: encoding user notice: %w", err)
		}
		infos[0].Qualifiers = append(infos[0].Qualifiers, policyQualifierInfo{
			PolicyQualifierID: oidQtUnotice, Qualifier: asn1.RawValue{FullBytes: notice},
		})
	}
	der, err := asn1.Marshal(infos)
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("ca: encoding certificate policies: %w", err)
	}
	return pkix.Extension{Id: oidExtCertificatePolicies, Value: der}, nil
}

// qcStatements builds the OCES3 qcStatements extension: a semantics
// identifier (natural or legal person) with the identifier registry.
func qcStatements(semantics asn1.ObjectIdentifier, registry string) (pkix.Extension, error) {
	info := semanticsInformation{SemanticsIdentifier: semantics}
	if registry != "" {
		info.NameRegistrationAuthorities = []asn1.RawValue{uriName(registry)}
	}
	infoDER, err := asn1.Marshal(info)
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("ca: encoding semantics information: %w", err)
	}
	der, err := asn1.Marshal([]qcStatement{{StatementID: oidQcsPkixQCSyntaxV2, StatementInfo: asn1.RawValue{FullBytes: infoDER}}})
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("ca: encoding qcStatements: %w", err)
	}
	return pkix.Extension{Id: oidExtQCStatements, Value: der}, nil
}
