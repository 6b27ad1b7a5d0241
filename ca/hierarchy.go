package ca

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"
)

// CAName is the subject of a CA certificate, laid out as the OCES CAs'
// (C=DK, O=…, [OU=…,] CN=…).
type CAName struct {
	Country            string
	Organization       string
	OrganizationalUnit string
	CommonName         string
}

func (n CAName) validate() error {
	if len(n.Country) != 2 || strings.ToUpper(n.Country) != n.Country {
		return fmt.Errorf("%w: country must be a two-letter upper-case ISO 3166 code, got %q", ErrInvalidRequest, n.Country)
	}
	if err := checkName("organization", n.Organization, true); err != nil {
		return err
	}
	if err := checkName("organizational unit", n.OrganizationalUnit, false); err != nil {
		return err
	}
	return checkName("common name", n.CommonName, true)
}

func (n CAName) rdns() pkix.RDNSequence {
	utf8 := func(t asn1.ObjectIdentifier, v string) pkix.RelativeDistinguishedNameSET {
		return pkix.RelativeDistinguishedNameSET{{Type: t, Value: asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte(v)}}}
	}
	rdns := pkix.RDNSequence{
		{{Type: oidCountry, Value: printable(n.Country)}},
		utf8(oidOrganization, n.Organization),
	}
	if n.OrganizationalUnit != "" {
		rdns = append(rdns, utf8(asn1.ObjectIdentifier{2, 5, 4, 11}, n.OrganizationalUnit))
	}
	return append(rdns, utf8(oidCommonName, n.CommonName))
}

// CACertRequest describes a CA certificate made in a key ceremony.
type CACertRequest struct {
	Subject   CAName
	PublicKey crypto.PublicKey
	NotBefore time.Time
	Validity  time.Duration
	// Issuer and IssuerSigner sign the certificate; both nil makes a
	// self-signed root with PublicKey's own Signer in IssuerSigner.
	Issuer       *x509.Certificate
	IssuerSigner crypto.Signer
	// IssuerName and BaseURL make the AIA and CRL distribution point of a
	// subordinate CA: <base>/ca/<issuer>.cer and <base>/crl/<issuer>.crl.
	IssuerName string
	BaseURL    string
	// MaxPathLen of a subordinate CA; issuing CAs use 0.
	MaxPathLen int
	Rand       io.Reader
}

// CreateCACertificate makes a root (Issuer nil) or subordinate CA
// certificate, lints it like every other certificate, and signs it.
func CreateCACertificate(req CACertRequest) (*x509.Certificate, error) {
	if err := req.Subject.validate(); err != nil {
		return nil, err
	}
	if req.IssuerSigner == nil {
		return nil, errors.New("ca: a CA certificate needs a signing key")
	}
	if req.Validity < 24*time.Hour || req.Validity > 30*365*24*time.Hour {
		return nil, fmt.Errorf("%w: CA validity %s is outside 1 day to 30 years", ErrInvalidRequest, req.Validity)
	}
	if req.Rand == nil {
		req.Rand = rand.Reader
	}
	rawSubject, err := asn1.Marshal(req.Subject.rdns())
	if err != nil {
		return nil, fmt.Errorf("ca: encoding CA subject: %w", err)
	}
	ski, err := subjectKeyID(req.PublicKey)
	if err != nil {
		return nil, err
	}
	serial, err := randInt(req.Rand, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	sigAlg, err := signatureAlgorithm(req.IssuerSigner.Public())
	if err != nil {
		return nil, err
	}
	notBefore := req.NotBefore.UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)),
		RawSubject:            rawSubject,
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(req.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          ski,
		SignatureAlgorithm:    sigAlg,
	}
	issuer := req.Issuer
	if issuer == nil {
		// A self-signed root: its own name and key identifier are the issuer's.
		issuer = &x509.Certificate{RawSubject: rawSubject, SubjectKeyId: ski, PublicKey: req.PublicKey}
		tmpl.AuthorityKeyId = ski
	} else {
		if err := subordinateFields(tmpl, &req, issuer); err != nil {
			return nil, err
		}
	}
	linter, err := NewLinter()
	if err != nil {
		return nil, err
	}
	tbs, err := linter.prepare(tmpl, issuer, req.PublicKey, sigAlg)
	if err != nil {
		return nil, fmt.Errorf("ca: CA certificate for %q: %w", req.Subject.CommonName, err)
	}
	parent := req.Issuer
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(req.Rand, tmpl, parent, req.PublicKey, req.IssuerSigner)
	if err != nil {
		return nil, fmt.Errorf("ca: signing CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ca: parsing CA certificate: %w", err)
	}
	if string(cert.RawTBSCertificate) != string(tbs) {
		return nil, errors.New("ca: signed CA certificate differs from the linted one")
	}
	return cert, nil
}

func subordinateFields(tmpl *x509.Certificate, req *CACertRequest, issuer *x509.Certificate) error {
	if !validCAName(req.IssuerName) {
		return fmt.Errorf("%w: issuer name %q must be lower-case letters, digits and hyphens", ErrInvalidRequest, req.IssuerName)
	}
	if req.BaseURL == "" {
		return fmt.Errorf("%w: a subordinate CA needs the public base URL for its AIA and CRL distribution point", ErrInvalidRequest)
	}
	if tmpl.NotAfter.After(issuer.NotAfter) {
		return fmt.Errorf("%w: the subordinate would outlive its issuer (%s)", ErrInvalidRequest, issuer.NotAfter.Format(time.DateOnly))
	}
	base := strings.TrimSuffix(req.BaseURL, "/")
	tmpl.MaxPathLen = req.MaxPathLen
	tmpl.MaxPathLenZero = req.MaxPathLen == 0
	tmpl.AuthorityKeyId = issuer.SubjectKeyId
	tmpl.IssuingCertificateURL = []string{base + "/ca/" + req.IssuerName + ".cer"}
	tmpl.CRLDistributionPoints = []string{base + "/crl/" + req.IssuerName + ".crl"}
	tmpl.PolicyIdentifiers = []asn1.ObjectIdentifier{{2, 5, 29, 32, 0}} // anyPolicy, as the OCES issuing CAs
	return nil
}
