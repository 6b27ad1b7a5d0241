// Package server runs the HTTP listeners of `oces serve`: the public one
// (plain HTTP, as relying parties expect: CA certificates, CRLs, OCSP,
// time-stamps, health, readiness and metrics) and the admin one (HTTPS with
// client certificates). It owns what every listener needs: timeouts for
// slow clients, a cap on open connections that closes idle ones first,
// request bodies read ahead (bounded, and at a minimum rate) before a
// request takes a concurrency slot, slots per service, panic containment,
// Prometheus metrics, and a graceful shutdown that finishes requests in
// flight. docs/reliability.md lists each protection and its limit.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Limits bound what one client can make a listener do.
type Limits struct {
	ReadHeaderTimeout time.Duration // default 5s
	ReadTimeout       time.Duration // whole request, body included; default 15s
	WriteTimeout      time.Duration // default 30s
	IdleTimeout       time.Duration // default 60s
	MaxHeaderBytes    int           // default 16 KiB
	MaxBodyBytes      int64         // default 1 MiB; handlers may bound tighter

	// MaxConcurrent is how many requests of one service (ServiceOCSP, …)
	// are at work at once; default 512. More wait up to ReadTimeout, then
	// get 503. A request takes its slot only once its body is in.
	MaxConcurrent int
	// ServiceConcurrent overrides MaxConcurrent for the services it names.
	ServiceConcurrent map[string]int
	// MaxConnections caps the listener's open connections; default
	// DefaultMaxConnections().
	MaxConnections int
	// MinBodyRate is the slowest, in bytes a second, that a request body
	// may arrive once BodyRateGrace has passed; default 1024.
	MinBodyRate int64
	// BodyRateGrace is how long a body may take before MinBodyRate
	// applies; default 2s.
	BodyRateGrace time.Duration
	// MaxBufferedBytes bounds the request bodies of one service held in
	// memory at once; default 32 MiB or four MaxBodyBytes, whichever is
	// more. Past it, requests get 503.
	MaxBufferedBytes int64
	// LargeBodies raises MaxBodyBytes for the exact paths named (documents
	// sent to the signing service).
	LargeBodies map[string]int64
}

func (l *Limits) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&l.ReadTimeout, 15*time.Second)
	set(&l.ReadHeaderTimeout, min(5*time.Second, l.ReadTimeout))
	set(&l.WriteTimeout, 30*time.Second)
	set(&l.IdleTimeout, 60*time.Second)
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 16 << 10
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = 1 << 20
	}
	if l.MaxConcurrent <= 0 {
		l.MaxConcurrent = 512
	}
	if l.MaxConnections <= 0 {
		l.MaxConnections = DefaultMaxConnections()
	}
	if l.MinBodyRate <= 0 {
		l.MinBodyRate = 1024
	}
	set(&l.BodyRateGrace, 2*time.Second)
	if l.MaxBufferedBytes <= 0 {
		l.MaxBufferedBytes = max(32<<20, 4*l.MaxBodyBytes)
	}
}

// Listener is one HTTP(S) listener.
type Listener struct {
	Name    string // "public" or "admin", for logs and metrics
	Addr    string // host:port; port 0 picks a free one
	Handler http.Handler
	TLS     *tls.Config // nil for plain HTTP
	Limits  Limits
}

// Server runs listeners until its context ends.
type Server struct {
	log     *slog.Logger
	metrics *metrics
	servers []*http.Server
	addrs   []net.Addr
	lns     []net.Listener
}

// New binds every listener (so the addresses are known before Serve) and
// wraps the handlers.
func New(logger *slog.Logger, reg *prometheus.Registry, listeners ...Listener) (*Server, error) {
	s := &Server{log: logger, metrics: newMetrics(reg)}
	total := 0
	for _, l := range listeners {
		l.Limits.defaults()
		total += l.Limits.MaxConnections
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			s.closeListeners()
			return nil, fmt.Errorf("server: listening on %s for %s: %w", l.Addr, l.Name, err)
		}
		limiter := newConnLimiter(ln, l.Limits.MaxConnections, s.metrics, l.Name)
		ln = limiter
		if l.TLS != nil {
			ln = tls.NewListener(ln, l.TLS)
		}
		srv := &http.Server{
			Handler:           s.wrap(l),
			ReadHeaderTimeout: l.Limits.ReadHeaderTimeout,
			ReadTimeout:       l.Limits.ReadTimeout,
			WriteTimeout:      l.Limits.WriteTimeout,
			IdleTimeout:       l.Limits.IdleTimeout,
			MaxHeaderBytes:    l.Limits.MaxHeaderBytes,
			ConnState:         limiter.connState,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		}
		s.servers = append(s.servers, srv)
		s.lns = append(s.lns, ln)
		s.addrs = append(s.addrs, ln.Addr())
		logger.Info("server: listener limits", "listener", l.Name, "max_connections", l.Limits.MaxConnections,
			"max_concurrent", l.Limits.MaxConcurrent, "min_body_rate", l.Limits.MinBodyRate)
	}
	if soft, ok := openFileLimit(); ok && uint64(total) > soft/2 {
		logger.Warn("server: the listeners' connection caps add up to more than half the open-file limit; a connection flood can leave the HSM and the store without files",
			"max_connections", total, "open_file_limit", soft)
	}
	return s, nil
}

// Addr is the bound address of listener i, in the order given to New.
func (s *Server) Addr(i int) net.Addr { return s.addrs[i] }

func (s *Server) closeListeners() {
	for _, ln := range s.lns {
		ln.Close()
	}
}

// Serve serves until ctx ends, then stops accepting, lets requests in
// flight finish (up to grace) and returns.
func (s *Server) Serve(ctx context.Context, grace time.Duration) error {
	errc := make(chan error, len(s.servers))
	for i, srv := range s.servers {
		go func() {
			if err := srv.Serve(s.lns[i]); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range s.servers {
		wg.Go(func() {
			if serr := srv.Shutdown(sctx); serr != nil {
				s.log.Warn("server: shutdown did not finish in time", "err", serr)
				srv.Close()
			}
		})
	}
	wg.Wait()
	return err
}

// wrap adds, outermost first: panic containment, metrics, the body read
// ahead (bounded, at a minimum rate) and the concurrency bound of the
// request's service.
func (s *Server) wrap(l Listener) http.Handler {
	svcs := newServices(&l.Limits)
	wait := l.Limits.ReadTimeout
	inner := l.Handler
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("server: handler panicked", "listener", l.Name, "path", r.URL.Path, "panic", p)
				if !rec.wrote {
					http.Error(rec, "internal error", http.StatusInternalServerError)
				}
			}
			s.metrics.observe(l.Name, r.Method, rec.status, time.Since(start))
		}()
		svc := svcs[serviceOf(r.URL.Path)]
		// 1. The body, before a slot: waiting for a client takes none.
		if r.Body != nil && r.Body != http.NoBody {
			lim := &l.Limits
			if n, ok := lim.LargeBodies[r.URL.Path]; ok && n > lim.MaxBodyBytes {
				large := *lim
				large.MaxBodyBytes = n
				lim = &large
			}
			body, reserved, err := readBody(w, r, lim, svc)
			defer svc.release(reserved)
			if err != nil {
				s.bodyFailed(rec, l.Name, svc.name, err)
				return
			}
			r.Body = body
		}
		// 2. A slot of the request's service.
		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case svc.slots <- struct{}{}:
			defer func() { <-svc.slots }()
		case <-timer.C:
			s.metrics.busy.WithLabelValues(l.Name, svc.name).Inc()
			rec.Header().Set("Retry-After", "1")
			http.Error(rec, "server busy; retry shortly", http.StatusServiceUnavailable)
			return
		case <-r.Context().Done():
			return
		}
		inner.ServeHTTP(rec, r)
	})
}

// bodyFailed answers a request whose body could not be read ahead.
func (s *Server) bodyFailed(w http.ResponseWriter, listener, service string, err error) {
	w.Header().Set("Connection", "close")
	switch {
	case errors.Is(err, errSlowBody):
		s.metrics.slowBodies.WithLabelValues(listener, service).Inc()
		http.Error(w, "request body too slow", http.StatusRequestTimeout)
	case errors.Is(err, errBufferFull):
		s.metrics.busy.WithLabelValues(listener, service).Inc()
		w.Header().Set("Retry-After", "1")
		http.Error(w, "server busy; retry shortly", http.StatusServiceUnavailable)
	default: // the client went away, or sent a broken chunked body
		http.Error(w, "reading request body failed", http.StatusBadRequest)
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

type metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	busy       *prometheus.CounterVec // listener, service
	slowBodies *prometheus.CounterVec // listener, service
	// connections by listener
	connections *prometheus.GaugeVec
	refused     *prometheus.CounterVec
	evicted     *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oces_http_requests_total", Help: "HTTP requests by listener, method and status code.",
		}, []string{"listener", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "oces_http_request_duration_seconds", Help: "HTTP request latency by listener.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"listener"}),
		busy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oces_http_busy_total", Help: "Requests answered 503 because their service had no free slot or buffer.",
		}, []string{"listener", "service"}),
		slowBodies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oces_http_slow_bodies_total", Help: "Requests cut off because their body came slower than the minimum rate.",
		}, []string{"listener", "service"}),
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "oces_http_connections", Help: "Open connections by listener.",
		}, []string{"listener"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oces_http_connections_refused_total", Help: "Connections closed on accept because the listener was at its cap with every connection at work.",
		}, []string{"listener"}),
		evicted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oces_http_connections_evicted_total", Help: "Idle connections closed to make room for new ones at the cap.",
		}, []string{"listener"}),
	}
	reg.MustRegister(m.requests, m.duration, m.busy, m.slowBodies, m.connections, m.refused, m.evicted)
	return m
}

func (m *metrics) observe(listener, method string, code int, d time.Duration) {
	m.requests.WithLabelValues(listener, methodLabel(method), strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(listener).Observe(d.Seconds())
}

// MetricsHandler serves the registry in the Prometheus text format.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
