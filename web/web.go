// Package web is the citizens' pages of OCES PKI: log in with a password
// and a one-time code (NSIS level substantial), sign a PDF or a text after
// seeing exactly what will be signed, sign a service provider's document
// (the NemLog-in signing client's flow), and look after one's own
// certificates, password, code app and code card.
//
// It is a transport: it decodes forms, calls package citizen (and the
// validation service for the summary of a signed file), maps errors and
// renders server-side html/template pages. Everything works without
// JavaScript; static/app.js only adds small conveniences.
//
// Security properties (docs/web.md):
//   - HTTPS only; HSTS (RFC 6797).
//   - One cookie, __Host-oces-session: Secure, HttpOnly, SameSite=Strict,
//     Path=/ (RFC 6265bis), a random 256-bit value that maps to the
//     citizen session on the server. Sessions end after an idle time and
//     an absolute time, both configurable, and at logout.
//   - Cross-origin unsafe requests are refused (net/http
//     CrossOriginProtection: Sec-Fetch-Site, else Origin against Host).
//   - A Content-Security-Policy with no inline script or style, no
//     framing (frame-ancestors 'none'), forms only to this origin.
//   - Uploads bounded in bytes and pages; page rendering bounded in time;
//     documents held in memory only and forgotten at the end of the
//     session plus a configurable retention.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
	_ "time/tzdata" // Europe/Copenhagen on hosts without a zoneinfo database

	"github.com/oces-pki/oces/citizen"
	"github.com/oces-pki/oces/internal/ratelimit"
	"github.com/oces-pki/oces/validate"
)

// Validator is what the summary of a signed document needs of the
// validation service; *validate.Validator implements it.
type Validator interface {
	ValidatePDF(ctx context.Context, data []byte) (*validate.Report, error)
}

var _ Validator = (*validate.Validator)(nil)

// Config wires the pages.
type Config struct {
	Citizens *citizen.Service
	// Validator summarises a signed document; optional.
	Validator Validator
	// Requests are the service providers' signing requests; optional.
	Requests *citizen.SigningRequests
	// SessionIdle and SessionMax end a session after that long without a
	// request, and that long after login; 15 minutes and 1 hour by default.
	SessionIdle, SessionMax time.Duration
	// MaxUploadBytes bounds an uploaded document (10 MiB), MaxPages its
	// pages (50), RenderTimeout the drawing of its pages (10 s).
	MaxUploadBytes int64
	MaxPages       int
	RenderTimeout  time.Duration
	// Retention is how long documents are kept after their session ended
	// (0: they go when it ends).
	Retention time.Duration
	// MaxSessions bounds the sessions held at once; 10000 by default.
	MaxSessions int
	// LoginLimit, if set, bounds password attempts per client address,
	// whichever accounts they name (the per-account lockout does not see
	// one address trying one password on many accounts).
	LoginLimit *ratelimit.Limiter
	// Pdftoppm is poppler's renderer; "pdftoppm" on PATH by default.
	Pdftoppm string
	// Location is the time zone dates are shown in; Europe/Copenhagen by
	// default, whatever the server's own zone is.
	Location *time.Location
	Clock    func() time.Time
	Logger   *slog.Logger
}

// Defaults of Config.
const (
	DefaultSessionIdle    = 15 * time.Minute
	DefaultSessionMax     = time.Hour
	DefaultMaxUploadBytes = 10 << 20
	DefaultMaxPages       = 50
	DefaultRenderTimeout  = 10 * time.Second
	DefaultTimeZone       = "Europe/Copenhagen"
)

// Handler serves the pages.
type Handler struct {
	cfg      Config
	svc      *citizen.Service
	sessions *sessions
	now      func() time.Time
	log      *slog.Logger
	pages    *pages
	h        http.Handler
}

// New checks cfg and builds the handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Citizens == nil {
		return nil, errors.New("web: the citizen service is required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.SessionIdle, DefaultSessionIdle)
	def(&cfg.SessionMax, DefaultSessionMax)
	def(&cfg.RenderTimeout, DefaultRenderTimeout)
	if cfg.MaxUploadBytes <= 0 {
		cfg.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if cfg.MaxPages <= 0 {
		cfg.MaxPages = DefaultMaxPages
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 10000
	}
	if cfg.Retention < 0 {
		return nil, errors.New("web: the document retention must not be negative")
	}
	if cfg.SessionIdle > cfg.SessionMax {
		return nil, fmt.Errorf("web: the idle time %s is longer than the session's %s", cfg.SessionIdle, cfg.SessionMax)
	}
	if cfg.Pdftoppm == "" {
		cfg.Pdftoppm = "pdftoppm"
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Location == nil {
		loc, err := time.LoadLocation(DefaultTimeZone)
		if err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
		cfg.Location = loc
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p, err := loadPages()
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, svc: cfg.Citizens, now: cfg.Clock, log: cfg.Logger, pages: p,
		sessions: &sessions{m: map[string]*session{}, idle: cfg.SessionIdle, max: cfg.SessionMax, retention: cfg.Retention, limit: cfg.MaxSessions, logout: cfg.Citizens.Logout}}
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(h.crossOrigin))
	h.h = h.secure(cop.Handler(h.routes()))
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.h.ServeHTTP(w, r) }

// routes is every page. GET requests change nothing but the language
// cookie; everything else is a POST behind the cross-origin check.
func (h *Handler) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", staticFiles())
	mux.HandleFunc("GET /{$}", h.home)
	mux.HandleFunc("GET /lang", h.language)
	mux.HandleFunc("GET /login", h.loginPage)
	mux.HandleFunc("POST /login", h.loginPassword)
	mux.HandleFunc("GET /login/code", h.codePage)
	mux.HandleFunc("POST /login/code", h.loginCode)
	mux.HandleFunc("GET /login/new-password", h.initialPasswordPage)
	mux.HandleFunc("POST /login/new-password", h.initialPassword)
	mux.HandleFunc("POST /logout", h.logout)
	mux.HandleFunc("GET /sign", h.authed(h.signPage))
	mux.HandleFunc("POST /sign/upload", h.authed(h.upload))
	mux.HandleFunc("POST /sign/text", h.authed(h.text))
	mux.HandleFunc("GET /sign/{doc}", h.authed(h.preview))
	mux.HandleFunc("GET /sign/{doc}/page/{n}", h.authed(h.pageImage))
	mux.HandleFunc("POST /sign/{doc}/confirm", h.authed(h.confirm))
	mux.HandleFunc("POST /sign/{doc}/cancel", h.authed(h.cancel))
	mux.HandleFunc("GET /sign/{doc}/done", h.authed(h.done))
	mux.HandleFunc("GET /sign/{doc}/signed.pdf", h.authed(h.download))
	mux.HandleFunc("GET /request/{id}", h.request)
	mux.HandleFunc("GET /me", h.authed(h.mePage))
	mux.HandleFunc("POST /me/certificates/{serial}/suspend", h.authed(h.suspend))
	mux.HandleFunc("GET /me/password", h.authed(h.passwordPage))
	mux.HandleFunc("POST /me/password", h.authed(h.changePassword))
	mux.HandleFunc("GET /me/app", h.authed(h.appPage))
	mux.HandleFunc("POST /me/app", h.authed(h.activateApp))
	mux.HandleFunc("GET /me/app/qr.png", h.authed(h.appQR))
	mux.HandleFunc("POST /me/card", h.authed(h.orderCard))
	mux.HandleFunc("/", h.notFound)
	return mux
}

// contentSecurityPolicy allows nothing inline and nothing from elsewhere.
const contentSecurityPolicy = "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// secure refuses plain HTTP and sets the security headers of every answer.
func (h *Handler) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			http.Error(w, "HTTPS only", http.StatusBadRequest)
			return
		}
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Strict-Transport-Security", "max-age=63072000")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// Run sweeps expired sessions and old documents every interval until ctx
// ends.
func (h *Handler) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.Sweep()
		}
	}
}

// Sweep ends the sessions past their idle or absolute time (and their
// citizen sessions), forgets documents past their retention, and the
// service providers' requests past theirs.
func (h *Handler) Sweep() {
	h.sessions.sweep(h.now())
	if h.cfg.Requests != nil {
		h.cfg.Requests.Sweep()
	}
}

// Held is how many sessions are live and how many documents are held.
func (h *Handler) Held() (sessions, documents int) { return h.sessions.counts() }
