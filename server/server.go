// Package server runs the HTTP listeners of `oces serve`: the public one
// (plain HTTP, as relying parties expect: CA certificates, CRLs, OCSP,
// time-stamps, health and metrics) and the admin one (HTTPS with client
// certificates). It owns what every listener needs: timeouts for slow
// clients, bounded request bodies and concurrency, panic containment,
// Prometheus metrics, and a graceful shutdown that finishes requests in
// flight.
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
	MaxConcurrent     int           // requests served at once; default 512; more wait up to ReadTimeout, then 503
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
	for _, l := range listeners {
		l.Limits.defaults()
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			s.closeListeners()
			return nil, fmt.Errorf("server: listening on %s for %s: %w", l.Addr, l.Name, err)
		}
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
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		}
		s.servers = append(s.servers, srv)
		s.lns = append(s.lns, ln)
		s.addrs = append(s.addrs, ln.Addr())
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

// wrap adds, outermost first: panic containment, metrics, the concurrency
// bound and the body bound.
func (s *Server) wrap(l Listener) http.Handler {
	sem := make(chan struct{}, l.Limits.MaxConcurrent)
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
		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
		case <-timer.C:
			rec.Header().Set("Retry-After", "1")
			http.Error(rec, "server busy; retry shortly", http.StatusServiceUnavailable)
			return
		case <-r.Context().Done():
			return
		}
		limit := l.Limits.MaxBodyBytes
		if n, ok := l.Limits.LargeBodies[r.URL.Path]; ok && n > limit {
			limit = n
		}
		r.Body = http.MaxBytesReader(rec, r.Body, limit)
		inner.ServeHTTP(rec, r)
	})
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
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
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
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

func (m *metrics) observe(listener, method string, code int, d time.Duration) {
	m.requests.WithLabelValues(listener, method, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(listener).Observe(d.Seconds())
}

// MetricsHandler serves the registry in the Prometheus text format.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
