package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ceremony"
	"github.com/oces-pki/oces/internal/conf"
	"github.com/oces-pki/oces/ocsp"
)

// Fail fast: everything the configuration names is checked when the file
// is loaded (the settings) or when the server starts (the keys and files),
// with a message that names the YAML field and exit code 2, so that
// 'oces serve' never says ready and then fails its first request.

// keyFields are every PKCS#11 URI the configuration names, by field.
func (c *Config) keyFields() [][2]string {
	keys := [][2]string{{"registry.key", c.Registry.Key}, {"admin.tls_key", c.Admin.TLSKey},
		{"audit.key", c.Audit.Key}, {"tsa.key", c.TSA.Key}}
	for i, iss := range c.Issuers {
		keys = append(keys, [2]string{fmt.Sprintf("issuers[%d].key", i), iss.Key},
			[2]string{fmt.Sprintf("issuers[%d].ocsp_responder_key", i), iss.OCSPResponderKey})
	}
	for i, s := range c.Signer.Seals {
		keys = append(keys, [2]string{fmt.Sprintf("signer.seals[%d].key", i), s.Key})
	}
	return keys
}

// validateKeys refuses a PIN written into any key's URI (RFC 7512
// pin-value, in the path or the query, any case): PINs come from
// pin-source or OCES_HSM_PIN, never from the configuration file.
func (c *Config) validateKeys() error {
	for _, k := range c.keyFields() {
		if k[1] == "" {
			continue
		}
		if !strings.HasPrefix(k[1], "pkcs11:") {
			return conf.Errorf(k[0], "must be a PKCS#11 URI (pkcs11:token=…;object=…?pin-source=…)")
		}
		if strings.Contains(strings.ToLower(k[1]), "pin-value") {
			return conf.Errorf(k[0], "must not contain pin-value; use pin-source=<file> or OCES_HSM_PIN")
		}
	}
	return nil
}

// maxOCSPResponseValidity bounds ocsp.response_validity: a relying party
// may cache a response that long after its certificate is revoked.
const maxOCSPResponseValidity = 7 * 24 * time.Hour

// validateServices checks the OCSP, CRL and audit settings (the TSA's and
// the signer's have their own).
func (c *Config) validateServices() error {
	o := c.OCSP
	switch {
	case o.ResponseValidity.D() < 0 || (o.ResponseValidity.D() > 0 && o.ResponseValidity.D() < time.Minute) ||
		o.ResponseValidity.D() > maxOCSPResponseValidity:
		return conf.Errorf("ocsp.response_validity", "must be between 1m and 7d (0: 24h)")
	case o.ResponderValidity.D() < 0 || (o.ResponderValidity.D() > 0 && o.ResponderValidity.D() < time.Hour):
		return conf.Errorf("ocsp.responder_validity", "must be at least 1h (0: 4d)")
	case 2*cmp.Or(o.ResponseValidity.D(), ocsp.DefaultResponseValidity) > cmp.Or(o.ResponderValidity.D(), ocsp.DefaultResponderValidity):
		return conf.Errorf("ocsp.response_validity", "must be at most half of ocsp.responder_validity (%s): the responder certificate is renewed at half its life and no response may outlive it",
			cmp.Or(o.ResponderValidity.D(), ocsp.DefaultResponderValidity))
	}
	r := c.CRL
	validity := r.Validity.D()
	if validity == 0 {
		validity = 12 * time.Hour
	}
	switch {
	case r.Validity.D() < 0 || (r.Validity.D() > 0 && r.Validity.D() < time.Minute):
		return conf.Errorf("crl.validity", "must be at least 1m (0: 12h)")
	case r.Interval.D() < 0 || r.Interval.D() >= validity:
		return conf.Errorf("crl.interval", "must be shorter than crl.validity (%s), or relying parties hold expired CRLs (0: half the validity)", validity)
	case r.MinGap.D() < 0 || r.MinGap.D() >= validity:
		return conf.Errorf("crl.min_gap", "must be between 0 (1m) and crl.validity (%s)", validity)
	}
	for name := range r.ARLs {
		if name == "" || strings.ContainsAny(name, "/?#. ") {
			return conf.Errorf("crl.arls."+name, "must be a CA name as in its URL (/crl/<name>.crl), without '/', '.', '?', '#' or spaces")
		}
	}
	if err := c.MatchCPR.validate(); err != nil {
		return err
	}
	if err := c.validateAnchor(); err != nil { // anchor.go
		return err
	}
	a := c.Audit
	switch {
	case a.Every > audit.MaxCheckpointLag:
		return conf.Errorf("audit.checkpoint_every", "must be at most %d records", audit.MaxCheckpointLag)
	case a.Interval.D() < 0:
		return conf.Errorf("audit.checkpoint_interval", "must not be negative (0: 1m)")
	case a.Key == "" && (a.Every != 0 || a.Interval.D() != 0):
		return conf.Errorf("audit.key", "required with audit.checkpoint_every or audit.checkpoint_interval: checkpoints are signed by the audit key")
	}
	return nil
}

// startError is a key or file the configuration names that cannot be
// used at start: a configuration error (exit code 2) naming the field.
func (c *Config) startError(field string, err error) error {
	return &conf.Error{Path: c.path, Err: conf.Errorf(field, "%v", err)}
}

// checkStart uses the key that every command opening the CA needs but
// would otherwise touch only on first use: the registry key (the first
// enrolment with a CPR number).
func (a *app) checkStart(ctx context.Context, cfg *Config) error {
	if _, err := a.hsm.MAC(ctx, cfg.Registry.Key, []byte("oces: start-up check of the registry key")); err != nil {
		return cfg.startError("registry.key", fmt.Errorf("cannot be used: %w; make it with 'oces ceremony registry-key --key URI'", err))
	}
	return nil
}

// checkFiles reads the files that the services read at start, so that a
// missing one is named by its field.
func (a *app) checkFiles(cfg *Config) error {
	for name, file := range cfg.CRL.ARLs {
		if _, err := os.Stat(conf.Resolve(cfg.path, file)); err != nil {
			return cfg.startError("crl.arls."+name, fmt.Errorf("%w (make it with 'oces crl generate --ca %s')", err, name))
		}
	}
	if cfg.TSA.on() {
		if _, err := ceremony.ReadCertificates(conf.Resolve(cfg.path, cfg.TSA.Certificate)); err != nil {
			return cfg.startError("tsa.certificate", err)
		}
	}
	if enabled(cfg.Admin.Enabled) {
		if _, err := ceremony.ReadCertificates(conf.Resolve(cfg.path, cfg.Admin.TLSCertificate)); err != nil {
			return cfg.startError("admin.tls_certificate", fmt.Errorf("%w; make it with 'oces ceremony tls'", err))
		}
	}
	return nil
}

// checkKeys opens every existing key and reads every file the
// configuration names for the services that are on, before any listener
// starts, and names the field of the first that fails.
func (a *app) checkKeys(ctx context.Context, cfg *Config) error {
	if err := a.checkFiles(cfg); err != nil {
		return err
	}
	if enabled(cfg.OCSP.Enabled) {
		for i, iss := range cfg.Issuers {
			if iss.OCSPResponderKey == "" {
				return cfg.startError(fmt.Sprintf("issuers[%d].ocsp_responder_key", i), errors.New("required while the OCSP responder is on (or set ocsp.enabled: false)"))
			}
		}
	}
	keys := [][2]string{}
	if enabled(cfg.Admin.Enabled) {
		keys = append(keys, [2]string{"admin.tls_key", cfg.Admin.TLSKey})
	}
	keys = append(keys, [2]string{"audit.key", cfg.Audit.Key})
	if enabled(cfg.Public.Enabled) {
		keys = append(keys, [2]string{"tsa.key", cfg.TSA.Key})
	}
	if cfg.Signer.on() && enabled(cfg.Admin.Enabled) {
		for i, s := range cfg.Signer.Seals {
			keys = append(keys, [2]string{fmt.Sprintf("signer.seals[%d].key", i), s.Key})
		}
	}
	for _, k := range keys {
		if k[1] == "" {
			continue
		}
		if _, err := a.hsm.Signer(ctx, k[1]); err != nil {
			return cfg.startError(k[0], fmt.Errorf("cannot be opened: %w", err))
		}
	}
	return nil
}
