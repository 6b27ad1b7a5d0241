package ca

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/oces-pki/oces/audit"
)

// ServiceKind is a certificate the CA issues to one of its own services or
// officers rather than to a subscriber.
type ServiceKind string

// Service certificates.
const (
	// ServiceOCSP is a delegated OCSP responder (RFC 6960 section 4.2.2.2):
	// id-kp-OCSPSigning and id-pkix-ocsp-nocheck, valid a few days.
	ServiceOCSP ServiceKind = "ocsp-responder"
	// ServiceTSA is a time-stamping unit (RFC 3161 section 2.3): the only
	// extended key usage is id-kp-timeStamping, critical.
	ServiceTSA ServiceKind = "tsa"
	// ServiceOfficer authenticates a CA officer to the admin API:
	// id-kp-clientAuth. An officer may do everything the API offers.
	ServiceOfficer ServiceKind = "officer"
	// ServiceRA authenticates a registration authority bound to one CVR
	// number: it may enrol and suspend employee, organisation and system
	// certificates of that CVR only.
	ServiceRA ServiceKind = "ra"
	// ServiceTLS is the admin API's own TLS server certificate.
	ServiceTLS ServiceKind = "tls-server"
)

var oidOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}

// ServiceRequest asks for a service certificate. The key is the service's
// own, normally in the HSM, so there is no CSR: the caller holds the key.
type ServiceRequest struct {
	CA         string
	Kind       ServiceKind
	PublicKey  crypto.PublicKey
	CommonName string
	// Organization defaults to the issuing CA's organisation.
	Organization string
	// CVR binds a registration authority to one organisation (ServiceRA).
	CVR string
	// Hosts are the DNS names and IP addresses of a TLS server (ServiceTLS).
	Hosts    []string
	Validity time.Duration
	Actor    audit.Actor
}

// serviceProfile returns the key usages of a service kind and its bounds.
func serviceProfile(k ServiceKind) (x509.KeyUsage, []x509.ExtKeyUsage, time.Duration, error) {
	switch k {
	case ServiceOCSP:
		return x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}, 30 * 24 * time.Hour, nil
	case ServiceTSA:
		return x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment, []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}, 11 * 365 * 24 * time.Hour, nil
	case ServiceOfficer, ServiceRA:
		return x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, 3 * 365 * 24 * time.Hour, nil
	case ServiceTLS:
		return x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, 3 * 365 * 24 * time.Hour, nil
	}
	return 0, nil, 0, fmt.Errorf("%w: unknown service certificate kind %q", ErrInvalidRequest, k)
}

// IssueService issues a service certificate through the same durable,
// linted path as subscriber certificates: reserved before the CA key signs,
// stored before it is returned, and listed and revocable like any other
// (profile = the kind).
func (c *CA) IssueService(ctx context.Context, req ServiceRequest) (*Certificate, error) {
	iss, err := c.Issuer(req.CA)
	if err != nil {
		return nil, err
	}
	ku, eku, maxValidity, err := serviceProfile(req.Kind)
	if err != nil {
		return nil, err
	}
	if req.Validity <= time.Hour || req.Validity > maxValidity {
		return nil, fmt.Errorf("%w: %s validity %s is outside 1 hour to %s", ErrInvalidRequest, req.Kind, req.Validity, maxValidity)
	}
	if err := CheckPublicKey(req.PublicKey); err != nil {
		return nil, err
	}
	if err := checkName("common name", req.CommonName, true); err != nil {
		return nil, err
	}
	org := req.Organization
	if org == "" && len(iss.Certificate.Subject.Organization) > 0 {
		org = iss.Certificate.Subject.Organization[0]
	}
	subjectID := string(req.Kind) + ":" + req.CommonName
	if req.Kind == ServiceRA {
		if err := checkCVR(req.CVR); err != nil {
			return nil, err
		}
		org += " // CVR:" + req.CVR
		subjectID = "CVR:" + req.CVR
	}
	name := CAName{Country: "DK", Organization: org, CommonName: req.CommonName}
	if err := name.validate(); err != nil {
		return nil, err
	}
	rawSubject, err := asn1.Marshal(name.rdns())
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
	tmpl := &x509.Certificate{
		SerialNumber: serial.Big(), RawSubject: rawSubject,
		NotBefore: now, NotAfter: now.Add(req.Validity),
		KeyUsage: keyUsageFor(ku, req.PublicKey), ExtKeyUsage: eku,
		BasicConstraintsValid: true, SubjectKeyId: ski, AuthorityKeyId: iss.Certificate.SubjectKeyId,
		SignatureAlgorithm: iss.sigAlg,
	}
	if tmpl.NotAfter.After(iss.Certificate.NotAfter) {
		return nil, fmt.Errorf("%w: issuing CA %s expires before this %s certificate would", ErrConflict, iss.Name, req.Kind)
	}
	if req.Kind == ServiceTLS {
		if err := addHosts(tmpl, req.Hosts); err != nil {
			return nil, err
		}
	}
	if err := c.serviceExtensions(iss, req.Kind, tmpl); err != nil {
		return nil, err
	}
	tbs, lintDER, err := encodeForLint(tmpl, iss.Certificate, req.PublicKey, iss.sigAlg)
	if err != nil {
		return nil, fmt.Errorf("ca: issuing %s certificate: %w", req.Kind, err)
	}
	prep := &Prepared{Serial: serial, CA: iss.Name, Profile: string(req.Kind), SubjectID: subjectID,
		NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter, Created: now, TBS: tbs}
	if err := c.lintAndReserve(ctx, prep, lintDER, req.Actor); err != nil {
		return nil, err
	}
	return c.sign(ctx, iss, prep, req.Actor)
}

func (c *CA) serviceExtensions(iss *Issuer, kind ServiceKind, tmpl *x509.Certificate) error {
	switch kind {
	case ServiceOCSP:
		// A responder certificate is not checked for revocation (RFC 6960
		// 4.2.2.2.1), so it carries neither AIA nor CRL distribution points.
		tmpl.ExtraExtensions = []pkix.Extension{{Id: oidOCSPNoCheck, Value: []byte{0x05, 0x00}}}
		return nil
	case ServiceTSA:
		// crypto/x509 writes extKeyUsage non-critical; RFC 3161 2.3 wants it
		// critical, so write it by hand.
		ekuDER, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
		if err != nil {
			return errors.New("ca: encoding extended key usage")
		}
		tmpl.ExtKeyUsage = nil
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: ekuDER})
	}
	tmpl.OCSPServer = []string{iss.urls.ocsp}
	tmpl.IssuingCertificateURL = []string{iss.urls.caIssuers}
	tmpl.CRLDistributionPoints = []string{iss.urls.fullCRL}
	return nil
}

// StatusObserver hears of every status change after it is durable: the
// OCSP responder re-signs at once, the CRL publisher schedules a run.
type StatusObserver interface {
	StatusChanged(ctx context.Context, c *Certificate)
}

// IssuanceObserver is an ability a StatusObserver may have: Issued hears
// of every certificate after it is stored and before Issue (or
// IssueService) returns it, so that the OCSP responder has its response
// signed by the time anyone learns the serial. An error is logged; the
// certificate is issued all the same.
type IssuanceObserver interface {
	Issued(ctx context.Context, c *Certificate) error
}

// Observe registers an observer. Call it before the CA serves requests.
func (c *CA) Observe(o StatusObserver) { c.observers = append(c.observers, o) }

// addHosts puts a TLS server's names into subjectAltName.
func addHosts(tmpl *x509.Certificate, hosts []string) error {
	if len(hosts) == 0 {
		return fmt.Errorf("%w: a TLS server certificate needs at least one host name or address", ErrInvalidRequest)
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return nil
}
