package main

import (
	"cmp"
	"context"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/ceremony"
	"github.com/oces-pki/oces/citizen"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/conf"
	"github.com/oces-pki/oces/server"
)

// Config is the server configuration file, oces.yaml. Relative paths are
// relative to the file's directory.
type Config struct {
	// PublicBaseURL is what goes into certificates (AIA, CRL distribution
	// points): where relying parties reach the public HTTP listener.
	PublicBaseURL string                   `yaml:"public_base_url"`
	Store         StoreConfig              `yaml:"store"`
	Registry      RegistryConfig           `yaml:"registry"`
	Issuers       []IssuerConfig           `yaml:"issuers"`
	Profiles      map[string]ProfileConfig `yaml:"profiles"`
	Public        PublicConfig             `yaml:"public"`
	Admin         AdminConfig              `yaml:"admin"`
	Limits        LimitsConfig             `yaml:"limits"`
	TSA           TSAConfig                `yaml:"tsa"`
	CRL           CRLConfig                `yaml:"crl"`
	Audit         AuditConfig              `yaml:"audit"`
	OCSP          OCSPConfig               `yaml:"ocsp"`
	Signer        SignerConfig             `yaml:"signer"`
	MatchCPR      MatchCPRConfig           `yaml:"match_cpr"` // subject.go
	Citizen       CitizenConfig            `yaml:"citizen"`
	Validation    ValidateConfig           `yaml:"validate"`
	Web           WebConfig                `yaml:"web"` // web.go
	// Only, if set, is the roles this process takes (as 'oces serve
	// --only'); see cmd/oces/roles.go.
	Only []string `yaml:"only"`

	path string
}

// PublicConfig is the plain-HTTP listener for relying parties.
type PublicConfig struct {
	Enabled *bool  `yaml:"enabled"` // default true
	Listen  string `yaml:"listen"`  // default 127.0.0.1:8080
}

// AdminConfig is the HTTPS listener of the admin API.
type AdminConfig struct {
	Enabled        *bool  `yaml:"enabled"` // default true
	Listen         string `yaml:"listen"`  // default 127.0.0.1:8443
	TLSCertificate string `yaml:"tls_certificate"`
	TLSKey         string `yaml:"tls_key"` // PKCS#11 URI
}

// LimitsConfig bounds what clients can make a listener do
// (docs/reliability.md).
type LimitsConfig struct {
	ReadTimeout            conf.Duration  `yaml:"read_timeout"`
	WriteTimeout           conf.Duration  `yaml:"write_timeout"`
	IdleTimeout            conf.Duration  `yaml:"idle_timeout"`
	MaxBodyBytes           int64          `yaml:"max_body_bytes"`
	MaxConcurrent          int            `yaml:"max_concurrent"` // per service
	MaxConcurrentByService map[string]int `yaml:"max_concurrent_by_service"`
	MaxConnections         int            `yaml:"max_connections"` // per listener
	MinBodyRate            int64          `yaml:"min_body_rate"`   // bytes a second
	BodyRateGrace          conf.Duration  `yaml:"body_rate_grace"`
	MaxBufferedBytes       int64          `yaml:"max_buffered_bytes"` // per service
}

func enabled(b *bool) bool { return b == nil || *b }

// TSAConfig is the time-stamp authority (RFC 3161, EN 319 422) on the
// public listener at POST /tsa. It is on when key and certificate are set.
type TSAConfig struct {
	Key         string        `yaml:"key"`         // PKCS#11 URI of the TSA key
	Certificate string        `yaml:"certificate"` // TSA certificate and its chain, PEM ('oces ceremony tsa')
	Policies    []string      `yaml:"policies"`    // served policy OIDs, the first the default; default 0.4.0.2023.1.1
	Accuracy    conf.Duration `yaml:"accuracy"`    // default 1s
	Qualified   bool          `yaml:"qualified"`   // add esi4-qtstStatement-1 (qualified time-stamps)
}

func (t *TSAConfig) on() bool { return t.Key != "" }

// defaultTSAPolicy is ETSI EN 319 421's best-practices time-stamp policy.
const defaultTSAPolicy = "0.4.0.2023.1.1"

// StoreConfig is the store: the embedded bbolt file (the default), or a
// shared PostgreSQL database (see cmd/oces/store.go, docs/deployment.md).
type StoreConfig struct {
	Driver string `yaml:"driver"` // bolt (default) or postgres
	Path   string `yaml:"path"`   // bolt: the database file
	// DSN is the PostgreSQL connection string, without a password: that
	// comes from PasswordFile or OCES_STORE_PASSWORD.
	DSN            string        `yaml:"dsn"`
	PasswordFile   string        `yaml:"password_file"`
	ReadDSN        string        `yaml:"read_dsn"`        // a streaming replica for the status services' scans
	MaxConns       int           `yaml:"max_conns"`       // pool size; default max(4, CPUs)
	NoMigrate      bool          `yaml:"no_migrate"`      // leave migrations to 'oces store migrate'
	FollowInterval conf.Duration `yaml:"follow_interval"` // catch-up read of the change log; default 1s
}

// RegistryConfig is the subject registry.
type RegistryConfig struct {
	// Key is the PKCS#11 URI of the HMAC key that hashes CPR numbers.
	Key string `yaml:"key"`
}

// IssuerConfig is one online issuing CA.
type IssuerConfig struct {
	Name          string   `yaml:"name"`
	Certificate   string   `yaml:"certificate"`
	Chain         []string `yaml:"chain"`
	Key           string   `yaml:"key"`
	PartitionSize int      `yaml:"partition_size"`
	// OCSPResponderKey is the PKCS#11 URI of the delegated OCSP
	// responder's key; generated on first start if absent.
	OCSPResponderKey string `yaml:"ocsp_responder_key"`
}

// ProfileConfig overrides a built-in profile; empty fields keep the default.
type ProfileConfig struct {
	Validity   conf.Duration `yaml:"validity"`
	Policies   []string      `yaml:"policies"`
	CPS        string        `yaml:"cps"`
	UserNotice string        `yaml:"user_notice"`
}

// loadConfig reads and validates oces.yaml.
func loadConfig(path string) (*Config, error) {
	cfg := &Config{path: path}
	if err := conf.Load(path, cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Validate implements conf.Validator.
func (c *Config) Validate() error {
	u, err := url.Parse(c.PublicBaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return conf.Errorf("public_base_url", "must be an absolute http(s) URL, got %q", c.PublicBaseURL)
	}
	if err := c.Store.validate(); err != nil {
		return err
	}
	if !strings.HasPrefix(c.Registry.Key, "pkcs11:") {
		return conf.Errorf("registry.key", "must be the PKCS#11 URI of the registry's HMAC key")
	}
	if len(c.Issuers) == 0 {
		return conf.Errorf("issuers", "at least one issuing CA is required")
	}
	for i, iss := range c.Issuers {
		f := fmt.Sprintf("issuers[%d]", i)
		switch {
		case iss.Name == "":
			return conf.Errorf(f+".name", "required")
		case iss.Certificate == "":
			return conf.Errorf(f+".certificate", "required")
		case !strings.HasPrefix(iss.Key, "pkcs11:"):
			return conf.Errorf(f+".key", "must be a PKCS#11 URI (pkcs11:token=…;object=…?pin-source=…)")
		case strings.Contains(iss.Key, "pin-value="):
			return conf.Errorf(f+".key", "must not contain pin-value; use pin-source or OCES_HSM_PIN")
		case iss.PartitionSize < 0:
			return conf.Errorf(f+".partition_size", "must be positive")
		}
	}
	if err := c.validateListeners(); err != nil {
		return err
	}
	if err := c.validateKeys(); err != nil { // validate.go
		return err
	}
	if err := c.validateServices(); err != nil {
		return err
	}
	if err := c.validateTSA(); err != nil {
		return err
	}
	if err := c.validateSigner(); err != nil {
		return err
	}
	if err := c.validateValidator(); err != nil {
		return err
	}
	if err := c.validateCitizen(); err != nil {
		return err
	}
	if err := c.validateWeb(); err != nil {
		return err
	}
	if c.Audit.Key != "" && (!strings.HasPrefix(c.Audit.Key, "pkcs11:") || strings.Contains(c.Audit.Key, "pin-value=")) {
		return conf.Errorf("audit.key", "must be a PKCS#11 URI with pin-source (or OCES_HSM_PIN)")
	}
	defaults := ca.DefaultProfiles()
	for name, p := range c.Profiles {
		if _, ok := defaults[name]; !ok {
			return conf.Errorf("profiles."+name, "no such profile (known: %s)", strings.Join(ca.ProfileNames(defaults), ", "))
		}
		for j, oid := range p.Policies {
			if _, err := parseOID(oid); err != nil {
				return conf.Errorf(fmt.Sprintf("profiles.%s.policies[%d]", name, j), "%v", err)
			}
		}
	}
	return nil
}

func (c *Config) validateListeners() error {
	if c.Public.Listen == "" {
		c.Public.Listen = "127.0.0.1:8080"
	}
	if c.Admin.Listen == "" {
		c.Admin.Listen = "127.0.0.1:8443"
	}
	for f, addr := range map[string]string{"public.listen": c.Public.Listen, "admin.listen": c.Admin.Listen} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return conf.Errorf(f, "must be host:port, got %q", addr)
		}
	}
	if enabled(c.Admin.Enabled) && (c.Admin.TLSCertificate == "" || !strings.HasPrefix(c.Admin.TLSKey, "pkcs11:")) {
		return conf.Errorf("admin", "tls_certificate and tls_key (a PKCS#11 URI) are required; make them with 'oces ceremony tls'")
	}
	switch {
	case c.Limits.ReadTimeout.D() < 0, c.Limits.WriteTimeout.D() < 0, c.Limits.IdleTimeout.D() < 0:
		return conf.Errorf("limits", "timeouts must not be negative")
	case c.Limits.MaxBodyBytes < 0 || c.Limits.MaxBodyBytes > 64<<20:
		return conf.Errorf("limits.max_body_bytes", "must be between 0 (default 1 MiB) and 64 MiB")
	case c.Limits.MaxConcurrent < 0:
		return conf.Errorf("limits.max_concurrent", "must not be negative")
	case c.Limits.MaxConnections < 0:
		return conf.Errorf("limits.max_connections", "must not be negative (0: a quarter of the open-file limit, at most 4096)")
	case c.Limits.MinBodyRate < 0:
		return conf.Errorf("limits.min_body_rate", "must not be negative (0: 1024 bytes a second)")
	case c.Limits.BodyRateGrace.D() < 0:
		return conf.Errorf("limits.body_rate_grace", "must not be negative")
	case c.Limits.MaxBufferedBytes < 0:
		return conf.Errorf("limits.max_buffered_bytes", "must not be negative (0: 32 MiB or four max_body_bytes)")
	case c.Limits.MaxBufferedBytes > 0 && c.Limits.MaxBufferedBytes < cmp.Or(c.Limits.MaxBodyBytes, 1<<20):
		return conf.Errorf("limits.max_buffered_bytes", "must be at least limits.max_body_bytes (default 1 MiB), or no body of the largest size is ever read")
	}
	for name, n := range c.Limits.MaxConcurrentByService {
		if !slices.Contains(server.ServiceNames(), name) {
			return conf.Errorf("limits.max_concurrent_by_service."+name, "no such service (known: %s)", strings.Join(server.ServiceNames(), ", "))
		}
		if n < 1 {
			return conf.Errorf("limits.max_concurrent_by_service."+name, "must be at least 1")
		}
	}
	return nil
}

func (c *Config) validateTSA() error {
	t := &c.TSA
	if !t.on() {
		return nil
	}
	if !strings.HasPrefix(t.Key, "pkcs11:") || strings.Contains(t.Key, "pin-value=") {
		return conf.Errorf("tsa.key", "must be a PKCS#11 URI with pin-source (or OCES_HSM_PIN)")
	}
	if t.Certificate == "" {
		return conf.Errorf("tsa.certificate", "required with tsa.key; make it with 'oces ceremony tsa'")
	}
	if len(t.Policies) == 0 {
		t.Policies = []string{defaultTSAPolicy}
	}
	for i, p := range t.Policies {
		if _, err := parseOID(p); err != nil {
			return conf.Errorf(fmt.Sprintf("tsa.policies[%d]", i), "%v", err)
		}
	}
	if t.Accuracy.D() < 0 || t.Accuracy.D() > time.Minute {
		return conf.Errorf("tsa.accuracy", "must be between 0 (default 1s) and 1m")
	}
	return nil
}

// profiles applies the overrides to the built-in profiles.
func (c *Config) profiles() (map[string]*ca.Profile, error) {
	ps := ca.DefaultProfiles()
	for name, o := range c.Profiles {
		p := ps[name]
		if o.Validity != 0 {
			p.Validity = o.Validity.D()
		}
		if len(o.Policies) > 0 {
			p.Policies = nil
			for _, s := range o.Policies {
				oid, _ := parseOID(s) // checked in Validate
				p.Policies = append(p.Policies, oid)
			}
		}
		p.CPS, p.UserNotice = o.CPS, o.UserNotice
		if err := p.Validate(); err != nil {
			return nil, conf.Errorf("profiles."+name, "%v", err)
		}
	}
	return ps, nil
}

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, fmt.Errorf("%q is not a dotted OID", s)
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q is not a dotted OID", s)
		}
		oid[i] = n
	}
	return oid, nil
}

// app is the wired CA with what must be closed after it.
type app struct {
	ca    *ca.CA
	store appStore
	hsm   *hsm.HSM
	// background holds the services' loops (CRL publisher, audit
	// checkpointer); Close waits for them before closing the store.
	background sync.WaitGroup
	// citizenSign is the citizens' signing (signer, one-time key pool),
	// built once and shared by the CSC API's and the web pages' citizen
	// services.
	citizenSign *citizen.Signing
}

// Close waits for the background loops (their context must be done), then
// closes the store and the HSM.
func (a *app) Close() error {
	a.background.Wait()
	return errors.Join(a.store.Close(), a.hsm.Close())
}

// registryHasher computes the registry's keyed hashes with the HSM key.
type registryHasher struct {
	hsm *hsm.HSM
	uri string
}

func (r registryHasher) MAC(ctx context.Context, data []byte) ([]byte, error) {
	return r.hsm.MAC(ctx, r.uri, data)
}

// openApp opens the store and the HSM keys and builds the CA.
func openApp(ctx context.Context, cfg *Config, logger *slog.Logger) (_ *app, err error) {
	profiles, err := cfg.profiles()
	if err != nil {
		return nil, err
	}
	db, err := openStore(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	a := &app{store: db, hsm: hsm.New(logger)}
	defer func() {
		if err != nil {
			_ = a.Close()
		}
	}()
	var issuers []*ca.Issuer
	for i, ic := range cfg.Issuers {
		iss, err := a.issuer(ctx, cfg, ic)
		if err != nil {
			return nil, fmt.Errorf("issuers[%d] (%s): %w", i, ic.Name, err)
		}
		issuers = append(issuers, iss)
	}
	qualified, err := cfg.qualifiedProfile()
	if err != nil {
		return nil, err
	}
	a.ca, err = ca.New(ctx, ca.Config{
		Issuers: issuers, Profiles: profiles, Qualified: qualified, BaseURL: cfg.PublicBaseURL,
		Certificates: db, Registry: db, Hasher: registryHasher{a.hsm, cfg.Registry.Key}, Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	if err := a.checkStart(ctx, cfg); err != nil { // validate.go: fail fast
		return nil, err
	}
	return a, nil
}

func (a *app) issuer(ctx context.Context, cfg *Config, ic IssuerConfig) (*ca.Issuer, error) {
	cert, err := ceremony.ReadCertificate(conf.Resolve(cfg.path, ic.Certificate))
	if err != nil {
		return nil, fmt.Errorf("reading certificate: %w", err)
	}
	var chain []*x509.Certificate
	for _, p := range ic.Chain {
		cs, err := ceremony.ReadCertificates(conf.Resolve(cfg.path, p))
		if err != nil {
			return nil, fmt.Errorf("reading chain: %w", err)
		}
		chain = append(chain, cs...)
	}
	signer, err := a.hsm.Signer(ctx, ic.Key)
	if err != nil {
		return nil, fmt.Errorf("opening key: %w", err)
	}
	return &ca.Issuer{Name: ic.Name, Certificate: cert, Chain: chain, Signer: signer, PartitionSize: ic.PartitionSize}, nil
}

// newLogger is the process's structured logger, to standard error.
func newLogger() *slog.Logger {
	level := slog.LevelInfo
	if os.Getenv("OCES_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
