// Package revocation finds out whether a certificate is revoked, the way a
// relying party does: it asks the OCSP responder named in the certificate's
// Authority Information Access extension (RFC 6960, RFC 5019), and falls back
// to a CRL from its CRL distribution points (RFC 5280 clause 4.2.1.13) when no
// responder answers. Every answer is verified against the issuer before it is
// used or cached, and kept until its nextUpdate (bounded by Config.MaxAge).
//
// The signing service uses it to refuse a key whose certificate is no longer
// good and to collect the validation data of B-LT signatures (ETSI EN 319
// 122-1 clause 5.4, EN 319 142-1 clause 5.4); the validation service uses it
// when a document carries no revocation data of its own.
package revocation

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"
)

// Sentinels; errors from Check wrap one of them.
var (
	// ErrUnavailable: no OCSP responder and no CRL distribution point gave
	// a usable answer (down, timed out, or answered with an error).
	ErrUnavailable = errors.New("revocation: no status source answered")
	// ErrNoSource: the certificate names neither an OCSP responder nor a CRL.
	ErrNoSource = errors.New("revocation: the certificate names no OCSP responder and no CRL distribution point")
	// ErrInvalid: an answer was malformed, badly signed, about another
	// certificate, or stale.
	ErrInvalid = errors.New("revocation: invalid status answer")
)

// Status is a certificate's revocation status.
type Status int

// Statuses. Hold is a revocation with reason certificateHold (a suspension).
const (
	Good Status = iota + 1
	Revoked
	Hold
	Unknown // the OCSP responder does not know the certificate
)

func (s Status) String() string {
	switch s {
	case Good:
		return "good"
	case Revoked:
		return "revoked"
	case Hold:
		return "on hold"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Result is the verified status of one certificate, with the evidence.
type Result struct {
	Certificate *x509.Certificate
	Issuer      *x509.Certificate
	Status      Status
	RevokedAt   time.Time // for Revoked and Hold
	Reason      int       // RFC 5280 CRLReason, for Revoked and Hold
	ThisUpdate  time.Time
	NextUpdate  time.Time
	Source      string // "ocsp" or "crl"
	URL         string
	// OCSP is the DER OCSPResponse (with its responseStatus), when the
	// answer came from a responder; CRL the DER CertificateList otherwise.
	OCSP []byte
	CRL  []byte
	// Responder holds the certificates the OCSP response carried (the
	// delegated responder's), which validation data must include too.
	Responder []*x509.Certificate
}

// Config tunes a Fetcher. The zero value works.
type Config struct {
	Client      *http.Client     // default: a client with Timeout
	Timeout     time.Duration    // per request; default 10s
	MaxAge      time.Duration    // cache bound; default 1m (0 keeps the default; negative disables caching)
	MaxOCSP     int64            // response size bound; default 64 KiB
	MaxCRL      int64            // CRL size bound; default 64 MiB
	MaxCert     int64            // caIssuers size bound; default 64 KiB
	Now         func() time.Time // default time.Now
	ClockSkew   time.Duration    // tolerance for thisUpdate/nextUpdate; default 5m
	Logger      *slog.Logger
	OCSPHash    crypto.Hash // CertID hash; default SHA-1 (RFC 5019 clause 2.1.1)
	PreferCRL   bool        // ask the CRL first
	DisableCRL  bool
	DisableOCSP bool
}

// Fetcher checks certificates' status over HTTP. Safe for concurrent use;
// concurrent checks of the same certificate share one request.
type Fetcher struct {
	cfg    Config
	client *http.Client

	mu       sync.Mutex
	cache    map[string]cached
	inflight map[string]*call
	verified map[string]error // certificate signatures checked, by signature and issuer key
}

type cached struct {
	value   any // *Result or *x509.RevocationList with its DER
	expires time.Time
}

type call struct {
	done  chan struct{}
	value any
	err   error
}

// New returns a Fetcher.
func New(cfg Config) *Fetcher {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = time.Minute
	}
	if cfg.MaxOCSP <= 0 {
		cfg.MaxOCSP = 64 << 10
	}
	if cfg.MaxCRL <= 0 {
		cfg.MaxCRL = 64 << 20
	}
	if cfg.MaxCert <= 0 {
		cfg.MaxCert = 64 << 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ClockSkew <= 0 {
		cfg.ClockSkew = 5 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OCSPHash == 0 {
		cfg.OCSPHash = crypto.SHA1
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{Timeout: cfg.Timeout}
	}
	return &Fetcher{cfg: cfg, client: client, cache: map[string]cached{}, inflight: map[string]*call{}, verified: map[string]error{}}
}

// Check returns the verified status of cert, issued by issuer: from the
// OCSP responder first, then from the CRL (or the other way round with
// PreferCRL). A revoked or held certificate is a Result, not an error.
func (f *Fetcher) Check(ctx context.Context, cert, issuer *x509.Certificate) (*Result, error) {
	if err := f.signedBy(cert, issuer); err != nil {
		return nil, fmt.Errorf("revocation: %s is not issued by %s: %w", cert.Subject, issuer.Subject, err)
	}
	sources := []func(context.Context, *x509.Certificate, *x509.Certificate) (*Result, error){f.viaOCSP, f.viaCRL}
	if f.cfg.PreferCRL {
		sources[0], sources[1] = sources[1], sources[0]
	}
	var errs []error
	tried := false
	for _, src := range sources {
		res, err := src(ctx, cert, issuer)
		if errors.Is(err, errNotOffered) {
			continue
		}
		tried = true
		if err == nil {
			return res, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		}
		f.cfg.Logger.WarnContext(ctx, "revocation: status source failed", "subject", cert.Subject.String(), "err", err)
		errs = append(errs, err)
	}
	if !tried {
		return nil, fmt.Errorf("%w (%s)", ErrNoSource, cert.Subject)
	}
	return nil, fmt.Errorf("%w for %s: %w", ErrUnavailable, cert.Subject, errors.Join(errs...))
}

// errNotOffered: the certificate names no source of that kind.
var errNotOffered = errors.New("revocation: source not offered")

func (f *Fetcher) viaOCSP(ctx context.Context, cert, issuer *x509.Certificate) (*Result, error) {
	urls := httpURLs(cert.OCSPServer)
	if f.cfg.DisableOCSP || len(urls) == 0 {
		return nil, errNotOffered
	}
	key := "ocsp|" + string(issuer.RawSubjectPublicKeyInfo) + "|" + cert.SerialNumber.String()
	v, err := f.once(ctx, key, func() (any, time.Time, error) {
		var errs []error
		for _, u := range urls {
			res, err := f.fetchOCSP(ctx, u, cert, issuer)
			if err == nil {
				return res, res.NextUpdate, nil
			}
			errs = append(errs, err)
		}
		return nil, time.Time{}, errors.Join(errs...)
	})
	if err != nil {
		return nil, err
	}
	return v.(*Result), nil
}

func (f *Fetcher) fetchOCSP(ctx context.Context, url string, cert, issuer *x509.Certificate) (*Result, error) {
	req, err := ocsp.CreateRequest(cert, issuer, &ocsp.RequestOptions{Hash: f.cfg.OCSPHash})
	if err != nil {
		return nil, fmt.Errorf("revocation: building OCSP request: %w", err)
	}
	body, err := f.post(ctx, url, "application/ocsp-request", req, f.cfg.MaxOCSP)
	if err != nil {
		return nil, err
	}
	resp, err := ocsp.ParseResponseForCert(body, cert, issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: OCSP response from %s: %w", ErrInvalid, url, err)
	}
	// ParseResponseForCert checks that a delegated responder's certificate
	// was issued by the CA, but not that the CA authorised it to answer
	// (RFC 6960 clause 4.2.2.2): without id-kp-OCSPSigning any certificate
	// of the CA could sign a "good".
	if resp.Certificate != nil && !slices.Contains(resp.Certificate.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
		return nil, fmt.Errorf("%w: OCSP response from %s is signed by %q, which is not an OCSP responder (no id-kp-OCSPSigning)", ErrInvalid, url, resp.Certificate.Subject)
	}
	if err := f.fresh(resp.ThisUpdate, resp.NextUpdate); err != nil {
		return nil, fmt.Errorf("%w: OCSP response from %s: %w", ErrInvalid, url, err)
	}
	res := &Result{Certificate: cert, Issuer: issuer, Source: "ocsp", URL: url, OCSP: body,
		ThisUpdate: resp.ThisUpdate, NextUpdate: resp.NextUpdate}
	if resp.Certificate != nil {
		res.Responder = []*x509.Certificate{resp.Certificate}
	}
	switch resp.Status {
	case ocsp.Good:
		res.Status = Good
	case ocsp.Revoked:
		res.Status, res.RevokedAt, res.Reason = Revoked, resp.RevokedAt, resp.RevocationReason
		if resp.RevocationReason == ocsp.CertificateHold {
			res.Status = Hold
		}
	default:
		res.Status = Unknown
	}
	return res, nil
}

func (f *Fetcher) viaCRL(ctx context.Context, cert, issuer *x509.Certificate) (*Result, error) {
	urls := httpURLs(cert.CRLDistributionPoints)
	if f.cfg.DisableCRL || len(urls) == 0 {
		return nil, errNotOffered
	}
	var errs []error
	for _, u := range urls {
		list, der, err := f.crl(ctx, u, issuer)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		res := &Result{Certificate: cert, Issuer: issuer, Status: Good, Source: "crl", URL: u, CRL: der,
			ThisUpdate: list.ThisUpdate, NextUpdate: list.NextUpdate}
		for _, e := range list.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
				res.Status, res.RevokedAt, res.Reason = Revoked, e.RevocationTime, e.ReasonCode
				if e.ReasonCode == ocsp.CertificateHold {
					res.Status = Hold
				}
				break
			}
		}
		return res, nil
	}
	return nil, errors.Join(errs...)
}

// crl fetches, verifies and caches the CRL at url.
func (f *Fetcher) crl(ctx context.Context, url string, issuer *x509.Certificate) (*x509.RevocationList, []byte, error) {
	type entry struct {
		list *x509.RevocationList
		der  []byte
	}
	v, err := f.once(ctx, "crl|"+url, func() (any, time.Time, error) {
		der, err := f.get(ctx, url, f.cfg.MaxCRL)
		if err != nil {
			return nil, time.Time{}, err
		}
		list, err := x509.ParseRevocationList(der)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("%w: CRL from %s: %w", ErrInvalid, url, err)
		}
		if err := f.crlSignedBy(list, issuer); err != nil {
			return nil, time.Time{}, fmt.Errorf("%w: CRL from %s is not signed by %s: %w", ErrInvalid, url, issuer.Subject, err)
		}
		if err := f.fresh(list.ThisUpdate, list.NextUpdate); err != nil {
			return nil, time.Time{}, fmt.Errorf("%w: CRL from %s: %w", ErrInvalid, url, err)
		}
		return entry{list, der}, list.NextUpdate, nil
	})
	if err != nil {
		return nil, nil, err
	}
	e := v.(entry)
	return e.list, e.der, nil
}

// Issuer fetches cert's issuer from its caIssuers URLs (RFC 5280 clause
// 4.2.2.1): a DER or PEM certificate, or a certs-only PKCS#7 of one. The
// result is checked to have signed cert.
func (f *Fetcher) Issuer(ctx context.Context, cert *x509.Certificate) (*x509.Certificate, error) {
	urls := httpURLs(cert.IssuingCertificateURL)
	if len(urls) == 0 {
		return nil, fmt.Errorf("revocation: %s names no caIssuers URL", cert.Subject)
	}
	var errs []error
	for _, u := range urls {
		v, err := f.once(ctx, "cert|"+u, func() (any, time.Time, error) {
			body, err := f.get(ctx, u, f.cfg.MaxCert)
			if err != nil {
				return nil, time.Time{}, err
			}
			if b, _ := pem.Decode(body); b != nil && b.Type == "CERTIFICATE" {
				body = b.Bytes
			}
			c, err := x509.ParseCertificate(body)
			if err != nil {
				return nil, time.Time{}, fmt.Errorf("%w: certificate from %s: %w", ErrInvalid, u, err)
			}
			return c, f.cfg.Now().Add(time.Hour), nil
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c := v.(*x509.Certificate)
		if err := f.signedBy(cert, c); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s from %s did not sign %s", ErrInvalid, c.Subject, u, cert.Subject))
			continue
		}
		return c, nil
	}
	return nil, fmt.Errorf("%w: issuer of %s: %w", ErrUnavailable, cert.Subject, errors.Join(errs...))
}

func (f *Fetcher) fresh(thisUpdate, nextUpdate time.Time) error {
	now := f.cfg.Now()
	if thisUpdate.After(now.Add(f.cfg.ClockSkew)) {
		return fmt.Errorf("thisUpdate %s is in the future", thisUpdate.UTC().Format(time.RFC3339))
	}
	if !nextUpdate.IsZero() && nextUpdate.Before(now.Add(-f.cfg.ClockSkew)) {
		return fmt.Errorf("stale: nextUpdate %s has passed", nextUpdate.UTC().Format(time.RFC3339))
	}
	return nil
}

// once runs fetch for key unless a cached or in-flight result exists.
// fetch returns the value and when it stops being valid.
func (f *Fetcher) once(ctx context.Context, key string, fetch func() (any, time.Time, error)) (any, error) {
	now := f.cfg.Now()
	f.mu.Lock()
	if c, ok := f.cache[key]; ok && now.Before(c.expires) {
		f.mu.Unlock()
		return c.value, nil
	}
	if c, ok := f.inflight[key]; ok {
		f.mu.Unlock()
		select {
		case <-c.done:
			return c.value, c.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c := &call{done: make(chan struct{})}
	f.inflight[key] = c
	f.mu.Unlock()

	v, until, err := fetch()
	c.value, c.err = v, err
	f.mu.Lock()
	delete(f.inflight, key)
	if err == nil && f.cfg.MaxAge > 0 {
		limit := f.cfg.Now().Add(f.cfg.MaxAge)
		if until.IsZero() || until.After(limit) {
			until = limit
		}
		f.cache[key] = cached{value: v, expires: until}
		if len(f.cache) > 100_000 {
			f.evictLocked()
		}
	}
	f.mu.Unlock()
	close(c.done)
	return v, err
}

// evictLocked drops expired entries, and everything if that is not enough.
func (f *Fetcher) evictLocked() {
	now := f.cfg.Now()
	for k, c := range f.cache {
		if !now.Before(c.expires) {
			delete(f.cache, k)
		}
	}
	if len(f.cache) > 50_000 {
		f.cache = map[string]cached{}
	}
}

// Forget drops every cached answer, so the next Check asks again.
func (f *Fetcher) Forget() {
	f.mu.Lock()
	f.cache = map[string]cached{}
	f.mu.Unlock()
}

func (f *Fetcher) post(ctx context.Context, url, contentType string, body []byte, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, url, err)
	}
	req.Header.Set("Content-Type", contentType)
	return f.do(req, limit)
}

func (f *Fetcher) get(ctx context.Context, url string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, url, err)
	}
	return f.do(req, limit)
}

func (f *Fetcher) do(req *http.Request, limit int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(req.Context(), f.cfg.Timeout)
	defer cancel()
	resp, err := f.client.Do(req.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %w", ErrUnavailable, req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("%w: %s %s: HTTP %s", ErrUnavailable, req.Method, req.URL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %w", ErrUnavailable, req.URL, err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: %s answered more than %d bytes", ErrInvalid, req.URL, limit)
	}
	return body, nil
}

func httpURLs(in []string) []string {
	var out []string
	for _, u := range in {
		if l := strings.ToLower(u); strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://") {
			out = append(out, u)
		}
	}
	return out
}
