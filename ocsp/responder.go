package ocsp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/hsm"
)

// Source is where the responder reads certificate records: serial, CA and
// status. It needs no DER. The bolt store satisfies it.
type Source interface {
	// ForEachCertificate calls fn for every certificate of caName.
	ForEachCertificate(ctx context.Context, caName string, fn func(*ca.Certificate) error) error
	// Certificate returns one certificate, or an error wrapping ca.ErrNotFound.
	Certificate(ctx context.Context, serial ca.Serial) (*ca.Certificate, error)
}

// counter is an optional Source ability used as the progress total.
type counter interface {
	CountIssued(ctx context.Context, caName string) (uint64, error)
}

// Authority issues and lists the responder certificates; *ca.CA satisfies it.
type Authority interface {
	IssueService(ctx context.Context, req ca.ServiceRequest) (*ca.Certificate, error)
	Certificates(ctx context.Context, q ca.ListQuery) (*ca.CertificatePage, error)
}

// KeyStore holds the responder keys; *hsm.HSM satisfies it.
type KeyStore interface {
	Signer(ctx context.Context, keyURI string) (crypto.Signer, error)
	GenerateKey(ctx context.Context, keyURI string, alg hsm.KeyAlgorithm) (crypto.Signer, error)
}

// IssuerConfig names one issuing CA the responder answers for.
type IssuerConfig struct {
	// Name is the CA's name (ca.Issuer.Name).
	Name string
	// Certificate is the issuing CA's certificate.
	Certificate *x509.Certificate
	// ResponderKey is the PKCS#11 URI of the delegated responder key; the
	// key is generated there on first start if absent.
	ResponderKey string
}

// Config configures a Responder. Zero durations and fractions take the
// defaults noted.
type Config struct {
	Issuers   []IssuerConfig
	Source    Source
	Authority Authority
	Keys      KeyStore
	// Audit, when set, receives the records of responder key rotations
	// (see rotate.go); a rotation that cannot be recorded is not made.
	Audit Auditor

	// KeyAlgorithm of generated responder keys; ECDSA P-256 by default,
	// which signs a million responses in well under a minute.
	KeyAlgorithm hsm.KeyAlgorithm
	// ResponderValidity is the validity of responder certificates (4 days).
	ResponderValidity time.Duration
	// RenewalFraction: a responder certificate is renewed when less than
	// this fraction of its validity remains (0.5).
	RenewalFraction float64
	// ResponseValidity is nextUpdate - thisUpdate of every response (24h).
	// It must not exceed ResponderValidity * RenewalFraction, so that a
	// response never outlives the certificate that signed it.
	ResponseValidity time.Duration
	// RefreshFraction: responses are re-signed when this fraction of their
	// validity has passed (0.5).
	RefreshFraction float64
	// LiveNonce signs a fresh response, echoing the nonce, for requests
	// that carry one. Off by default: RFC 5019 section 4 answers from
	// pre-signed responses and ignores the nonce.
	LiveNonce bool
	// MaxRequestSize bounds a request body or decoded GET request (4096).
	MaxRequestSize int
	// Workers sign in parallel during pre-signing (GOMAXPROCS).
	Workers int
	// MaxLiveSigns bounds concurrent on-demand signatures (2*GOMAXPROCS);
	// requests beyond it wait up to LiveSignWait (2s), then get tryLater.
	MaxLiveSigns int
	LiveSignWait time.Duration

	Clock  func() time.Time
	Rand   io.Reader
	Logger *slog.Logger
	// Progress, when set, hears pre-signing progress about once a second.
	Progress func(Progress)
}

// Defaults.
const (
	DefaultResponderValidity = 4 * 24 * time.Hour
	DefaultResponseValidity  = 24 * time.Hour
	DefaultMaxRequestSize    = 4096
)

func (c *Config) setDefaults() {
	if c.KeyAlgorithm == 0 {
		c.KeyAlgorithm = hsm.ECP256
	}
	if c.ResponderValidity == 0 {
		c.ResponderValidity = DefaultResponderValidity
	}
	if c.RenewalFraction == 0 {
		c.RenewalFraction = 0.5
	}
	if c.ResponseValidity == 0 {
		c.ResponseValidity = DefaultResponseValidity
	}
	if c.RefreshFraction == 0 {
		c.RefreshFraction = 0.5
	}
	if c.MaxRequestSize == 0 {
		c.MaxRequestSize = DefaultMaxRequestSize
	}
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.MaxLiveSigns == 0 {
		c.MaxLiveSigns = 2 * runtime.GOMAXPROCS(0)
	}
	if c.LiveSignWait == 0 {
		c.LiveSignWait = 2 * time.Second
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate checks the configuration, naming the offending field.
func (c *Config) Validate() error {
	switch {
	case len(c.Issuers) == 0:
		return errors.New("ocsp: issuers: at least one issuing CA is required")
	case c.Source == nil || c.Authority == nil || c.Keys == nil:
		return errors.New("ocsp: source, authority and keys are required")
	case c.RenewalFraction <= 0 || c.RenewalFraction >= 1:
		return fmt.Errorf("ocsp: renewal_fraction %v must be between 0 and 1", c.RenewalFraction)
	case c.RefreshFraction <= 0 || c.RefreshFraction >= 1:
		return fmt.Errorf("ocsp: refresh_fraction %v must be between 0 and 1", c.RefreshFraction)
	case c.ResponseValidity < time.Minute:
		return fmt.Errorf("ocsp: response_validity %s must be at least a minute", c.ResponseValidity)
	case float64(c.ResponseValidity) > float64(c.ResponderValidity)*c.RenewalFraction:
		return fmt.Errorf("ocsp: response_validity %s must not exceed responder_validity %s times renewal_fraction %v",
			c.ResponseValidity, c.ResponderValidity, c.RenewalFraction)
	case c.MaxRequestSize < 128 || c.Workers < 1 || c.MaxLiveSigns < 1:
		return errors.New("ocsp: max_request_size must be at least 128, workers and max_live_signs at least 1")
	}
	for i, ic := range c.Issuers {
		if ic.Name == "" || ic.Certificate == nil || ic.ResponderKey == "" {
			return fmt.Errorf("ocsp: issuers[%d]: name, certificate and responder_key are required", i)
		}
	}
	return nil
}

// Responder answers OCSP requests for one or more issuing CAs from
// pre-signed responses. It is a ca.StatusObserver.
type Responder struct {
	cfg     Config
	issuers []*issuer
	now     func() time.Time
	log     *slog.Logger

	// seq orders installs of one entry; see install.
	seq  atomic.Uint64
	live chan struct{} // semaphore of on-demand signatures
	kick chan struct{} // a rotation asks Run for a sweep now

	presigned atomic.Int64 // responses installed by the current sweep
	ready     atomic.Bool  // the first sweep has completed
}

var _ ca.StatusObserver = (*Responder)(nil)

// issuer is one issuing CA as the responder sees it.
type issuer struct {
	name   string
	cert   *x509.Certificate
	keyURI string
	// nameHash and keyHash by CertID hash: index 0 SHA-1, 1 SHA-256.
	nameHash, keyHash [2][]byte

	current atomic.Pointer[signingKey]
	shards  [numShards]shard

	rotateMu sync.Mutex  // one renewal or rotation at a time
	resign   atomic.Bool // a rotation awaits its re-signing sweep
}

const numShards = 64

type shard struct {
	mu sync.RWMutex
	m  map[ca.Serial]*entry
}

// entry holds the current responses for one serial, by CertID hash.
type entry struct {
	r [2]atomic.Pointer[response]
}

// hashIndex maps a CertID hash to the index of the issuer's hashes.
func hashIndex(h crypto.Hash) int {
	if h == crypto.SHA256 {
		return 1
	}
	return 0
}

// algorithm identifiers of SHA-1 and SHA-256 for CertIDs, parameters NULL.
var certIDAlgs = [2][]byte{
	{0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00},
	{0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00},
}

// New checks cfg, loads or generates each issuer's responder key and finds
// or issues its certificate. It signs no status response: Run (or Presign)
// does that, and requests are answered on demand until then.
func New(ctx context.Context, cfg Config) (*Responder, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Responder{cfg: cfg, now: cfg.Clock, log: cfg.Logger, live: make(chan struct{}, cfg.MaxLiveSigns), kick: make(chan struct{}, 1)}
	for _, ic := range cfg.Issuers {
		iss, err := newIssuer(ic)
		if err != nil {
			return nil, err
		}
		if err := r.loadResponder(ctx, iss); err != nil {
			return nil, err
		}
		r.issuers = append(r.issuers, iss)
	}
	return r, nil
}

func newIssuer(ic IssuerConfig) (*issuer, error) {
	spk, err := subjectPublicKey(ic.Certificate.RawSubjectPublicKeyInfo)
	if err != nil {
		return nil, fmt.Errorf("ocsp: issuer %s: %w", ic.Name, err)
	}
	n1, k1 := sha1.Sum(ic.Certificate.RawSubject), sha1.Sum(spk)
	n2, k2 := sha256.Sum256(ic.Certificate.RawSubject), sha256.Sum256(spk)
	iss := &issuer{name: ic.Name, cert: ic.Certificate, keyURI: ic.ResponderKey,
		nameHash: [2][]byte{n1[:], n2[:]}, keyHash: [2][]byte{k1[:], k2[:]}}
	for i := range iss.shards {
		iss.shards[i].m = make(map[ca.Serial]*entry)
	}
	return iss, nil
}

// findIssuer matches a CertID against the issuers' name and key hashes.
func (r *Responder) findIssuer(id *certID) *issuer {
	if id.hashAlgorithm != crypto.SHA1 && id.hashAlgorithm != crypto.SHA256 {
		return nil
	}
	i := hashIndex(id.hashAlgorithm)
	for _, iss := range r.issuers {
		if bytes.Equal(iss.nameHash[i], id.issuerNameHash) && bytes.Equal(iss.keyHash[i], id.issuerKeyHash) {
			return iss
		}
	}
	return nil
}

func (r *Responder) issuerNamed(name string) *issuer {
	for _, iss := range r.issuers {
		if iss.name == name {
			return iss
		}
	}
	return nil
}

func (iss *issuer) shard(s ca.Serial) *shard { return &iss.shards[s[15]%numShards] }

func (iss *issuer) lookup(s ca.Serial) *entry {
	sh := iss.shard(s)
	sh.mu.RLock()
	e := sh.m[s]
	sh.mu.RUnlock()
	return e
}

func (iss *issuer) entryFor(s ca.Serial) *entry {
	if e := iss.lookup(s); e != nil {
		return e
	}
	sh := iss.shard(s)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[s]
	if e == nil {
		e = &entry{}
		sh.m[s] = e
	}
	return e
}

// install makes resp the SHA-1 response of serial unless a response built
// from a later reading of the store is there already. Every path reads the
// store after taking its seq (observers take a fresh one), so a larger seq
// never carries older status; onlyNew installs only where nothing is yet.
func (iss *issuer) install(s ca.Serial, resp *response, onlyNew bool) bool {
	e := iss.entryFor(s)
	for {
		old := e.r[0].Load()
		if old != nil && (onlyNew || old.seq > resp.seq) {
			return false
		}
		if e.r[0].CompareAndSwap(old, resp) {
			return true
		}
	}
}

// valid returns the response to serve for serial and CertID hash index
// i, or nil if there is none still valid.
func (iss *issuer) valid(s ca.Serial, i int, now time.Time) *response {
	e := iss.lookup(s)
	if e == nil {
		return nil
	}
	base := e.r[0].Load()
	if base == nil || base.der == nil || base.retired() || !now.Before(base.nextUpdate) {
		return nil
	}
	if i == 0 {
		return base
	}
	if resp := e.r[i].Load(); resp != nil && resp.base == base && !resp.retired() {
		return resp
	}
	return nil
}

// StatusChanged re-signs the certificate's response at once, so that the
// next query sees the change (ca.StatusObserver). It reads the record back
// from the source, so concurrent changes settle on the latest. If signing
// fails, the stale response is withdrawn and the next query is answered
// on demand from the store.
//
// A responder certificate of the current key that is no longer good
// retires the key, and a new key and certificate take over before this
// returns (see rotate.go).
func (r *Responder) StatusChanged(ctx context.Context, c *ca.Certificate) {
	iss := r.issuerNamed(c.CA)
	if iss == nil {
		return
	}
	if c.Profile == string(ca.ServiceOCSP) && c.Status != ca.StatusGood && r.retire(ctx, iss, c) {
		if err := r.rotate(ctx, iss); err != nil {
			r.log.ErrorContext(ctx, "ocsp: rotating the responder key; answering tryLater until it succeeds", "ca", iss.name, "err", err)
		}
	}
	seq := r.seq.Add(1)
	rec, err := r.cfg.Source.Certificate(ctx, c.Serial)
	if err != nil {
		r.log.WarnContext(ctx, "ocsp: re-reading changed certificate", "serial", c.Serial.String(), "err", err)
		rec = c
	}
	if _, err := r.signRecord(iss, rec, seq, &dates{}); err != nil {
		r.log.ErrorContext(ctx, "ocsp: re-signing after status change; answering from the store until the next sweep",
			"serial", c.Serial.String(), "err", err)
		iss.install(c.Serial, &response{seq: seq}, false)
	}
}

// Issued gives a newly issued certificate its response; the wiring calls
// it after every issuance. It is an optimisation: a stored serial that
// has no response yet is looked up and signed on its first query anyway.
func (r *Responder) Issued(ctx context.Context, c *ca.Certificate) error {
	iss := r.issuerNamed(c.CA)
	if iss == nil {
		return nil
	}
	s := singleFor(c)
	resp, err := r.build(iss, c.Serial, &s, r.seq.Load(), &dates{})
	if err != nil {
		return err
	}
	iss.install(c.Serial, resp, true)
	return nil
}

// signRecord signs and installs the SHA-1 response of a certificate record.
func (r *Responder) signRecord(iss *issuer, c *ca.Certificate, seq uint64, d *dates) (*response, error) {
	s := singleFor(c)
	resp, err := r.build(iss, c.Serial, &s, seq, d)
	if err != nil {
		return nil, err
	}
	iss.install(c.Serial, resp, false)
	return resp, nil
}

// build signs the pre-signable SHA-1 response for serial saying s, with
// thisUpdate now and nextUpdate bounded by the responder certificate.
func (r *Responder) build(iss *issuer, serial ca.Serial, s *single, seq uint64, d *dates) (*response, error) {
	k := iss.current.Load()
	r.setTimes(s, k)
	id := certIDFor(certIDAlgs[0], iss.nameHash[0], iss.keyHash[0], serial)
	der, err := k.sign(r.cfg.Rand, id, s, nil)
	if err != nil {
		return nil, err
	}
	return newResponse(der, s, seq, d, k), nil
}

func (r *Responder) setTimes(s *single, k *signingKey) {
	s.thisUpdate = r.now().UTC().Truncate(time.Second)
	s.nextUpdate = s.thisUpdate.Add(r.cfg.ResponseValidity)
	if end := k.cert.NotAfter.UTC().Truncate(time.Second); s.nextUpdate.After(end) {
		s.nextUpdate = end
	}
}
