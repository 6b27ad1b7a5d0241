package server

import (
	"container/list"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// newConnGrace is how long a new connection may take to send its first
// request headers before, at the cap, it counts as idle and may be closed
// to make room.
const newConnGrace = time.Second

// connLimiter caps the open connections of one listener, so that a flood
// of connections cannot use up the process's open files (which the HSM,
// the store and the logs need too). At the cap, a new connection takes the
// place of the one that has waited longest without a request in progress:
// first an idle keep-alive connection, then one that has not sent its first
// request headers within newConnGrace. If there is none, every connection
// is at work, and the new one is closed at once.
type connLimiter struct {
	net.Listener
	max              int
	open             prometheus.Gauge
	refused, evicted prometheus.Counter

	mu    sync.Mutex
	count int
	idle  list.List // *limitedConn between requests of a keep-alive connection, oldest first
	fresh list.List // *limitedConn that have not sent a request yet, oldest first
}

// limitedConn is a connection counted by its connLimiter.
type limitedConn struct {
	net.Conn
	l      *connLimiter
	since  time.Time     // when it joined its list
	elem   *list.Element // in l.idle or l.fresh; nil while a request is in progress
	fresh  bool          // elem is in l.fresh
	closed bool          // guarded by l.mu
}

func newConnLimiter(ln net.Listener, max int, m *metrics, listener string) *connLimiter {
	return &connLimiter{
		Listener: ln,
		max:      max,
		open:     m.connections.WithLabelValues(listener),
		refused:  m.refused.WithLabelValues(listener),
		evicted:  m.evicted.WithLabelValues(listener),
	}
}

// Accept returns the next connection, making room for it if the listener
// is at its cap, or closes it and waits for the next one if there is no
// room.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		now := time.Now()
		l.mu.Lock()
		var victim *limitedConn
		if l.count >= l.max {
			if victim = l.victim(now); victim == nil {
				l.mu.Unlock()
				l.refused.Inc()
				_ = c.Close()
				continue
			}
			l.forget(victim)
			l.evicted.Inc()
		}
		lc := &limitedConn{Conn: c, l: l, since: now, fresh: true}
		lc.elem = l.fresh.PushBack(lc)
		l.count++
		l.open.Set(float64(l.count))
		l.mu.Unlock()
		if victim != nil {
			_ = victim.Conn.Close() // the server's goroutine sees the error and lets go of it
		}
		return lc, nil
	}
}

// victim is the connection to close for a new one, or nil; l.mu is held.
func (l *connLimiter) victim(now time.Time) *limitedConn {
	if e := l.idle.Front(); e != nil {
		return e.Value.(*limitedConn)
	}
	if e := l.fresh.Front(); e != nil {
		if c := e.Value.(*limitedConn); now.Sub(c.since) >= newConnGrace {
			return c
		}
	}
	return nil
}

// forget stops counting c; l.mu is held.
func (l *connLimiter) forget(c *limitedConn) {
	if c.closed {
		return
	}
	l.unlist(c)
	c.closed = true
	l.count--
	l.open.Set(float64(l.count))
}

func (l *connLimiter) unlist(c *limitedConn) {
	if c.elem == nil {
		return
	}
	if c.fresh {
		l.fresh.Remove(c.elem)
	} else {
		l.idle.Remove(c.elem)
	}
	c.elem = nil
}

// connState is the http.Server's ConnState hook: it tells which
// connections are at work and which are waiting for a request.
func (l *connLimiter) connState(nc net.Conn, state http.ConnState) {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	c, ok := nc.(*limitedConn)
	if !ok || c.l != l || state == http.StateNew { // new ones are listed by Accept
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.closed {
		return
	}
	l.unlist(c)
	if state == http.StateIdle {
		c.since, c.fresh = time.Now(), false
		c.elem = l.idle.PushBack(c)
	}
}

// Close stops counting the connection and closes it.
func (c *limitedConn) Close() error {
	c.l.mu.Lock()
	c.l.forget(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// DefaultMaxConnections is the connection cap of a listener whose Limits
// set none: a quarter of the open-file limit (so that two listeners at
// their caps leave half the files to the HSM, the store and the logs),
// at most 4096 and at least 16.
func DefaultMaxConnections() int {
	soft, ok := openFileLimit()
	if !ok {
		return 4096
	}
	return int(min(max(soft/4, 16), 4096))
}
