package server

import (
	"strings"
	"sync/atomic"
)

// The services of the listeners, named by the first part of the request
// path. Each has its own concurrency slots and its own buffer budget for
// request bodies, so that one service's clients cannot starve another's.
const (
	ServiceOCSP   = "ocsp"   // /ocsp, /ocsp/<request>
	ServiceCRL    = "crl"    // /crl/…
	ServiceTSA    = "tsa"    // /tsa
	ServiceCA     = "ca"     // /ca/<ca>.cer
	ServiceHealth = "health" // /healthz, /readyz, /metrics
	ServiceAPI    = "api"    // /api/… (the admin API)
	ServiceOther  = "other"  // every other path
)

// ServiceNames lists the services, for validating configuration.
func ServiceNames() []string {
	return []string{ServiceOCSP, ServiceCRL, ServiceTSA, ServiceCA, ServiceHealth, ServiceAPI, ServiceOther}
}

// serviceOf names the service of a request path.
func serviceOf(path string) string {
	first, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	switch first {
	case "ocsp":
		return ServiceOCSP
	case "crl":
		return ServiceCRL
	case "tsa":
		return ServiceTSA
	case "ca":
		return ServiceCA
	case "healthz", "readyz", "metrics":
		return ServiceHealth
	case "api":
		return ServiceAPI
	}
	return ServiceOther
}

// service is one service's share of a listener.
type service struct {
	name        string
	slots       chan struct{} // requests at work
	buffered    atomic.Int64  // bytes of request bodies held in memory
	maxBuffered int64
}

func newServices(l *Limits) map[string]*service {
	svcs := make(map[string]*service)
	for _, name := range ServiceNames() {
		n := l.MaxConcurrent
		if v, ok := l.ServiceConcurrent[name]; ok && v > 0 {
			n = v
		}
		svcs[name] = &service{name: name, slots: make(chan struct{}, n), maxBuffered: l.MaxBufferedBytes}
	}
	return svcs
}

// reserve takes n bytes of the buffer budget, or reports false.
func (s *service) reserve(n int64) bool {
	if s.buffered.Add(n) > s.maxBuffered {
		s.buffered.Add(-n)
		return false
	}
	return true
}

func (s *service) release(n int64) { s.buffered.Add(-n) }
