package server_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/oces-pki/oces/server"
)

// TestConnectionCapClosesIdleFirst: idle keep-alive connections beyond
// the cap do not pile up (issue 16 item 1); each new connection takes the
// place of the one idle longest, so every client is served.
func TestConnectionCapClosesIdleFirst(t *testing.T) {
	t.Parallel()
	s := start(t, server.Limits{MaxConnections: 8}, routes(nil))
	type kept struct {
		c  net.Conn
		br *bufio.Reader
	}
	var conns []kept
	for range 20 {
		c, br := keepAlive(t, s.addr, "/ok") // fails the test if not answered
		conns = append(conns, kept{c, br})
		// The server marks a connection idle just after it has answered;
		// let it, so that "idle longest" is the order of the connections.
		time.Sleep(20 * time.Millisecond)
	}
	if open := s.metric(t, "oces_http_connections", "listener", "public"); open != 8 {
		t.Errorf("open connections = %v, want the cap, 8", open)
	}
	if ev := s.metric(t, "oces_http_connections_evicted_total", "listener", "public"); ev != 12 {
		t.Errorf("evicted = %v, want 12", ev)
	}
	if ref := s.metric(t, "oces_http_connections_refused_total", "listener", "public"); ref > 0 {
		t.Errorf("refused = %v, want 0: there was always an idle connection to close", ref)
	}
	for i, k := range conns[:12] {
		if !closedByServer(k.c) {
			t.Errorf("connection %d, idle longest, is still open", i)
		}
	}
	for i, k := range conns[12:] {
		if code, err := roundTrip(k.c, k.br, "GET", "/ok", ""); err != nil || code != http.StatusOK {
			t.Errorf("connection %d, among the newest, no longer works: %d %v", 12+i, code, err)
		}
	}
}

// TestConnectionCapRefusesWhenAllBusy: with every connection at work, a
// new one is closed at once, and counted.
func TestConnectionCapRefusesWhenAllBusy(t *testing.T) {
	t.Parallel()
	g := newGate()
	s := start(t, server.Limits{MaxConnections: 4}, routes(map[string]*gate{"/block": g}))
	var busy []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET /block HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		busy = append(busy, c)
	}
	g.wait(t, 4)
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !closedByServer(c) {
		t.Error("a connection over the cap, all others at work, was not closed at once")
	}
	if ref := s.metric(t, "oces_http_connections_refused_total", "listener", "public"); ref != 1 {
		t.Errorf("refused = %v, want 1", ref)
	}
	close(g.release)
	for i, c := range busy {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("request %d at work: %v %v", i, resp, err)
		}
	}
	// Now idle, they make room again.
	keepAlive(t, s.addr, "/ok")
}

// TestConnectionCapSparesNewConnections: a connection that has not sent
// its first request yet is closed to make room only after a grace of a
// second; before that, the newcomer is refused.
func TestConnectionCapSparesNewConnections(t *testing.T) {
	t.Parallel()
	s := start(t, server.Limits{MaxConnections: 4}, routes(nil))
	var silent []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent = append(silent, c)
	}
	time.Sleep(100 * time.Millisecond) // accepted
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !closedByServer(c) {
		t.Error("a fifth connection displaced a new one within its grace")
	}
	time.Sleep(1100 * time.Millisecond)
	keepAlive(t, s.addr, "/ok")
	if !closedByServer(silent[0]) {
		t.Error("the oldest silent connection was not the one closed")
	}
}

// TestConnectionCapTLS: the cap sees through TLS (the admin listener).
func TestConnectionCapTLS(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	reg := prometheus.NewRegistry()
	srv, err := server.New(slog.New(slog.DiscardHandler), reg, server.Listener{
		Name: "admin", Addr: "127.0.0.1:0", Handler: routes(nil), Limits: server.Limits{MaxConnections: 3},
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{addr: srv.Addr(0).String(), reg: reg}
	ctx := t.Context()
	go func() { _ = srv.Serve(ctx, time.Second) }()
	for i := range 9 {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + s.addr + "/ok")
		if err != nil {
			t.Fatalf("TLS client %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close() // the connection stays idle in tr
	}
	if ev := s.metric(t, "oces_http_connections_evicted_total", "listener", "admin"); ev != 6 {
		t.Errorf("evicted = %v, want 6", ev)
	}
	if open := s.metric(t, "oces_http_connections", "listener", "admin"); open != 3 {
		t.Errorf("open = %v, want 3", open)
	}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
