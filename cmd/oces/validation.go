package main

import (
	"crypto/x509"
	"fmt"
	"time"

	"github.com/oces-pki/oces/ceremony"
	"github.com/oces-pki/oces/internal/conf"
	"github.com/oces-pki/oces/revocation"
	"github.com/oces-pki/oces/validate"
)

// ValidateConfig is the validation service (POST /api/v1/validate on the
// public listener, and the trust anchors of `oces verify`).
type ValidateConfig struct {
	Enabled *bool `yaml:"enabled"` // default true
	// Trust lists PEM files of extra trust anchors, on top of the roots of
	// the configured issuers.
	Trust []string `yaml:"trust"`
	// MaxDocumentBytes bounds a document; default 32 MiB, at most 512 MiB.
	MaxDocumentBytes int64 `yaml:"max_document_bytes"`
	// RatePerSecond and Burst bound each client address; defaults 2 and 10.
	RatePerSecond float64 `yaml:"rate_per_second"`
	Burst         int     `yaml:"burst"`
	// Offline stops live OCSP, CRL and caIssuers requests: documents must
	// carry their revocation data.
	Offline bool `yaml:"offline"`
}

func (v *ValidateConfig) on() bool { return enabled(v.Enabled) }

func (c *Config) validateValidator() error {
	v := &c.Validation
	if v.MaxDocumentBytes == 0 {
		v.MaxDocumentBytes = 32 << 20
	}
	switch {
	case v.MaxDocumentBytes < 0 || v.MaxDocumentBytes > 512<<20:
		return conf.Errorf("validate.max_document_bytes", "must be between 1 and 512 MiB")
	case v.RatePerSecond < 0:
		return conf.Errorf("validate.rate_per_second", "must be positive")
	case v.Burst < 0:
		return conf.Errorf("validate.burst", "must be positive")
	}
	return nil
}

// validatorAnchors are the roots of the configured issuers' chains and the
// certificates of validate.trust.
func (c *Config) validatorAnchors() ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for i, iss := range c.Issuers {
		for j, f := range iss.Chain {
			certs, err := ceremony.ReadCertificates(conf.Resolve(c.path, f))
			if err != nil {
				return nil, conf.Errorf(fmt.Sprintf("issuers[%d].chain[%d]", i, j), "%v", err)
			}
			for _, cert := range certs {
				if revocation.SelfSigned(cert) {
					out = append(out, cert)
				}
			}
		}
	}
	extra, err := readAnchors("validate.trust", c.path, c.Validation.Trust)
	if err != nil {
		return nil, err
	}
	return append(out, extra...), nil
}

// readAnchors reads PEM files of trust anchors; field names them in errors.
func readAnchors(field, base string, files []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for i, f := range files {
		certs, err := ceremony.ReadCertificates(conf.Resolve(base, f))
		if err != nil {
			return nil, conf.Errorf(fmt.Sprintf("%s[%d]", field, i), "%v", err)
		}
		out = append(out, certs...)
	}
	return out, nil
}

// newValidator builds a validation service over anchors; fetchIssuers
// is for the CLI only (the server does not follow URLs of untrusted
// certificates).
func newValidator(anchors []*x509.Certificate, maxDoc int64, offline, fetchIssuers bool) (*validate.Validator, error) {
	if len(anchors) == 0 {
		return nil, usagef("no trust anchors: give --trust FILE.pem or a configuration with issuers")
	}
	cfg := validate.Config{TrustAnchors: anchors, MaxDocumentBytes: maxDoc, Logger: newLogger(), FetchIssuers: fetchIssuers && !offline}
	if !offline {
		cfg.Revocation = revocation.New(revocation.Config{MaxAge: time.Minute, Timeout: 10 * time.Second})
	}
	return validate.New(cfg)
}
