package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/oces-pki/oces/api"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/ceremony"
	"github.com/oces-pki/oces/crl"
	"github.com/oces-pki/oces/internal/conf"
	"github.com/oces-pki/oces/ocsp"
	"github.com/oces-pki/oces/server"
)

func newServeCommand(_ *globals) *cobra.Command {
	var configPath string
	var only []string
	cmd := &cobra.Command{
		Use:   "serve [--config FILE] [--only ROLES]",
		Short: "Run the CA's services: the public HTTP listener and the admin API",
		Long: `Runs every service the configuration switches on, in one process on one store:
the public listener (CA certificates, health, metrics, and the status services)
and the admin API over HTTPS with client-certificate authentication.
With --only (or only: in the configuration) the process takes some roles
only (ca, admin, ocsp, crl, tsa, signer), so that on a shared PostgreSQL store
each service runs in its own process on its own host (docs/deployment.md).
Ctrl-C or SIGTERM stops it, finishing requests in flight.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configPath)
			if err != nil {
				return err
			}
			if len(only) > 0 {
				cfg.Only = only
			}
			return serve(cmd.Context(), cfg, newLogger(), cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&configPath, "config", "c", envOr("OCES_CONFIG", defaultConfig), "server configuration (env OCES_CONFIG)")
	cmd.Flags().StringSliceVar(&only, "only", nil, "take only these roles: "+strings.Join(allRoles, ","))
	return cmd
}

// serve wires the configured services and runs them until ctx ends.
func serve(ctx context.Context, cfg *Config, logger *slog.Logger, out interface{ Write([]byte) (int, error) }) error {
	server.RaiseOpenFileLimit(logger) // before anything opens files; the connection caps derive from it
	roles, err := parseRoles("only", cfg.Only)
	if err != nil {
		return err
	}
	if err := applyRoles(cfg, roles); err != nil {
		return err
	}
	a, err := openApp(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.checkKeys(ctx, cfg); err != nil { // validate.go: fail fast
		return err
	}
	// Read before the status services load their state: the changes other
	// processes commit after it are followed (shared store only).
	changesFrom, err := a.changeHead(ctx)
	if err != nil {
		return err
	}
	// Cancelled before Close runs, so the background loops end on any return.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	limits := server.Limits{
		ReadTimeout: cfg.Limits.ReadTimeout.D(), WriteTimeout: cfg.Limits.WriteTimeout.D(),
		IdleTimeout: cfg.Limits.IdleTimeout.D(), MaxBodyBytes: cfg.Limits.MaxBodyBytes, MaxConcurrent: cfg.Limits.MaxConcurrent,
		ServiceConcurrent: cfg.Limits.MaxConcurrentByService, MaxConnections: cfg.Limits.MaxConnections,
		MinBodyRate: cfg.Limits.MinBodyRate, BodyRateGrace: cfg.Limits.BodyRateGrace.D(), MaxBufferedBytes: cfg.Limits.MaxBufferedBytes,
	}
	// Readiness, on both listeners: the HSM and the store, at most once a second.
	ready := server.Ready(time.Second, 2*time.Second,
		server.Check{Name: "hsm", Run: a.hsm.Check}, server.Check{Name: "store", Run: a.checkStore})
	var listeners []server.Listener
	var names []string
	var webAt func(addr string) // web.go: the signing address, once the listener is bound
	if err := a.startCheckpointer(ctx, cfg, logger); err != nil {
		return err
	}
	var pub *crl.Publisher
	if enabled(cfg.CRL.Enabled) {
		if pub, err = a.newPublisher(cfg); err != nil {
			return fmt.Errorf("CRL publisher: %w", err)
		}
		a.background.Go(func() {
			if err := pub.Run(ctx); err != nil && ctx.Err() == nil {
				logger.Error("CRL publisher stopped", "err", err)
			}
		})
	}
	var responder *ocsp.Responder
	if enabled(cfg.OCSP.Enabled) {
		if responder, err = a.newResponder(ctx, cfg, logger); err != nil {
			return fmt.Errorf("OCSP responder: %w", err)
		}
	}
	var observers []ca.StatusObserver
	if pub != nil {
		observers = append(observers, pub)
	}
	if responder != nil {
		observers = append(observers, responder)
	}
	a.followChanges(ctx, cfg, changesFrom, logger, observers...)
	if enabled(cfg.Public.Enabled) {
		public, err := a.publicHandler(ctx, cfg, reg, pub, responder)
		if err != nil {
			return err
		}
		publicLimits := limits
		if cfg.Validation.on() {
			// A document and its content, base64, read whole before a slot.
			publicLimits.LargeBodies = map[string]int64{"/api/v1/validate": cfg.Validation.MaxDocumentBytes*8/3 + 4096}
			publicLimits.MaxBufferedBytes = max(publicLimits.MaxBufferedBytes, 4*cfg.Validation.MaxDocumentBytes)
		}
		listeners = append(listeners, server.Listener{Name: "public", Addr: cfg.Public.Listen, Handler: withReady(public, ready), Limits: publicLimits})
		names = append(names, "public")
	}
	if enabled(cfg.Admin.Enabled) {
		tlsConf, err := a.adminTLS(ctx, cfg)
		if err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
		apiCfg := api.Config{CA: a.ca, Audit: a.store, Logger: logger, MaxBodyBytes: limits.MaxBodyBytes, MatchCPR: cfg.MatchCPR.access(), AuditLog: a.store}
		if pub != nil {
			apiCfg.CRL = pub
		}
		adminLimits := limits
		if cfg.Signer.on() {
			if apiCfg.Signer, apiCfg.Seals, err = a.newSigner(ctx, cfg); err != nil {
				return fmt.Errorf("signing service: %w", err)
			}
			// Documents are read whole before they take a slot: room for
			// four at the largest size at once.
			adminLimits.LargeBodies = map[string]int64{"/api/v1/sign": cfg.Signer.MaxDocumentBytes}
			adminLimits.MaxBufferedBytes = max(adminLimits.MaxBufferedBytes, 4*cfg.Signer.MaxDocumentBytes)
		}
		var h http.Handler = signerOnly(roles, api.New(apiCfg))
		if cfg.Citizen.on() {
			if h, err = a.withCSC(ctx, cfg, h, logger, reg); err != nil {
				return fmt.Errorf("CSC API: %w", err)
			}
			// OAuth2 clients of the CSC API come without a certificate; the
			// admin API still refuses every request without one.
			tlsConf.ClientAuth = tls.VerifyClientCertIfGiven
			adminLimits.LargeBodies = maps.Clone(adminLimits.LargeBodies)
			if adminLimits.LargeBodies == nil {
				adminLimits.LargeBodies = map[string]int64{}
			}
			adminLimits.LargeBodies["/csc/v2/signatures/signDoc"] = 2 * cfg.Signer.MaxDocumentBytes
			adminLimits.MaxBufferedBytes = max(adminLimits.MaxBufferedBytes, 4*cfg.Signer.MaxDocumentBytes)
		}
		var webListener *server.Listener
		if cfg.Web.on() { // web.go
			if h, webListener, webAt, err = a.withWeb(ctx, cfg, h, &adminLimits, limits, logger, reg); err != nil {
				return fmt.Errorf("citizens' pages: %w", err)
			}
		}
		listeners = append(listeners, server.Listener{Name: "admin", Addr: cfg.Admin.Listen, Handler: withReady(h, ready), TLS: tlsConf, Limits: adminLimits})
		names = append(names, "admin")
		if webListener != nil {
			listeners = append(listeners, *webListener)
			names = append(names, "web")
		}
	}
	if len(listeners) == 0 {
		return usagef("every listener is switched off in %s; enable public or admin", cfg.path)
	}
	srv, err := server.New(logger, reg, listeners...)
	if err != nil {
		return err
	}
	for i, n := range names {
		scheme := "http"
		if n == "admin" || n == "web" {
			scheme = "https"
		}
		fmt.Fprintf(out, "%-7s %s://%s\n", n, scheme, srv.Addr(i))
		if n == "web" {
			webAt(srv.Addr(i).String())
		}
		if n == "admin" && cfg.Signer.on() {
			fmt.Fprintf(out, "%-7s %s://%s/api/v1/sign (%d seals)\n", "signer", scheme, srv.Addr(i), len(cfg.Signer.Seals))
		}
	}
	fmt.Fprintf(out, "ready; try: ./bin/oces cert list   (Ctrl-C stops)\n")
	logger.Info("serving", "listeners", strings.Join(names, ","))
	err = srv.Serve(ctx, 30*time.Second)
	logger.Info("stopped")
	return err
}

// publicHandler routes the public listener.
func (a *app) publicHandler(ctx context.Context, cfg *Config, reg *prometheus.Registry, pub *crl.Publisher, responder *ocsp.Responder) (http.Handler, error) {
	mux := http.NewServeMux()
	if pub != nil {
		mux.Handle("/crl/", pub.Handler())
	}
	arls, err := arlHandler(cfg)
	if err != nil {
		return nil, err
	}
	for path, h := range arls {
		mux.Handle("GET "+path, h)
	}
	if cfg.TSA.on() {
		authority, err := a.newAuthority(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("time-stamp authority: %w", err)
		}
		mux.Handle("/tsa", authority)
	}
	if cfg.Validation.on() {
		anchors, err := cfg.validatorAnchors()
		if err != nil {
			return nil, err
		}
		v, err := newValidator(anchors, cfg.Validation.MaxDocumentBytes, cfg.Validation.Offline, false)
		if err != nil {
			return nil, fmt.Errorf("validation service: %w", err)
		}
		mux.Handle("POST /api/v1/validate", api.ValidateHandler(api.ValidateConfig{Validator: v,
			RatePerSecond: cfg.Validation.RatePerSecond, Burst: cfg.Validation.Burst, Logger: newLogger()}))
	}
	mux.Handle("/ca/", server.CAFiles(a.caFiles()))
	mux.Handle("GET /healthz", server.Health(server.Check{Name: "store", Run: a.checkStore}))
	mux.Handle("GET /metrics", server.MetricsHandler(reg))
	if responder != nil {
		// In front of the mux: its path cleaning would corrupt a base64
		// GET request that contains "//".
		return newOCSPMetrics(reg).wrap(responder.Wrap(mux)), nil // ocspmetrics.go
	}
	return mux, nil
}

// checkStore reads from the store.
func (a *app) checkStore(ctx context.Context) error {
	_, err := a.store.CountIssued(ctx, a.ca.Issuers()[0].Name)
	return err
}

// withReady serves GET /readyz from ready, everything else from h.
func withReady(h, ready http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			ready.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// caFiles names every CA certificate the public listener serves: each
// issuing CA by its name, and each parent by the name its children's
// caIssuers URL gives it (/ca/root.cer → "root").
func (a *app) caFiles() map[string]*x509.Certificate {
	files := map[string]*x509.Certificate{}
	for _, iss := range a.ca.Issuers() {
		files[iss.Name] = iss.Certificate
		for _, u := range iss.Certificate.IssuingCertificateURL {
			name := strings.TrimSuffix(path.Base(u), ".cer")
			for _, parent := range iss.Chain {
				if iss.Certificate.CheckSignatureFrom(parent) == nil {
					files[name] = parent
				}
			}
		}
	}
	return files
}

// adminTLS is the admin listener's TLS: the server key in the HSM, and
// client certificates required and verified against the issuing CAs.
func (a *app) adminTLS(ctx context.Context, cfg *Config) (*tls.Config, error) {
	chain, err := ceremony.ReadCertificates(conf.Resolve(cfg.path, cfg.Admin.TLSCertificate))
	if err != nil {
		return nil, fmt.Errorf("reading admin.tls_certificate: %w", err)
	}
	key, err := a.hsm.Signer(ctx, cfg.Admin.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("opening admin.tls_key: %w", err)
	}
	cert := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, c := range chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	clients := x509.NewCertPool()
	for _, iss := range a.ca.Issuers() {
		clients.AddCert(iss.Certificate)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clients,
		MinVersion:   tls.VersionTLS12,
	}, nil
}
