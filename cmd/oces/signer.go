package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/oces-pki/oces/api"
	"github.com/oces-pki/oces/ceremony"
	"github.com/oces-pki/oces/internal/conf"
	"github.com/oces-pki/oces/revocation"
	"github.com/oces-pki/oces/signer"
)

// SignerConfig is the signing service (POST /api/v1/sign on the admin
// listener). It is on when seals are configured.
type SignerConfig struct {
	Enabled *bool `yaml:"enabled"` // default: on when seals are set
	// TSAURL is the RFC 3161 authority for B-T and higher; default
	// <public_base_url>/tsa when this server runs the TSA.
	TSAURL string `yaml:"tsa_url"`
	// Trust lists PEM files of the anchors that time-stamp tokens must
	// chain to; default the roots of the configured issuers.
	Trust []string `yaml:"trust"`
	// MaxDocumentBytes bounds a document sent to POST /api/v1/sign;
	// default 32 MiB, at most 512 MiB.
	MaxDocumentBytes int64        `yaml:"max_document_bytes"`
	Seals            []SealConfig `yaml:"seals"`
}

// SealConfig is one organisation seal: a key in the HSM, its certificate
// chain, and the service providers allowed to use it.
type SealConfig struct {
	Name        string `yaml:"name"`
	Key         string `yaml:"key"`         // PKCS#11 URI
	Certificate string `yaml:"certificate"` // the seal's certificate and its chain, PEM
	Level       string `yaml:"level"`       // default level: B-B, B-T, B-LT or B-LTA (default B-LTA)
	// Clients are the service providers allowed: "sha256:<hex>" of a
	// client certificate, or its subject serialNumber ("CVR:…-UID:…").
	Clients []string `yaml:"clients"`
}

func (s *SignerConfig) on() bool {
	return len(s.Seals) > 0 && enabled(s.Enabled)
}

func (c *Config) validateSigner() error {
	s := &c.Signer
	if s.MaxDocumentBytes == 0 {
		s.MaxDocumentBytes = 32 << 20
	}
	if s.MaxDocumentBytes < 0 || s.MaxDocumentBytes > 512<<20 {
		return conf.Errorf("signer.max_document_bytes", "must be between 1 and 512 MiB")
	}
	if s.TSAURL != "" && !strings.HasPrefix(s.TSAURL, "http://") && !strings.HasPrefix(s.TSAURL, "https://") {
		return conf.Errorf("signer.tsa_url", "must be an http(s) URL, got %q", s.TSAURL)
	}
	names := map[string]bool{}
	for i, seal := range s.Seals {
		f := fmt.Sprintf("signer.seals[%d]", i)
		switch {
		case seal.Name == "" || strings.ContainsAny(seal.Name, " /?&#"):
			return conf.Errorf(f+".name", "required: a short name without spaces, slashes or query characters")
		case names[seal.Name]:
			return conf.Errorf(f+".name", "%q is used twice", seal.Name)
		case !strings.HasPrefix(seal.Key, "pkcs11:") || strings.Contains(seal.Key, "pin-value="):
			return conf.Errorf(f+".key", "must be a PKCS#11 URI with pin-source (or OCES_HSM_PIN)")
		case seal.Certificate == "":
			return conf.Errorf(f+".certificate", "required: the seal's certificate chain, PEM")
		case len(seal.Clients) == 0:
			return conf.Errorf(f+".clients", "name at least one service provider (sha256:<fingerprint> or the certificate's serialNumber)")
		}
		if seal.Level != "" {
			if _, err := signer.ParseLevel(seal.Level); err != nil {
				return conf.Errorf(f+".level", "%v", err)
			}
		}
		names[seal.Name] = true
	}
	if s.on() && s.TSAURL == "" && !c.TSA.on() {
		return conf.Errorf("signer.tsa_url", "required when this server does not run the TSA (tsa.key)")
	}
	return nil
}

// tsaURL is where the signing service gets its time-stamps.
func (c *Config) tsaURL() string {
	if c.Signer.TSAURL != "" {
		return c.Signer.TSAURL
	}
	if c.TSA.on() {
		return strings.TrimSuffix(c.PublicBaseURL, "/") + "/tsa"
	}
	return ""
}

// trustAnchors are the signing service's trust anchors: signer.trust, or
// the self-signed certificates of the issuers' chains.
func (c *Config) trustAnchors() (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for i, f := range c.Signer.Trust {
		certs, err := ceremony.ReadCertificates(conf.Resolve(c.path, f))
		if err != nil {
			return nil, conf.Errorf(fmt.Sprintf("signer.trust[%d]", i), "%v", err)
		}
		for _, cert := range certs {
			pool.AddCert(cert)
			n++
		}
	}
	if n > 0 {
		return pool, nil
	}
	for i, iss := range c.Issuers {
		for j, f := range iss.Chain {
			certs, err := ceremony.ReadCertificates(conf.Resolve(c.path, f))
			if err != nil {
				return nil, conf.Errorf(fmt.Sprintf("issuers[%d].chain[%d]", i, j), "%v", err)
			}
			for _, cert := range certs {
				if revocation.SelfSigned(cert) {
					pool.AddCert(cert)
					n++
				}
			}
		}
	}
	if n == 0 {
		return nil, conf.Errorf("signer.trust", "no trust anchor: list the root certificates (PEM)")
	}
	return pool, nil
}

// newSigner builds the signing service and its seals.
func (a *app) newSigner(ctx context.Context, cfg *Config) (*signer.Service, map[string]*api.SealAccess, error) {
	roots, err := cfg.trustAnchors()
	if err != nil {
		return nil, nil, err
	}
	fetcher := revocation.New(revocation.Config{MaxAge: 10 * time.Second, Logger: newLogger()})
	svc, err := signer.New(signer.Config{
		TSA:        &signer.TSAClient{URL: cfg.tsaURL(), Roots: roots, Revocation: fetcher},
		Revocation: fetcher, Audit: a.store, Logger: newLogger(), MaxDocumentBytes: cfg.Signer.MaxDocumentBytes,
	})
	if err != nil {
		return nil, nil, err
	}
	seals := map[string]*api.SealAccess{}
	for i, sc := range cfg.Signer.Seals {
		f := fmt.Sprintf("signer.seals[%d]", i)
		chain, err := ceremony.ReadCertificates(conf.Resolve(cfg.path, sc.Certificate))
		if err != nil {
			return nil, nil, conf.Errorf(f+".certificate", "%v", err)
		}
		key, err := a.hsm.Signer(ctx, sc.Key)
		if err != nil {
			return nil, nil, fmt.Errorf("opening %s.key: %w", f, err)
		}
		level, _ := signer.ParseLevel(sc.Level)
		if sc.Level == "" {
			level, _ = signer.ParseLevel("B-LTA")
		}
		seals[sc.Name] = &api.SealAccess{Seal: &signer.Seal{Name: sc.Name, Key: key, Chain: chain}, Clients: sc.Clients, Level: level}
	}
	return svc, seals, nil
}
