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

// KeyStore holds the responder keys and hands them out as crypto.Signers;
// ocsp/ocsphsm adapts an HSM to it. A store that also has a method
// KeyAlgorithm() string names the algorithm of the keys it makes in the
// audit record of a rotation.
type KeyStore interface {
	// Signer opens the key keyURI names, or fails with an error wrapping
	// ErrKeyNotFound if there is none.
	Signer(ctx context.Context, keyURI string) (crypto.Signer, error)
	// GenerateKey makes a key under keyURI, of the store's algorithm, or
	// fails with an error wrapping ErrKeyExists if there is one.
	GenerateKey(ctx context.Context, keyURI string) (crypto.Signer, error)
}

// Errors a KeyStore wraps.
var (
	ErrKeyNotFound = errors.New("ocsp: responder key not found")
	ErrKeyExists   = errors.New("ocsp: responder key exists already")
)

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

	// seq orders installs of one serial; see table.put.
	seq atomic.Uint64
	// stamp names every stored record; see table.go.
	stamp   atomic.Uint64
	headers responseHeaders
	live    chan struct{} // semaphore of on-demand signatures
	kick    chan struct{} // a rotation asks Run for a sweep now

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
	// keys lists every signing key (generation and certificate) the
	// issuer has had, by signingKey.idx; it is only appended to.
	keysMu sync.Mutex
	keys   atomic.Pointer[[]*signingKey]
	// responses holds the SHA-1 responses, twins the SHA-256 ones
	// signed on first request; see table.go.
	responses, twins *table

	rotateMu sync.Mutex  // one renewal or rotation at a time
	resign   atomic.Bool // a rotation awaits its re-signing sweep
}

const numShards = 64

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
		maxSig := maxSignature(iss.current.Load().signer.Public())
		iss.responses, iss.twins = newTable(maxSig), newTable(maxSig)
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

// addKey gives k its index in the issuer's key list.
func (iss *issuer) addKey(k *signingKey) error {
	iss.keysMu.Lock()
	defer iss.keysMu.Unlock()
	var keys []*signingKey
	if p := iss.keys.Load(); p != nil {
		keys = *p
	}
	if len(keys) > 0xffff {
		return fmt.Errorf("ocsp: %s has had %d responder certificates in this process; restart it", iss.name, len(keys))
	}
	k.idx = uint16(len(keys))
	keys = append(keys[:len(keys):len(keys)], k)
	iss.keys.Store(&keys)
	return nil
}

func (iss *issuer) keyAt(i uint16) *signingKey {
	if p := iss.keys.Load(); p != nil && int(i) < len(*p) {
		return (*p)[i]
	}
	return nil
}

// valid returns the response to serve for serial and CertID hash index
// i, or nil if there is none still valid.
func (r *Responder) valid(iss *issuer, s ca.Serial, i int, now time.Time) *response {
	var base record
	var buf [maxStoredSig]byte
	sig, ok := iss.responses.get(s, &base, buf[:0])
	if !ok {
		return nil
	}
	k := iss.keyAt(base.key)
	if !base.signed || k == nil || k.key.state.retired.Load() || !now.Before(base.single.nextUpdate) {
		return nil
	}
	if i == 0 {
		return r.serveRecord(iss, k, s, 0, base.single, base.stamp, sig)
	}
	var twin record
	if sig, ok := iss.twins.get(s, &twin, buf[:0]); ok && twin.signed && twin.base == base.stamp {
		if k := iss.keyAt(twin.key); k != nil && !k.key.state.retired.Load() {
			return r.serveRecord(iss, k, s, 1, twin.single, twin.stamp, sig)
		}
	}
	return nil
}

// maxStoredSig bounds the signature valid copies out on the stack; a
// larger one (RSA above 4096 bits) is copied to the heap.
const maxStoredSig = 512

// serveRecord rebuilds the response of a stored record (see encode.go),
// in a response from servedPool. The record comes in pieces so that its
// signature, copied out on the caller's stack, stays there.
func (r *Responder) serveRecord(iss *issuer, k *signingKey, s ca.Serial, i int, single single, stamp uint64, sig []byte) *response {
	resp := servedPool.Get().(*response)
	buf := resp.der[:0]
	if n := k.storedSize(sig); cap(buf) < n {
		buf = make([]byte, 0, n)
	}
	der := k.appendStored(buf, iss, i, &s, &single, sig)
	*resp = response{der: der, etag: etagOf(sig), single: single, stamp: stamp, pooled: true}
	return resp
}

// servedPool recycles the responses serveRecord builds, once written:
// at the default GOGC the garbage of a response per request costs the
// collector more than building it.
var servedPool = sync.Pool{New: func() any { return new(response) }}

// maxPooledDER bounds the buffer a pooled response keeps.
const maxPooledDER = 4 << 10

// recycle returns a response of serveRecord to servedPool; nothing may
// use it afterwards. Other responses are left alone.
func recycle(resp *response) {
	if !resp.pooled {
		return
	}
	der := resp.der[:0]
	if cap(der) > maxPooledDER {
		der = nil
	}
	*resp = response{der: der}
	servedPool.Put(resp)
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
	if _, err := r.signRecord(iss, rec, seq); err != nil {
		r.log.ErrorContext(ctx, "ocsp: re-signing after status change; answering from the store until the next sweep",
			"serial", c.Serial.String(), "err", err)
		iss.responses.put(c.Serial, &record{seq: seq, stamp: r.stamp.Add(1)}, false)
	}
}

// Issued pre-signs the response of a newly issued certificate
// (ca.IssuanceObserver): the CA calls it after the certificate is stored
// and before Issue returns, so that its first query is answered from the
// store of responses, not signed on demand. An error leaves the
// certificate to be signed on its first query.
func (r *Responder) Issued(ctx context.Context, c *ca.Certificate) error {
	iss := r.issuerNamed(c.CA)
	if iss == nil || iss.current.Load() == nil {
		return nil
	}
	s := singleFor(c)
	if _, err := r.signInstall(iss, c.Serial, &s, r.seq.Load(), true); err != nil {
		return fmt.Errorf("ocsp: pre-signing the response of %s: %w", c.Serial, err)
	}
	return nil
}

// signRecord signs and stores the SHA-1 response of a certificate record.
func (r *Responder) signRecord(iss *issuer, c *ca.Certificate, seq uint64) (*response, error) {
	s := singleFor(c)
	return r.signInstall(iss, c.Serial, &s, seq, false)
}

// signInstall signs the pre-signable SHA-1 response for serial saying s,
// with thisUpdate now and nextUpdate bounded by the responder
// certificate, and stores it (see table.put for seq and onlyNew).
func (r *Responder) signInstall(iss *issuer, serial ca.Serial, s *single, seq uint64, onlyNew bool) (*response, error) {
	k := iss.current.Load()
	r.setTimes(s, k)
	id := certIDFor(certIDAlgs[0], iss.nameHash[0], iss.keyHash[0], serial)
	der, sig, err := k.sign(r.cfg.Rand, id, s, nil)
	if err != nil {
		return nil, err
	}
	rec := record{stamp: r.stamp.Add(1), seq: seq, key: k.idx, signed: true, single: *s, sig: sig}
	iss.responses.put(serial, &rec, onlyNew)
	return &response{der: der, etag: etagOf(sig), single: *s, stamp: rec.stamp}, nil
}

func (r *Responder) setTimes(s *single, k *signingKey) {
	s.thisUpdate = r.now().UTC().Truncate(time.Second)
	s.nextUpdate = s.thisUpdate.Add(r.cfg.ResponseValidity)
	if end := k.cert.NotAfter.UTC().Truncate(time.Second); s.nextUpdate.After(end) {
		s.nextUpdate = end
	}
}

// MemoryStats describes the store of pre-signed responses.
type MemoryStats struct {
	// Responses is the number of stored responses, SHA-256 twins included.
	Responses int
	// StoreBytes is the memory of their records, outside the Go heap on
	// Unix; the index of serials is on the heap, unscanned.
	StoreBytes int64
}

// MemoryStats returns the size of the response store.
func (r *Responder) MemoryStats() MemoryStats {
	var m MemoryStats
	for _, iss := range r.issuers {
		for _, t := range []*table{iss.responses, iss.twins} {
			n, b := t.stats()
			m.Responses += n
			m.StoreBytes += b
		}
	}
	return m
}
