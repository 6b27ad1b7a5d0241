package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oces-pki/oces/api"
)

// served is a running 'oces serve' subprocess.
type served struct {
	tb             testing.TB
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{} // closed when the process has exited
	public, admin  string        // host:port of the listeners
}

// syncBuffer is a bytes.Buffer safe for the process's writer and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var listenLine = regexp.MustCompile(`(?m)^(public|admin)\s+(https?)://(\S+)$`)

// serve starts 'oces serve' on e's configuration, reads the listeners'
// addresses from its standard output, waits until /healthz answers 200 and
// points e's cert commands at the admin listener. The process is killed at
// the end of the test if it still runs.
func (e *env) serve() *served {
	e.tb.Helper()
	return e.serveWrapped(nil)
}

// serveWrapped is serve with the command prefixed by wrapper, a program
// that execs its arguments (to lower a resource limit, say).
func (e *env) serveWrapped(wrapper []string) *served {
	e.tb.Helper()
	for attempt := 1; ; attempt++ {
		s, ok := e.startServe(wrapper, attempt == 3)
		if ok {
			return s
		}
		e.tb.Logf("oces serve: retrying after a transient SoftHSM error: %s", strings.TrimSpace(s.stderr.String()))
	}
}

// startServe starts the server once; it returns false if the server
// failed in opening SoftHSM (see hsmInitFailed) and last is false.
func (e *env) startServe(wrapper []string, last bool) (*served, bool) {
	e.tb.Helper()
	s := &served{tb: e.tb, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	args := append(append([]string(nil), wrapper...), ocesBinary(e.tb), "serve", "--config", e.path("oces.yaml"))
	s.cmd = exec.Command(args[0], args[1:]...)
	s.cmd.Dir = e.dir
	s.cmd.Env = append(os.Environ(), e.tok.Env()...)
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
	if err := s.cmd.Start(); err != nil {
		e.tb.Fatal(err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.done)
	}()
	e.tb.Cleanup(func() {
		if !s.exited() {
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		if e.tb.Failed() {
			e.tb.Logf("oces serve (pid %d) standard error, last 4 KiB:\n%s", s.cmd.Process.Pid, tail(s.stderr.String(), 4096))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(s.stdout.String(), "\nready;") {
		if s.exited() {
			if !last && hsmInitFailed(s.stderr.String()) {
				return s, false
			}
			e.tb.Fatalf("oces serve exited with %d before it was ready:\n%s", s.cmd.ProcessState.ExitCode(), s.stderr.String())
		}
		if time.Now().After(deadline) {
			e.tb.Fatalf("oces serve not ready after 60s; stdout %q", s.stdout.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, m := range listenLine.FindAllStringSubmatch(s.stdout.String(), -1) {
		switch m[1] {
		case "public":
			s.public = m[3]
		case "admin":
			s.admin = m[3]
		}
	}
	if s.public == "" || s.admin == "" {
		e.tb.Fatalf("oces serve did not print both listeners: %q", s.stdout.String())
	}
	for {
		resp, err := http.Get("http://" + s.public + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			e.tb.Fatalf("GET /healthz: no 200 within 60s (last: %v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.adminURL = "https://" + s.admin
	return s, true
}

func (s *served) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// stop sends SIGINT, as Ctrl-C does, and fails the test unless the server
// exits 0 within the grace period.
func (s *served) stop() {
	s.tb.Helper()
	s.stopWith(os.Interrupt)
}

// stopWith is stop with another signal (SIGTERM, as systemd sends).
func (s *served) stopWith(sig os.Signal) {
	s.tb.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.tb.Fatal(err)
	}
	s.wait(40 * time.Second)
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		s.tb.Fatalf("oces serve exited %d after %v, want 0:\n%s", code, sig, tail(s.stderr.String(), 4096))
	}
}

// kill ends the server with SIGKILL, as a crash or power loss would.
func (s *served) kill() {
	s.tb.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		s.tb.Fatal(err)
	}
	s.wait(10 * time.Second)
}

func (s *served) wait(d time.Duration) {
	s.tb.Helper()
	select {
	case <-s.done:
	case <-time.After(d):
		s.tb.Fatalf("oces serve did not exit within %s", d)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// httpClient is a plain HTTPS client of the admin listener presenting c
// (or no certificate when c is the zero credential).
func (e *env) httpClient(c credential) *http.Client {
	e.tb.Helper()
	tc := &tls.Config{RootCAs: e.roots(), MinVersion: tls.VersionTLS12}
	if c.cert != "" {
		tc.Certificates = []tls.Certificate{e.pair(c)}
	}
	tr := &http.Transport{TLSClientConfig: tc}
	e.tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// TestServeGracefulShutdown interrupts the server while a request is in
// flight (its body half sent): the request still gets its answer, the
// certificate is issued, and the server exits 0.
func TestServeGracefulShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "p-256")
	s := e.serve()
	pair := e.pair(e.officer)
	conn, err := tls.Dial("tcp", s.admin, &tls.Config{RootCAs: e.roots(), Certificates: []tls.Certificate{pair}, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body, _ := json.Marshal(api.IssueRequest{Profile: "voces", CSR: csrPEM(t), Organization: "Firma A/S", CVR: "12345678"})
	half := len(body) / 2
	fmt.Fprintf(conn, "POST /api/v1/certificates HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", s.admin, len(body))
	if _, err := conn.Write(body[:half]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the server has read the header: the request is active
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	// The listeners close at once; the request in flight goes on.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.public, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the public listener still accepts connections 5s after SIGINT")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s.exited() {
		t.Fatal("oces serve exited with a request in flight")
	}
	if _, err := conn.Write(body[half:]); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to the request in flight: %v", err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var c api.Certificate
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(data, &c) != nil || c.Status != "good" {
		t.Fatalf("request in flight: %s %s", resp.Status, data)
	}
	s.wait(40 * time.Second)
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("oces serve exited %d after SIGINT, want 0", code)
	}
	// What the server answered is in the store.
	s = e.serve()
	got, err := e.client(e.officer).Show(t.Context(), c.Serial)
	if err != nil || got.PEM != c.PEM {
		t.Fatalf("certificate issued during shutdown: %v, stored %q", err, got.PEM)
	}
	s.stop()
}

// TestPublicEndpoints checks the public listener (CA certificates, health,
// metrics), the slow-client bounds of both listeners, and the body bound
// of the admin API.
func TestPublicEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "p-256")
	s := e.serve()
	base := "http://" + s.public

	// Slow clients run alongside the rest: half a request line on the
	// public listener, nothing at all (not even a TLS hello) on the admin
	// listener. read_timeout is 2s in the test configuration.
	var wg sync.WaitGroup
	for _, addr := range []struct{ name, addr, send string }{
		{"public", s.public, "GET /healthz HT"},
		{"admin", s.admin, ""},
	} {
		wg.Go(func() {
			d, err := slowClient(addr.addr, addr.send)
			if err != nil {
				t.Errorf("slow client on the %s listener: %v", addr.name, err)
				return
			}
			t.Logf("slow client on the %s listener: closed after %s", addr.name, d.Round(10*time.Millisecond))
			if d >= 10*time.Second {
				t.Errorf("slow client on the %s listener: closed after %s, want < 10s", addr.name, d)
			}
		})
	}

	for _, name := range []string{"root", "issuing-1"} {
		resp, err := http.Get(base + "/ca/" + name + ".cer")
		if err != nil {
			t.Fatal(err)
		}
		der, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/pkix-cert" {
			t.Errorf("GET /ca/%s.cer: %s, Content-Type %q", name, resp.Status, resp.Header.Get("Content-Type"))
			continue
		}
		x, err := x509.ParseCertificate(der)
		if err != nil {
			t.Errorf("GET /ca/%s.cer: not DER: %v", name, err)
			continue
		}
		if want := readCert(t, e.path("ca/"+name+".pem")); !bytes.Equal(x.Raw, want.Raw) {
			t.Errorf("GET /ca/%s.cer is not ca/%s.pem", name, name)
		}
	}
	// The caIssuers URL of an issued certificate names a file served here.
	issued, err := e.client(e.officer).Issue(t.Context(), api.IssueRequest{Profile: "voces", CSR: csrPEM(t), Organization: "Firma A/S", CVR: "12345678"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(pemDER(t, issued.PEM))
	if len(leaf.IssuingCertificateURL) == 0 {
		t.Error("issued certificate has no caIssuers URL")
	}
	for _, u := range leaf.IssuingCertificateURL {
		path := u[strings.Index(u, "/ca/"):]
		if code := get(t, base+path); code != http.StatusOK {
			t.Errorf("caIssuers %s: GET %s: %d", u, path, code)
		}
	}

	cases := []struct {
		method, path string
		code         int
		contains     string
	}{
		{"GET", "/healthz", 200, "ok"},
		{"HEAD", "/ca/root.cer", 200, ""},
		{"GET", "/ca/nope.cer", 404, ""},
		{"GET", "/ca/root.pem", 404, ""},
		{"POST", "/ca/root.cer", 405, ""},
		{"GET", "/metrics", 200, "oces_http_requests_total{"},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, base+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.Contains(string(body), c.contains) {
			t.Errorf("%s %s: %d %.200q, want %d containing %q", c.method, c.path, resp.StatusCode, body, c.code, c.contains)
		}
	}
	// The admin listener's requests are counted too; a made-up method is
	// "other"; a malformed OCSP request is counted by its response status.
	if req, _ := http.NewRequest("BREW", base+"/ca/root.cer", nil); req != nil {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	if resp, err := http.Post(base+"/ocsp", "application/ocsp-request", strings.NewReader("not a request")); err == nil {
		resp.Body.Close()
	}
	m := getBody(t, base+"/metrics")
	for _, want := range []string{`oces_http_requests_total{code="201",listener="admin",method="POST"}`, `method="other"`,
		`oces_ocsp_responses_total{cert_status="none",status="malformedRequest"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "oces_"))
		}
	}
	if strings.Contains(m, "BREW") {
		t.Errorf("a client's made-up method is a label value:\n%s", grepLines(m, "BREW"))
	}

	// Request bodies are bounded: an oversized JSON body gets 413 with a
	// JSON error, malformed JSON 400.
	hc := e.httpClient(e.officer)
	big, _ := json.Marshal(api.IssueRequest{Profile: "moces", CSR: strings.Repeat("A", 200<<10)})
	for _, c := range []struct {
		name string
		body []byte
		code int
	}{
		{"oversized", big, http.StatusRequestEntityTooLarge},
		{"malformed", []byte(`{"profile": "moces",`), http.StatusBadRequest},
		{"unknown field", []byte(`{"profile": "moces", "colour": "blue"}`), http.StatusBadRequest},
	} {
		resp, err := hc.Post(e.adminURL+"/api/v1/certificates", "application/json", bytes.NewReader(c.body))
		if err != nil {
			t.Errorf("%s body: %v", c.name, err)
			continue
		}
		var msg api.Error
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || json.Unmarshal(data, &msg) != nil || msg.Error == "" {
			t.Errorf("%s body: %s %.200q, want %d with a JSON error", c.name, resp.Status, data, c.code)
		}
	}
	// Bad input anywhere in the API is a 4xx with a JSON message.
	for _, c := range []struct {
		method, path, body string
		code               int
	}{
		{"GET", "/api/v1/certificates/xyz", "", http.StatusBadRequest},
		{"GET", "/api/v1/certificates/" + strings.Repeat("f", 200), "", http.StatusBadRequest},
		{"GET", "/api/v1/certificates?limit=5000", "", http.StatusBadRequest},
		{"GET", "/api/v1/certificates?limit=-1", "", http.StatusBadRequest},
		{"GET", "/api/v1/certificates?after=zz", "", http.StatusBadRequest},
		{"GET", "/api/v1/certificates?status=lost", "", http.StatusBadRequest},
		{"POST", "/api/v1/certificates/" + issued.Serial + "/revoke", `{"reason": "certificateHold"}`, http.StatusBadRequest},
		{"POST", "/api/v1/certificates/" + issued.Serial + "/revoke", `{"reason": "superseded", "invalidity_date": "yesterday"}`, http.StatusBadRequest},
		{"POST", "/api/v1/certificates/" + issued.Serial + "/release", `{}`, http.StatusConflict},
		{"POST", "/api/v1/certificates", `{"profile": "voces", "csr": "", "cvr": "12345678", "organization": "Firma A/S"}`, http.StatusBadRequest},
		{"POST", "/api/v1/certificates", `{"profile": "voces", "csr": ` + jsonString(csrPEM(t)) + `, "cvr": "1234", "organization": "Firma A/S"}`, http.StatusBadRequest},
		{"GET", "/api/v1/subjects/CVR:99999999-UID:00000000", "", http.StatusNotFound},
	} {
		req, _ := http.NewRequest(c.method, e.adminURL+c.path, strings.NewReader(c.body))
		resp, err := hc.Do(req)
		if err != nil {
			t.Errorf("%s %s: %v", c.method, c.path, err)
			continue
		}
		var msg api.Error
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || json.Unmarshal(data, &msg) != nil || msg.Error == "" {
			t.Errorf("%s %.60s %s: %s %.200q, want %d with a JSON error", c.method, c.path, c.body, resp.Status, data, c.code)
		}
	}
	wg.Wait()
	s.stop()
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// slowClient connects to addr, sends send and nothing more, and returns
// how long the server took to close the connection.
func slowClient(addr, send string) (time.Duration, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, send); err != nil {
		return 0, err
	}
	_ = conn.SetReadDeadline(start.Add(20 * time.Second))
	_, err = io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return 0, fmt.Errorf("still open after %s", time.Since(start))
	}
	return time.Since(start), nil
}

func get(tb testing.TB, url string) int {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func getBody(tb testing.TB, url string) string {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
