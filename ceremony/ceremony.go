// Package ceremony runs the key ceremonies of the CA hierarchy: the offline
// root (RSA-4096 or P-384) and the online issuing CAs it signs (RSA-3072 by
// default, P-256 or P-384). Each ceremony is driven by one YAML file; keys
// are generated inside the HSM and never leave it; the certificates are
// linted before the key signs them (see ca.CreateCACertificate) and written
// as PEM, and the SHA-256 fingerprints are returned for the ceremony record.
package ceremony

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/internal/conf"
)

// Keys is what a ceremony needs from the HSM.
type Keys interface {
	// GenerateKey creates a non-extractable key pair in the token; it fails
	// if the URI's object exists already.
	GenerateKey(ctx context.Context, uri, algorithm string) (crypto.Signer, error)
	// Signer opens an existing key.
	Signer(ctx context.Context, uri string) (crypto.Signer, error)
}

// KeyConfig names a key in the HSM and the algorithm to generate it with.
type KeyConfig struct {
	URI       string `yaml:"uri"`
	Algorithm string `yaml:"algorithm"`
}

// SubjectConfig is a CA's distinguished name.
type SubjectConfig struct {
	Country            string `yaml:"country"`
	Organization       string `yaml:"organization"`
	OrganizationalUnit string `yaml:"organizational_unit"`
	CommonName         string `yaml:"common_name"`
}

func (s SubjectConfig) name() ca.CAName {
	return ca.CAName{Country: s.Country, Organization: s.Organization,
		OrganizationalUnit: s.OrganizationalUnit, CommonName: s.CommonName}
}

func (s SubjectConfig) validate(field string) error {
	switch {
	case s.Country == "":
		return conf.Errorf(field+".country", "required (e.g. DK)")
	case s.Organization == "":
		return conf.Errorf(field+".organization", "required")
	case s.CommonName == "":
		return conf.Errorf(field+".common_name", "required")
	}
	return nil
}

func validateURI(field, uri string) error {
	if !strings.HasPrefix(uri, "pkcs11:") {
		return conf.Errorf(field, "must be an RFC 7512 PKCS#11 URI (pkcs11:token=…;object=…?pin-source=…), got %q", uri)
	}
	if strings.Contains(uri, "pin-value=") {
		return conf.Errorf(field, "must not contain pin-value; use pin-source=<file> or the OCES_HSM_PIN environment variable")
	}
	return nil
}

func validateKey(field string, k KeyConfig, algorithms ...string) error {
	if err := validateURI(field+".uri", k.URI); err != nil {
		return err
	}
	for _, a := range algorithms {
		if k.Algorithm == a {
			return nil
		}
	}
	return conf.Errorf(field+".algorithm", "%q is not allowed here; use one of %s", k.Algorithm, strings.Join(algorithms, ", "))
}

// RootConfig is the ceremony file of `oces ceremony root`.
type RootConfig struct {
	Key         KeyConfig     `yaml:"key"`
	Subject     SubjectConfig `yaml:"subject"`
	Validity    conf.Duration `yaml:"validity"`
	Certificate string        `yaml:"certificate"` // where to write the PEM
}

// Validate implements conf.Validator.
func (c *RootConfig) Validate() error {
	if err := validateKey("key", c.Key, "rsa-4096", "p-384"); err != nil {
		return err
	}
	if err := c.Subject.validate("subject"); err != nil {
		return err
	}
	if c.Validity.D() < 365*24*time.Hour || c.Validity.D() > 30*365*24*time.Hour {
		return conf.Errorf("validity", "a root lives 1 to 30 years, got %s", c.Validity.D())
	}
	if c.Certificate == "" {
		return conf.Errorf("certificate", "required: the path to write the root certificate to")
	}
	return nil
}

// IssuingConfig is the ceremony file of `oces ceremony issuing`.
type IssuingConfig struct {
	// Name is the issuing CA's short name, used in its URLs.
	Name    string        `yaml:"name"`
	Key     KeyConfig     `yaml:"key"`
	Parent  ParentConfig  `yaml:"parent"`
	Subject SubjectConfig `yaml:"subject"`
	// Validity of the issuing CA certificate.
	Validity      conf.Duration `yaml:"validity"`
	PublicBaseURL string        `yaml:"public_base_url"`
	Certificate   string        `yaml:"certificate"`
}

// ParentConfig names the CA that signs in a ceremony.
type ParentConfig struct {
	Name        string `yaml:"name"` // its short name in URLs, e.g. "root"
	Certificate string `yaml:"certificate"`
	Key         string `yaml:"key"` // PKCS#11 URI of its key
}

// Validate implements conf.Validator.
func (c *IssuingConfig) Validate() error {
	if c.Name == "" {
		return conf.Errorf("name", "required: the issuing CA's short name, e.g. issuing-1")
	}
	if err := validateKey("key", c.Key, "rsa-3072", "rsa-4096", "p-256", "p-384"); err != nil {
		return err
	}
	if c.Parent.Name == "" || c.Parent.Certificate == "" {
		return conf.Errorf("parent", "name and certificate are required")
	}
	if err := validateURI("parent.key", c.Parent.Key); err != nil {
		return err
	}
	if err := c.Subject.validate("subject"); err != nil {
		return err
	}
	if c.Validity.D() < 30*24*time.Hour || c.Validity.D() > 20*365*24*time.Hour {
		return conf.Errorf("validity", "an issuing CA lives 30 days to 20 years, got %s", c.Validity.D())
	}
	if !strings.HasPrefix(c.PublicBaseURL, "http://") && !strings.HasPrefix(c.PublicBaseURL, "https://") {
		return conf.Errorf("public_base_url", "must be an http(s) URL, got %q", c.PublicBaseURL)
	}
	if c.Certificate == "" {
		return conf.Errorf("certificate", "required: the path to write the issuing CA certificate to")
	}
	return nil
}

// Result is what a ceremony made, for the record.
type Result struct {
	Certificate *x509.Certificate `json:"-"`
	Path        string            `json:"certificate"`
	KeyURI      string            `json:"key"`
	Subject     string            `json:"subject"`
	SHA256      string            `json:"sha256_fingerprint"`
	NotAfter    time.Time         `json:"not_after"`
}

// Root makes the root CA: a new key in the HSM and a self-signed certificate.
func Root(ctx context.Context, cfg *RootConfig, keys Keys, now time.Time) (*Result, error) {
	if err := refuseExisting(cfg.Certificate); err != nil {
		return nil, err
	}
	signer, err := keys.GenerateKey(ctx, cfg.Key.URI, cfg.Key.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("ceremony: generating root key: %w", err)
	}
	cert, err := ca.CreateCACertificate(ca.CACertRequest{
		Subject: cfg.Subject.name(), PublicKey: signer.Public(), IssuerSigner: signer,
		NotBefore: now, Validity: cfg.Validity.D(),
	})
	if err != nil {
		return nil, fmt.Errorf("ceremony: root certificate: %w", err)
	}
	return write(cfg.Certificate, cfg.Key.URI, cert)
}

// Issuing makes an issuing CA: a new key in the HSM and a certificate signed
// by the parent's key.
func Issuing(ctx context.Context, cfg *IssuingConfig, keys Keys, now time.Time) (*Result, error) {
	if err := refuseExisting(cfg.Certificate); err != nil {
		return nil, err
	}
	parent, err := ReadCertificate(cfg.Parent.Certificate)
	if err != nil {
		return nil, fmt.Errorf("ceremony: parent certificate: %w", err)
	}
	parentKey, err := keys.Signer(ctx, cfg.Parent.Key)
	if err != nil {
		return nil, fmt.Errorf("ceremony: opening parent key: %w", err)
	}
	if pub, ok := parentKey.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(parent.PublicKey) {
		return nil, errors.New("ceremony: parent.key does not match parent.certificate")
	}
	signer, err := keys.GenerateKey(ctx, cfg.Key.URI, cfg.Key.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("ceremony: generating issuing key: %w", err)
	}
	cert, err := ca.CreateCACertificate(ca.CACertRequest{
		Subject: cfg.Subject.name(), PublicKey: signer.Public(),
		Issuer: parent, IssuerSigner: parentKey, IssuerName: cfg.Parent.Name,
		BaseURL: cfg.PublicBaseURL, NotBefore: now, Validity: cfg.Validity.D(),
	})
	if err != nil {
		return nil, fmt.Errorf("ceremony: issuing CA certificate: %w", err)
	}
	return write(cfg.Certificate, cfg.Key.URI, cert)
}

func refuseExisting(path string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("ceremony: %s exists; a ceremony never overwrites a certificate (move it away to redo the ceremony)", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("ceremony: checking %s: %w", path, err)
	}
	return nil
}

func write(path, keyURI string, cert *x509.Certificate) (*Result, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("ceremony: creating directory for %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("ceremony: writing certificate: %w", err)
	}
	err = pem.Encode(f, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("ceremony: writing %s: %w", path, err)
	}
	return &Result{Certificate: cert, Path: path, KeyURI: redactPIN(keyURI), Subject: cert.Subject.String(),
		SHA256: Fingerprint(cert), NotAfter: cert.NotAfter}, nil
}

// Fingerprint is the SHA-256 of the certificate as colon-separated hex, the
// form openssl prints.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// redactPIN drops the query (pin-source) from a key URI for printing.
func redactPIN(uri string) string {
	u, _, _ := strings.Cut(uri, "?")
	return u
}

// ReadCertificate reads one PEM certificate.
func ReadCertificate(path string) (*x509.Certificate, error) {
	certs, err := ReadCertificates(path)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// ReadCertificates reads every PEM certificate in a file.
func ReadCertificates(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", path, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return certs, nil
}
