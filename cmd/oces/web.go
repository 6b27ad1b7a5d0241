package main

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/oces-pki/oces/api"
	"github.com/oces-pki/oces/ceremony"
	"github.com/oces-pki/oces/citizen"
	"github.com/oces-pki/oces/internal/conf"
	"github.com/oces-pki/oces/internal/ratelimit"
	"github.com/oces-pki/oces/server"
	"github.com/oces-pki/oces/web"
)

// WebConfig is the citizens' pages (package web, docs/web.md) on an HTTPS
// listener of their own, without client certificates. It needs the
// citizen section and the admin listener (whose API takes the service
// providers' signing requests).
type WebConfig struct {
	Enabled *bool  `yaml:"enabled"` // default false
	Listen  string `yaml:"listen"`  // default 127.0.0.1:8444
	// TLSCertificate and TLSKey default to the admin listener's.
	TLSCertificate string `yaml:"tls_certificate"`
	TLSKey         string `yaml:"tls_key"`
	// SessionIdle and SessionMax end a login after 15 idle minutes and 1
	// hour in all by default.
	SessionIdle conf.Duration `yaml:"session_idle"`
	SessionMax  conf.Duration `yaml:"session_max"`
	// MaxUploadBytes (10 MiB), MaxPages (50) and RenderTimeout (10s)
	// bound a document and the drawing of its pages.
	MaxUploadBytes int64         `yaml:"max_upload_bytes"`
	MaxPages       int           `yaml:"max_pages"`
	RenderTimeout  conf.Duration `yaml:"render_timeout"`
	// DocumentRetention is how long documents are kept after their
	// session ends (default 0: not at all).
	DocumentRetention conf.Duration `yaml:"document_retention"`
	// RequestRetention is how long a service provider's signing request
	// and its signed document are kept (default 30m).
	RequestRetention conf.Duration `yaml:"request_retention"`
	// PublicURL is where citizens reach the pages (the sign_url of signing
	// requests); default https://<listen>.
	PublicURL string `yaml:"public_url"`
	// LoginRate and LoginBurst bound password attempts per client
	// address, whichever accounts they name: LoginBurst at once, then
	// LoginRate a second (default 30 at once, then one every 2 s; a
	// negative rate turns the limit off, for a proxy that limits instead).
	LoginRate  float64 `yaml:"login_rate"`
	LoginBurst int     `yaml:"login_burst"`
	// TimeZone is the IANA zone the pages show dates in (default
	// Europe/Copenhagen).
	TimeZone string `yaml:"time_zone"`
}

func (w *WebConfig) on() bool { return w.Enabled != nil && *w.Enabled }

func (c *Config) validateWeb() error {
	w := &c.Web
	if !w.on() {
		return nil
	}
	if !c.Citizen.on() {
		return conf.Errorf("web.enabled", "the citizens' pages need the citizen section")
	}
	if !enabled(c.Admin.Enabled) {
		return conf.Errorf("web.enabled", "the citizens' pages need the admin listener (admin.enabled)")
	}
	if w.Listen == "" {
		w.Listen = "127.0.0.1:8444"
	}
	if _, _, err := net.SplitHostPort(w.Listen); err != nil {
		return conf.Errorf("web.listen", "must be host:port, got %q", w.Listen)
	}
	if w.TLSCertificate == "" {
		w.TLSCertificate = c.Admin.TLSCertificate
	}
	if w.TLSKey == "" {
		w.TLSKey = c.Admin.TLSKey
	}
	if !strings.HasPrefix(w.TLSKey, "pkcs11:") || strings.Contains(w.TLSKey, "pin-value=") {
		return conf.Errorf("web.tls_key", "must be a PKCS#11 URI with pin-source (or OCES_HSM_PIN)")
	}
	def := func(d *conf.Duration, v time.Duration) {
		if *d == 0 {
			*d = conf.Duration(v)
		}
	}
	def(&w.SessionIdle, web.DefaultSessionIdle)
	def(&w.SessionMax, web.DefaultSessionMax)
	def(&w.RenderTimeout, web.DefaultRenderTimeout)
	def(&w.RequestRetention, 30*time.Minute)
	if w.MaxUploadBytes == 0 {
		w.MaxUploadBytes = web.DefaultMaxUploadBytes
	}
	if w.MaxPages == 0 {
		w.MaxPages = web.DefaultMaxPages
	}
	switch {
	case w.SessionIdle.D() < time.Minute || w.SessionIdle.D() > 24*time.Hour:
		return conf.Errorf("web.session_idle", "must be between 1m and 24h")
	case w.SessionMax.D() < w.SessionIdle.D() || w.SessionMax.D() > 24*time.Hour:
		return conf.Errorf("web.session_max", "must be at least web.session_idle and at most 24h")
	case w.MaxUploadBytes < 1<<10 || w.MaxUploadBytes > 64<<20:
		return conf.Errorf("web.max_upload_bytes", "must be between 1 KiB and 64 MiB")
	case w.MaxPages < 1 || w.MaxPages > 500:
		return conf.Errorf("web.max_pages", "must be between 1 and 500")
	case w.RenderTimeout.D() < time.Second || w.RenderTimeout.D() > 5*time.Minute:
		return conf.Errorf("web.render_timeout", "must be between 1s and 5m")
	case w.DocumentRetention.D() < 0 || w.DocumentRetention.D() > 24*time.Hour:
		return conf.Errorf("web.document_retention", "must be between 0 and 24h")
	case w.RequestRetention.D() < time.Minute || w.RequestRetention.D() > 24*time.Hour:
		return conf.Errorf("web.request_retention", "must be between 1m and 24h")
	}
	if w.LoginRate == 0 {
		w.LoginRate = 0.5
	}
	if w.LoginBurst == 0 {
		w.LoginBurst = 30
	}
	if w.LoginRate > 1000 || w.LoginBurst < 1 || w.LoginBurst > 100000 {
		return conf.Errorf("web.login_burst", "login_rate must be at most 1000 a second (negative: no limit) and login_burst 1 to 100000")
	}
	if w.TimeZone == "" {
		w.TimeZone = web.DefaultTimeZone
	}
	if _, err := time.LoadLocation(w.TimeZone); err != nil {
		return conf.Errorf("web.time_zone", "%v", err)
	}
	if w.PublicURL != "" { // else https://<the bound address> (withWeb)
		if u, err := url.Parse(w.PublicURL); err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return conf.Errorf("web.public_url", "must be an https URL without a path, got %q", w.PublicURL)
		}
		w.PublicURL = strings.TrimSuffix(w.PublicURL, "/")
	}
	return c.validateReturnOrigins()
}

// plainHost is a DNS name or IP address with an optional port.
var plainHost = regexp.MustCompile(`^[A-Za-z0-9.\-:\[\]]{1,262}$`)

func (c *Config) validateReturnOrigins() error {
	for i, cl := range c.Citizen.CSCClients {
		for j, o := range cl.ReturnOrigins {
			if u, err := url.Parse(o); err != nil || (u.Scheme != "https" && u.Scheme != "http") || !plainHost.MatchString(u.Host) || (u.Path != "" && u.Path != "/") {
				return conf.Errorf(fmt.Sprintf("citizen.csc_clients[%d].return_origins[%d]", i, j), "must be an origin, scheme://host[:port], got %q", o)
			}
		}
	}
	return nil
}

// loginLimit is the per-address bound on password attempts, nil when off.
func loginLimit(w WebConfig) *ratelimit.Limiter {
	if w.LoginRate < 0 {
		return nil
	}
	return ratelimit.New(w.LoginRate, w.LoginBurst)
}

// withWeb builds the citizens' pages and their listener, and mounts the
// service providers' signing-request API on the admin handler. The pages
// have a citizen service of their own whose sessions last as long as the
// web's (its idle time is the web's to enforce).
//
// The returned func takes the listener's bound address: without
// web.public_url, signing addresses are https://<that address>.
func (a *app) withWeb(ctx context.Context, cfg *Config, admin http.Handler, adminLimits *server.Limits, base server.Limits, logger *slog.Logger, reg prometheus.Registerer) (http.Handler, *server.Listener, func(string), error) {
	w := cfg.Web
	z := cfg.Citizen
	policy := citizen.DefaultPolicy()
	policy.SessionTTL = w.SessionMax.D()
	svc, err := citizen.New(citizen.Config{
		Store: citizen.Records(a.store), Registry: a.ca, Keys: a.hsm, Sealer: a.hsm, Policy: policy,
		PepperKey: z.PepperKey, CodeKey: z.CodeKey, AppKey: z.AppKey, Logger: logger,
	})
	if err != nil {
		return nil, nil, nil, err
	}
	if err := a.citizenSigning(ctx, cfg, svc, reg); err != nil {
		return nil, nil, nil, err
	}
	anchors, err := cfg.validatorAnchors()
	if err != nil {
		return nil, nil, nil, err
	}
	v, err := newValidator(anchors, cfg.Validation.MaxDocumentBytes, cfg.Validation.Offline, false)
	if err != nil {
		return nil, nil, nil, err
	}
	loc, err := time.LoadLocation(w.TimeZone) // checked by validateWeb
	if err != nil {
		return nil, nil, nil, err
	}
	reqs := citizen.NewSigningRequests(citizen.RequestsConfig{Audit: a.store, Retention: w.RequestRetention.D()})
	pages, err := web.New(web.Config{Citizens: svc, Validator: v, Requests: reqs,
		SessionIdle: w.SessionIdle.D(), SessionMax: w.SessionMax.D(), MaxUploadBytes: w.MaxUploadBytes, MaxPages: w.MaxPages,
		RenderTimeout: w.RenderTimeout.D(), Retention: w.DocumentRetention.D(), Location: loc, LoginLimit: loginLimit(w), Logger: logger})
	if err != nil {
		return nil, nil, nil, err
	}
	a.background.Go(func() { pages.Run(ctx, 30*time.Second) })

	var providers []api.SigningProvider
	for _, cl := range z.CSCClients {
		if cl.CertificateSHA256 == "" {
			continue
		}
		sum, err := hex.DecodeString(strings.ReplaceAll(cl.CertificateSHA256, ":", ""))
		if err != nil {
			return nil, nil, nil, conf.Errorf("citizen.csc_clients", "certificate_sha256 of %s is not hex", cl.ID)
		}
		providers = append(providers, api.SigningProvider{ID: cl.ID, CertificateSHA256: sum, ReturnOrigins: cl.ReturnOrigins})
	}
	var signURL atomic.Pointer[string]
	signURL.Store(&w.PublicURL)
	at := func(addr string) {
		if cfg.Web.PublicURL == "" {
			u := "https://" + addr
			signURL.Store(&u)
		}
	}
	spAPI := api.SigningRequestsHandler(api.SigningRequestsConfig{Requests: reqs, Providers: providers, SignURL: func() string { return *signURL.Load() },
		MaxDocumentBytes: w.MaxUploadBytes, Logger: logger})
	mux := http.NewServeMux()
	mux.Handle("/api/v1/signing-requests", spAPI)
	mux.Handle("/api/v1/signing-requests/", spAPI)
	mux.Handle("/", admin)
	adminLimits.LargeBodies = maps.Clone(adminLimits.LargeBodies)
	if adminLimits.LargeBodies == nil {
		adminLimits.LargeBodies = map[string]int64{}
	}
	adminLimits.LargeBodies["/api/v1/signing-requests"] = w.MaxUploadBytes*4/3 + 4096
	adminLimits.MaxBufferedBytes = max(adminLimits.MaxBufferedBytes, 4*w.MaxUploadBytes)

	tlsConf, err := a.webTLS(ctx, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	limits := base
	limits.MaxBodyBytes = max(limits.MaxBodyBytes, w.MaxUploadBytes+1<<20) // an upload, in its multipart form
	limits.MaxBufferedBytes = max(limits.MaxBufferedBytes, 4*limits.MaxBodyBytes)
	return mux, &server.Listener{Name: "web", Addr: w.Listen, Handler: pages, TLS: tlsConf, Limits: limits}, at, nil
}

// webTLS is the web listener's TLS: the server key in the HSM, no client
// certificates.
func (a *app) webTLS(ctx context.Context, cfg *Config) (*tls.Config, error) {
	chain, err := ceremony.ReadCertificates(conf.Resolve(cfg.path, cfg.Web.TLSCertificate))
	if err != nil {
		return nil, fmt.Errorf("reading web.tls_certificate: %w", err)
	}
	key, err := a.hsm.Signer(ctx, cfg.Web.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("opening web.tls_key: %w", err)
	}
	cert := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, c := range chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
