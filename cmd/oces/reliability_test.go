package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/oces-pki/oces/api"
)

// The tests of issue 16 (items 1 and 2): what an attacker or a careless
// client can do to 'oces serve' from outside with connections alone.

// openFileLimit is a wrapper for serveWrapped that runs the server with
// RLIMIT_NOFILE (soft and hard) lowered to n, so that a few hundred
// connections are enough to reach it.
func openFileLimit(n int) []string {
	return []string{"sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, n)}
}

// quick is an HTTP client that gives up after five seconds, so that a
// listener that no longer accepts fails the test instead of hanging it.
var quick = &http.Client{Timeout: 5 * time.Second}

func quickGet(url string) (int, string, error) {
	resp, err := quick.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// flood opens n connections to addr, sends one GET /healthz on each and
// leaves it open and idle, as a keep-alive client does. It returns the
// connections (closed at the end of the test) and how many were answered
// within two seconds.
func flood(tb testing.TB, addr string, n int) ([]net.Conn, int) {
	tb.Helper()
	var (
		mu       sync.Mutex
		conns    []net.Conn
		answered atomic.Int64
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, 64) // dial in waves, not all at once
	for range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: flood\r\n\r\n"); err != nil {
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			answered.Add(1)
		})
	}
	wg.Wait()
	tb.Cleanup(func() { closeAll(conns) })
	return conns, int(answered.Load())
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// metric returns the value of the Prometheus sample name{labels} in text,
// or -1 if there is none. labels is the exact label set as printed, e.g.
// `listener="public"`.
func metric(text, name, labels string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name+"{"+labels+"}") + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return -1
	}
	return v
}

func issueVOCES(ctx context.Context, tb testing.TB, cl *api.Client) (*api.Certificate, error) {
	tb.Helper()
	return cl.Issue(ctx, api.IssueRequest{Profile: "voces", CSR: csrPEM(tb), Organization: "Firma A/S", CVR: "12345678"})
}

// TestConnectionFloodIsCapped is issue 16 item 1: idle keep-alive
// connections to the public port used up the process's open files, after
// which the HSM failed until a restart. With the open-file limit at 256 the
// default cap is 64 connections per listener, and 400 idle connections
// are enough to show it.
func TestConnectionFloodIsCapped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "p-256")
	s := e.serveWrapped(openFileLimit(256))
	if !strings.Contains(s.stderr.String(), "open-file limit") {
		t.Errorf("the server does not log its open-file limit:\n%s", tail(s.stderr.String(), 2048))
	}
	cl := e.client(e.officer)
	ctx := t.Context()
	if _, err := issueVOCES(ctx, t, cl); err != nil {
		t.Fatalf("issuing before the flood: %v", err)
	}
	conns, answered := flood(t, s.public, 400)
	t.Logf("flood: %d connections open, %d answered", len(conns), answered)

	// Signing keeps working, over the admin listener and on the public one.
	if _, err := issueVOCES(ctx, t, cl); err != nil {
		t.Errorf("issuing during the flood: %v", err)
	}
	base := "http://" + s.public
	if code, body, err := quickGet(base + "/readyz"); err != nil || code != http.StatusOK {
		t.Errorf("GET /readyz during the flood: %d %q %v", code, body, err)
	}
	// The cap holds, and the flood's idle connections made room for ours.
	_, m, err := quickGet(base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics during the flood: %v", err)
	}
	if open := metric(m, "oces_http_connections", `listener="public"`); open < 1 || open > 64 {
		t.Errorf("oces_http_connections{listener=public} = %v during the flood, want 1..64 (the cap)", open)
	}
	if ev := metric(m, "oces_http_connections_evicted_total", `listener="public"`); ev < 1 {
		t.Errorf("oces_http_connections_evicted_total{listener=public} = %v, want idle connections closed for new ones", ev)
	}
	if n := openFiles(t, s.cmd.Process.Pid); n > 200 {
		t.Errorf("the server has %d files open during the flood, want well below its limit of 256", n)
	}

	closeAll(conns)
	if _, err := issueVOCES(ctx, t, cl); err != nil {
		t.Errorf("issuing after the flood: %v", err)
	}
	s.stop()
}

// TestHSMRecoversAfterFileExhaustion is the second half of issue 16 item
// 1: with the connection cap lifted, a flood does exhaust the open files and
// the HSM fails. /readyz says so, and once the flood is gone the token is
// re-initialised and everything works again without a restart.
func TestHSMRecoversAfterFileExhaustion(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "p-256")
	cfg, err := os.ReadFile(e.path("oces.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	e.write("oces.yaml", strings.Replace(string(cfg), "limits: {read_timeout: 2s}", "limits: {read_timeout: 2s, max_connections: 100000}", 1))
	s := e.serveWrapped(openFileLimit(256))
	cl := e.client(e.officer)
	ctx := t.Context()
	if _, err := issueVOCES(ctx, t, cl); err != nil {
		t.Fatalf("issuing before the flood: %v", err)
	}
	// A keep-alive connection to the public listener, opened before the
	// flood, to ask /readyz while no new connection can be accepted.
	ready := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	base := "http://" + s.public
	readyz := func() (int, string) {
		resp, err := ready.Get(base + "/readyz")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("GET /readyz before the flood: %d %s", code, body)
	}

	conns, answered := flood(t, s.public, 400)
	t.Logf("flood: %d connections open, %d answered", len(conns), answered)
	_, ierr := issueVOCES(ctx, t, cl)
	t.Logf("issuing while the server is out of files: %v", ierr)
	code, body := readyz()
	t.Logf("GET /readyz while the server is out of files: %d %s", code, body)
	if ierr == nil {
		t.Error("issuance succeeded with no file descriptors left; the test did not exhaust them")
	}
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "hsm") {
		t.Errorf("GET /readyz while the HSM fails: %d %q, want 503 naming the HSM", code, body)
	}

	closeAll(conns)
	freed := time.Now()
	deadline := freed.Add(30 * time.Second)
	for {
		code, body := readyz()
		if code == http.StatusOK {
			t.Logf("GET /readyz 200 again %s after the flood ended", time.Since(freed).Round(10*time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /readyz 30s after the flood: %d %s; the HSM did not come back without a restart", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := issueVOCES(ctx, t, cl); err != nil {
		t.Errorf("issuing after the flood: %v", err)
	}
	if !strings.Contains(s.stderr.String(), "re-initialised PKCS#11 module") {
		t.Errorf("the server log does not show the module re-initialisation:\n%s", tail(s.stderr.String(), 4096))
	}
	s.stop()
}

// openFiles counts the open file descriptors of process pid.
func openFiles(tb testing.TB, pid int) int {
	tb.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		tb.Skipf("counting open files: %v", err)
	}
	return len(ents)
}

// TestSlowBodiesDoNotStarve is issue 16 item 2: 600 connections trickling
// POST /ocsp bodies at a byte a second held every concurrency slot of the
// public listener, so a pre-signed OCSP GET took 14.5 s. Waiting for a
// client's body must not take a slot, and one service's clients must not
// starve another's.
func TestSlowBodiesDoNotStarve(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "p-256")
	s := e.serve()
	base := "http://" + s.public
	c, err := issueVOCES(t.Context(), t, e.client(e.officer))
	if err != nil {
		t.Fatal(err)
	}
	leaf := readCertPEM(t, c.PEM)
	req, err := xocsp.CreateRequest(leaf, readCert(t, e.path("ca/issuing-1.pem")), nil)
	if err != nil {
		t.Fatal(err)
	}
	urls := []string{
		base + "/ocsp/" + url.PathEscape(base64.StdEncoding.EncodeToString(req)),
		base + "/crl/issuing-1.crl",
		base + "/healthz",
	}
	for _, u := range urls { // warm: the OCSP response is signed once
		if code, body, err := quickGet(u); err != nil || code != http.StatusOK {
			t.Fatalf("GET %s before the trickle: %d %.100q %v", u, code, body, err)
		}
	}

	const tricklers = 600
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var connected, cut atomic.Int64
	for range tricklers {
		wg.Go(func() {
			first := true
			for ctx.Err() == nil {
				if trickle(ctx, s.public, func() {
					if first {
						connected.Add(1)
						first = false
					}
				}) {
					cut.Add(1)
				}
			}
		})
	}
	defer func() {
		stop()
		wg.Wait()
	}()
	for deadline := time.Now().Add(20 * time.Second); connected.Load() < tricklers; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d trickling clients connected", connected.Load(), tricklers)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // every trickler has sent its headers
	for round := range 4 {
		for _, u := range urls {
			start := time.Now()
			code, body, err := quickGet(u)
			// A robustness bound, not a measurement: the bad case was 14.5 s.
			if d := time.Since(start); err != nil || code != http.StatusOK || d > time.Second {
				t.Errorf("round %d: GET %s with %d slow bodies in flight: %d %.100q %v after %s, want 200 within 1s",
					round, u[len(base):min(len(u), len(base)+40)], tricklers, code, body, err, d.Round(time.Millisecond))
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	stop()
	wg.Wait()
	t.Logf("slow bodies cut by the server: %d", cut.Load())
	if cut.Load() == 0 {
		t.Error("no slow body was cut off")
	}
	s.stop()
}

// trickle sends a POST /ocsp whose 64-byte body comes at a byte a second,
// until ctx ends or the server closes the connection; it reports whether
// the server did. connected is called once the headers are sent.
func trickle(ctx context.Context, addr string, connected func()) bool {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		time.Sleep(100 * time.Millisecond)
		return false
	}
	defer c.Close()
	if _, err := fmt.Fprintf(c, "POST /ocsp HTTP/1.1\r\nHost: slow\r\nContent-Type: application/ocsp-request\r\nContent-Length: 64\r\n\r\n"); err != nil {
		return false
	}
	connected()
	closed := make(chan struct{})
	go func() { // the server's answer or close ends the trickle
		_, _ = io.Copy(io.Discard, c)
		close(closed)
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for range 64 {
		select {
		case <-ctx.Done():
			return false
		case <-closed:
			return true
		case <-tick.C:
			if _, err := c.Write([]byte{0x30}); err != nil {
				return true
			}
		}
	}
	<-closed
	return true
}

func readCertPEM(tb testing.TB, s string) *x509.Certificate {
	tb.Helper()
	c, err := x509.ParseCertificate(pemDER(tb, s))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// TestLimitsConfig: the settings of docs/reliability.md are validated
// with messages that name the field.
func TestLimitsConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		limits LimitsConfig
		want   string // "" for valid
	}{
		{"defaults", LimitsConfig{}, ""},
		{"all set", LimitsConfig{MaxConnections: 1000, MinBodyRate: 512, MaxBufferedBytes: 1 << 20,
			MaxConcurrentByService: map[string]int{"tsa": 64, "ocsp": 1024}}, ""},
		{"negative connections", LimitsConfig{MaxConnections: -1}, "limits.max_connections"},
		{"negative rate", LimitsConfig{MinBodyRate: -1}, "limits.min_body_rate"},
		{"negative grace", LimitsConfig{BodyRateGrace: -1}, "limits.body_rate_grace"},
		{"negative buffer", LimitsConfig{MaxBufferedBytes: -1}, "limits.max_buffered_bytes"},
		{"buffer below the body bound", LimitsConfig{MaxBodyBytes: 4 << 20, MaxBufferedBytes: 2 << 20}, "limits.max_buffered_bytes: must be at least"},
		{"buffer below the default body bound", LimitsConfig{MaxBufferedBytes: 512 << 10}, "limits.max_buffered_bytes: must be at least"},
		{"small buffer, small bodies", LimitsConfig{MaxBodyBytes: 100 << 10, MaxBufferedBytes: 512 << 10}, ""},
		{"unknown service", LimitsConfig{MaxConcurrentByService: map[string]int{"ldap": 4}}, "limits.max_concurrent_by_service.ldap: no such service"},
		{"zero slots", LimitsConfig{MaxConcurrentByService: map[string]int{"tsa": 0}}, "limits.max_concurrent_by_service.tsa: must be at least 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &Config{
				PublicBaseURL: "http://pki.example.dk", Store: StoreConfig{Path: "oces.db"},
				Registry: RegistryConfig{Key: "pkcs11:token=t;object=r"},
				Issuers:  []IssuerConfig{{Name: "i", Certificate: "i.pem", Key: "pkcs11:token=t;object=i"}},
				Admin:    AdminConfig{TLSCertificate: "tls.pem", TLSKey: "pkcs11:token=t;object=tls"},
				Limits:   tc.limits,
			}
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("valid limits refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
