// Package ca is the domain of the OCES certification authority: the issuing
// CAs, the certificate profiles of the OCES2 and OCES3 schemes, the subject
// registry, issuance from PKCS#10 requests with proof of possession, and the
// certificate life cycle (suspension, release, revocation; RFC 5280 section
// 5.3.1). It knows nothing of HTTP, SQL or PKCS#11: keys are crypto.Signers
// and persistence is the CertificateStore and RegistryStore defined here.
package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oces-pki/oces/audit"
)

// Issuer is one online issuing CA.
type Issuer struct {
	// Name is the CA's short name, used in URLs (/ca/<name>.cer, /crl/<name>.crl).
	Name        string
	Certificate *x509.Certificate
	// Chain holds the certificates above Certificate, up to the root.
	Chain  []*x509.Certificate
	Signer crypto.Signer
	// PartitionSize is how many certificates share one CRL partition.
	PartitionSize int

	sigAlg  x509.SignatureAlgorithm
	subject pkix.RDNSequence
	// seq hands out sequence numbers, which place certificates in CRL
	// partitions, from blocks drawn from a durable counter of the store;
	// see nextSequence.
	seqMu           sync.Mutex
	seqNext, seqEnd uint64
	urls            issuerURLs
}

type issuerURLs struct {
	ocsp, caIssuers, fullCRL string
	partitionCRL             func(n int) string
}

// Hasher computes a keyed hash inside the HSM; the registry stores CPR
// numbers only as such hashes.
type Hasher interface {
	MAC(ctx context.Context, data []byte) ([]byte, error)
}

// Config wires a CA.
type Config struct {
	Issuers  []*Issuer
	Profiles map[string]*Profile // DefaultProfiles() when nil
	// Qualified is the qualified-signing profile; DefaultQualifiedProfile(BaseURL) when nil.
	Qualified *QualifiedProfile
	// BaseURL is the public base URL that goes into certificates (AIA, CRL
	// distribution points), e.g. "http://pki.example.dk".
	BaseURL      string
	Certificates CertificateStore
	Registry     RegistryStore
	Hasher       Hasher
	Clock        func() time.Time // time.Now when nil
	Rand         io.Reader        // crypto/rand when nil
	Logger       *slog.Logger
}

// CA issues and manages certificates for one or more issuing CAs.
type CA struct {
	issuers   map[string]*Issuer
	order     []string
	profiles  map[string]*Profile
	qualified *QualifiedProfile
	certs     CertificateStore
	registry  RegistryStore
	hasher    Hasher
	linter    *Linter
	now       func() time.Time
	rand      io.Reader
	log       *slog.Logger

	observers []StatusObserver
}

// New checks the configuration and prepares the issuers.
func New(ctx context.Context, cfg Config) (*CA, error) {
	if len(cfg.Issuers) == 0 {
		return nil, errors.New("ca: no issuing CA configured")
	}
	if cfg.Certificates == nil || cfg.Registry == nil || cfg.Hasher == nil {
		return nil, errors.New("ca: a certificate store, a registry store and a hasher are required")
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("ca: base URL %q must be an absolute http(s) URL", cfg.BaseURL)
	}
	c := &CA{
		issuers: make(map[string]*Issuer), profiles: cfg.Profiles,
		certs: cfg.Certificates, registry: cfg.Registry, hasher: cfg.Hasher,
		now: cfg.Clock, rand: cfg.Rand, log: cfg.Logger,
	}
	if c.profiles == nil {
		c.profiles = DefaultProfiles()
	}
	for _, p := range c.profiles {
		if err := p.Validate(); err != nil {
			return nil, err
		}
	}
	c.qualified = cfg.Qualified
	if c.qualified == nil {
		c.qualified = DefaultQualifiedProfile(cfg.BaseURL)
	}
	if err := c.qualified.Validate(); err != nil {
		return nil, err
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.linter, err = NewLinter(); err != nil {
		return nil, err
	}
	for _, iss := range cfg.Issuers {
		if err := c.addIssuer(ctx, iss, strings.TrimSuffix(base.String(), "/")); err != nil {
			return nil, err
		}
	}
	if err := c.reconcile(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// ReservationGrace is how old a reservation without its certificate must
// be for a start to take it as abandoned: no issuance in progress on any
// node takes that long (the HSM and the store time out well before).
const ReservationGrace = 15 * time.Minute

// ActionReservationAbandon is the audit action of a reservation found
// never completed at start.
const ActionReservationAbandon = "ca.reservation.abandon"

// reconcile records, at start, every issuance that reserved a serial and
// never stored its certificate: a crash between signing and storing, or a
// failure whose record was lost. The certificate may exist outside (it
// may have been signed), so its serial is never reused, and the OCSP
// responder answers it as never issued, which is not "good".
func (c *CA) reconcile(ctx context.Context) error {
	now := c.now().UTC().Truncate(time.Second)
	abandoned, err := c.certs.AbandonReservations(ctx, now.Add(-ReservationGrace), func(p *Prepared) audit.Event {
		return audit.Event{Time: now, Actor: audit.System, Action: ActionReservationAbandon, Target: p.Serial.String(),
			Outcome: audit.OutcomeOK, Details: map[string]string{
				"ca": p.CA, "profile": p.Profile, "subject_id": p.SubjectID,
				"reserved": p.Created.UTC().Format(time.RFC3339), "partition": strconv.Itoa(p.Partition),
				"note": "reserved and never completed; if it was signed, it is answered as not good and its serial is never reused",
			}}
	})
	if err != nil {
		return fmt.Errorf("ca: reconciling unfinished issuances: %w", err)
	}
	for _, p := range abandoned {
		c.log.WarnContext(ctx, "ca: an issuance never completed; its serial is retired", "serial", p.Serial.String(),
			"ca", p.CA, "profile", p.Profile, "reserved", p.Created)
	}
	return nil
}

func (c *CA) addIssuer(ctx context.Context, iss *Issuer, base string) error {
	if !validCAName(iss.Name) {
		return fmt.Errorf("ca: issuer name %q must be lower-case letters, digits and hyphens", iss.Name)
	}
	if _, dup := c.issuers[iss.Name]; dup {
		return fmt.Errorf("ca: issuer %q configured twice", iss.Name)
	}
	if iss.Certificate == nil || iss.Signer == nil {
		return fmt.Errorf("ca: issuer %s needs a certificate and a key", iss.Name)
	}
	if !iss.Certificate.IsCA || iss.Certificate.KeyUsage&x509.KeyUsageCertSign == 0 {
		return fmt.Errorf("ca: issuer %s: certificate is not a CA certificate with keyCertSign", iss.Name)
	}
	if pub, ok := iss.Signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(iss.Certificate.PublicKey) {
		return fmt.Errorf("ca: issuer %s: the key does not match the certificate", iss.Name)
	}
	if len(iss.Certificate.SubjectKeyId) == 0 {
		return fmt.Errorf("ca: issuer %s: certificate has no subject key identifier", iss.Name)
	}
	var err error
	if iss.sigAlg, err = signatureAlgorithm(iss.Certificate.PublicKey); err != nil {
		return fmt.Errorf("ca: issuer %s: %w", iss.Name, err)
	}
	if _, err := asn1.Unmarshal(iss.Certificate.RawSubject, &iss.subject); err != nil {
		return fmt.Errorf("ca: issuer %s: parsing subject: %w", iss.Name, err)
	}
	if iss.PartitionSize <= 0 {
		iss.PartitionSize = DefaultPartitionSize
	}
	if err := c.initSequence(ctx, iss); err != nil {
		return err
	}
	iss.urls = issuerURLs{
		ocsp:      base + "/ocsp",
		caIssuers: base + "/ca/" + iss.Name + ".cer",
		fullCRL:   base + "/crl/" + iss.Name + ".crl",
		partitionCRL: func(p int) string {
			return fmt.Sprintf("%s/crl/%s/%d.crl", base, iss.Name, p)
		},
	}
	c.issuers[iss.Name] = iss
	c.order = append(c.order, iss.Name)
	return nil
}

// sequenceBlock is how many sequence numbers an issuer draws from the
// store at once: a restart, or another node, leaves at most this many
// unused, and no number is ever used twice.
const sequenceBlock = 16

func sequenceCounter(caName string) string { return "ca/" + caName + "/sequence" }

// initSequence moves the issuer's durable sequence counter past the
// serials reserved so far, for a store that has none yet (one from before
// the counter), so that partitions go on filling where they were.
func (c *CA) initSequence(ctx context.Context, iss *Issuer) error {
	n, err := c.certs.CountIssued(ctx, iss.Name)
	if err != nil {
		return fmt.Errorf("ca: counting certificates of %s: %w", iss.Name, err)
	}
	first, err := c.certs.NextCounter(ctx, sequenceCounter(iss.Name), 1)
	if err != nil {
		return fmt.Errorf("ca: reading the sequence of %s: %w", iss.Name, err)
	}
	if first-1 >= n { // the number drawn is free: use it first
		iss.seqNext, iss.seqEnd = first-1, first
		return nil
	}
	if k := n - first; k > 0 {
		if _, err := c.certs.NextCounter(ctx, sequenceCounter(iss.Name), k); err != nil {
			return fmt.Errorf("ca: moving the sequence of %s past its %d certificates: %w", iss.Name, n, err)
		}
	}
	return nil
}

// nextSequence returns the issuer's next sequence number (from 0),
// drawing a block from the store's durable counter when the last is used
// up. Numbers are unique across restarts and nodes, so a CRL partition
// never holds more than PartitionSize certificates.
func (c *CA) nextSequence(ctx context.Context, iss *Issuer) (uint64, error) {
	iss.seqMu.Lock()
	defer iss.seqMu.Unlock()
	if iss.seqNext == iss.seqEnd {
		first, err := c.certs.NextCounter(ctx, sequenceCounter(iss.Name), sequenceBlock)
		if err != nil {
			return 0, fmt.Errorf("ca: drawing sequence numbers for %s: %w", iss.Name, err)
		}
		iss.seqNext, iss.seqEnd = first-1, first-1+sequenceBlock
	}
	v := iss.seqNext
	iss.seqNext++
	return v, nil
}

// DefaultPartitionSize keeps the largest partition CRL well under a
// megabyte even if every certificate in it were revoked.
const DefaultPartitionSize = 10000

func validCAName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// Issuer returns the named issuing CA; "" names the first configured.
func (c *CA) Issuer(name string) (*Issuer, error) {
	if name == "" {
		name = c.order[0]
	}
	iss, ok := c.issuers[name]
	if !ok {
		return nil, fmt.Errorf("%w: no issuing CA %q (configured: %s)", ErrNotFound, name, strings.Join(c.order, ", "))
	}
	return iss, nil
}

// Issuers lists the issuing CAs in configuration order.
func (c *CA) Issuers() []*Issuer {
	out := make([]*Issuer, len(c.order))
	for i, n := range c.order {
		out[i] = c.issuers[n]
	}
	return out
}

// Profiles returns the configured profiles by name.
func (c *CA) Profiles() map[string]*Profile { return c.profiles }

// Certificate returns one issued certificate.
func (c *CA) Certificate(ctx context.Context, serial Serial) (*Certificate, error) {
	return c.certs.Certificate(ctx, serial)
}

// Certificates lists issued certificates.
func (c *CA) Certificates(ctx context.Context, q ListQuery) (*CertificatePage, error) {
	if q.Limit < 0 || q.Limit > 1000 {
		return nil, fmt.Errorf("%w: limit must be between 1 and 1000", ErrInvalidRequest)
	}
	return c.certs.Certificates(ctx, q)
}

// Suspend puts a certificate on hold (CRL reason certificateHold).
func (c *CA) Suspend(ctx context.Context, serial Serial, actor audit.Actor) (*Certificate, error) {
	return c.changeStatus(ctx, serial, StatusChange{To: StatusSuspended}, actor, audit.ActionCertSuspend)
}

// Release takes a suspended certificate off hold.
func (c *CA) Release(ctx context.Context, serial Serial, actor audit.Actor) (*Certificate, error) {
	return c.changeStatus(ctx, serial, StatusChange{To: StatusGood}, actor, audit.ActionCertRelease)
}

// Revoke revokes a certificate for good.
func (c *CA) Revoke(ctx context.Context, serial Serial, reason RevocationReason, invalidity time.Time, actor audit.Actor) (*Certificate, error) {
	return c.changeStatus(ctx, serial, StatusChange{To: StatusRevoked, Reason: reason, InvalidityDate: invalidity}, actor, audit.ActionCertRevoke)
}

// changeStatus applies ch in one transaction with its audit record; a
// refused change is recorded on its own.
func (c *CA) changeStatus(ctx context.Context, serial Serial, ch StatusChange, actor audit.Actor, action string) (*Certificate, error) {
	now := c.now().UTC().Truncate(time.Second)
	ev := audit.Event{Time: now, Actor: actorOrSystem(actor), Action: action, Target: serial.String(), Outcome: audit.Outcome(nil)}
	if ch.Reason != "" {
		ev.Details = map[string]string{"reason": string(ch.Reason)}
	}
	cert, err := c.certs.UpdateCertificateAudited(ctx, serial, func(cert *Certificate) error {
		return ch.apply(cert, now)
	}, ev)
	if err != nil {
		c.auditFailure(ctx, actor, action, serial.String(), err)
		return nil, err
	}
	c.log.InfoContext(ctx, "certificate status changed", "serial", serial.String(), "status", cert.Status, "reason", cert.Reason)
	for _, o := range c.observers {
		o.StatusChanged(ctx, cert)
	}
	return cert, nil
}
