package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oces-pki/oces/server"
)

// slowPost sends the headers of a POST to path with a body of length
// bytes, then chunk bytes at once and every interval until the body is
// sent, ctx ends or the server stops reading. It returns the connection
// to read the answer from.
func slowPost(ctx context.Context, t *testing.T, addr, path string, length, chunk int, interval time.Duration) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n", path, length); err != nil {
		t.Fatal(err)
	}
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for sent := 0; sent < length; sent += chunk {
			if sent > 0 {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
			if _, err := c.Write([]byte(strings.Repeat("x", min(chunk, length-sent)))); err != nil {
				return
			}
		}
	}()
	return c
}

func readAnswer(t *testing.T, c net.Conn, within time.Duration) (int, string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer within %s: %v", within, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// TestMinimumBodyRate: once the grace has passed, a body must keep coming
// at the minimum rate (issue 16 item 2); one that does is read however
// long it takes within the read timeout.
func TestMinimumBodyRate(t *testing.T) {
	t.Parallel()
	limits := server.Limits{MinBodyRate: 100, BodyRateGrace: 300 * time.Millisecond, ReadTimeout: 10 * time.Second}
	s := start(t, limits, routes(nil))
	cases := []struct {
		name            string
		length, chunk   int
		interval        time.Duration
		code            int
		answer          string
		atLeast, within time.Duration
	}{
		// A byte every 200 ms is 5 bytes a second: cut once the grace is over.
		{"trickle", 100, 1, 200 * time.Millisecond, http.StatusRequestTimeout, "request body too slow", 300 * time.Millisecond, 2 * time.Second},
		// 20 bytes every 100 ms is 200 bytes a second: read in full.
		{"slow but steady", 300, 20, 100 * time.Millisecond, http.StatusOK, "300", 1400 * time.Millisecond, 5 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			begin := time.Now()
			c := slowPost(t.Context(), t, s.addr, "/ocsp", tc.length, tc.chunk, tc.interval)
			code, answer := readAnswer(t, c, tc.within)
			took := time.Since(begin)
			if code != tc.code || answer != tc.answer || took < tc.atLeast {
				t.Errorf("%d %q after %s, want %d %q after at least %s", code, answer, took, tc.code, tc.answer, tc.atLeast)
			}
		})
	}
	t.Cleanup(func() {
		if n := s.metric(t, "oces_http_slow_bodies_total", "listener", "public", "service", "ocsp"); n != 1 {
			t.Errorf("slow bodies counted: %v, want 1", n)
		}
	})
}

// TestSlowBodiesTakeNoSlot: requests whose bodies trickle in hold no
// concurrency slot, so even their own service answers others at once.
func TestSlowBodiesTakeNoSlot(t *testing.T) {
	t.Parallel()
	limits := server.Limits{MaxConcurrent: 2, MinBodyRate: 1, BodyRateGrace: 20 * time.Second, ReadTimeout: 30 * time.Second}
	s := start(t, limits, routes(nil))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for range 20 {
		slowPost(ctx, t, s.addr, "/ocsp", 64, 1, time.Second)
	}
	time.Sleep(200 * time.Millisecond) // all inside readBody
	for _, path := range []string{"/ocsp/abc", "/crl/x.crl", "/healthz"} {
		begin := time.Now()
		code, err := s.get(path)
		if took := time.Since(begin); err != nil || code != http.StatusOK || took > time.Second {
			t.Errorf("GET %s beside 20 slow bodies and 2 slots: %d %v after %s", path, code, err, took)
		}
	}
}

// TestServiceSlotsAreSeparate: one service at its limit with real work
// does not slow another; its own excess waits, then gets 503.
func TestServiceSlotsAreSeparate(t *testing.T) {
	t.Parallel()
	g := newGate()
	limits := server.Limits{ServiceConcurrent: map[string]int{server.ServiceOCSP: 2}, ReadTimeout: 500 * time.Millisecond}
	s := start(t, limits, routes(map[string]*gate{"/ocsp/": g}))
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { _, _ = s.get("/ocsp/busy") })
	}
	g.wait(t, 2)
	// Sharing OCSP's slots it would wait the 500 ms and get 503.
	if code, err := s.get("/crl/x.crl"); err != nil || code != http.StatusOK {
		t.Errorf("GET /crl/x.crl with OCSP at its limit: %d %v", code, err)
	}
	if code, _ := s.get("/ocsp/third"); code != http.StatusServiceUnavailable {
		t.Errorf("a third OCSP request with 2 slots busy: %d, want 503", code)
	}
	if n := s.metric(t, "oces_http_busy_total", "service", "ocsp"); n != 1 {
		t.Errorf("busy{service=ocsp} = %v, want 1", n)
	}
	close(g.release)
	wg.Wait()
}

// TestOversizedBodyReachesHandler: a body over MaxBodyBytes is left to the
// handler to refuse in its own protocol, with the bytes up to the bound.
func TestOversizedBodyReachesHandler(t *testing.T) {
	t.Parallel()
	s := start(t, server.Limits{MaxBodyBytes: 100}, routes(nil))
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	code, err := roundTrip(c, bufio.NewReader(c), "POST", "/tsa", strings.Repeat("x", 300))
	if err != nil || code != http.StatusRequestEntityTooLarge {
		t.Errorf("300 bytes to a 100-byte bound: %d %v, want the handler's 413", code, err)
	}
}

// TestBufferBudgetPerService: the bodies of one service held in memory are
// bounded; past the bound its requests get 503, another service's do not.
func TestBufferBudgetPerService(t *testing.T) {
	t.Parallel()
	limits := server.Limits{MaxBufferedBytes: 8 << 10, MinBodyRate: 1, BodyRateGrace: 20 * time.Second, ReadTimeout: 30 * time.Second}
	s := start(t, limits, routes(nil))
	post := func(path string, n int) (int, string) {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n%s", path, n, strings.Repeat("x", n))
		return readAnswer(t, c, 5*time.Second)
	}
	if code, answer := post("/ocsp", 2<<10); code != http.StatusOK || answer != "2048" {
		t.Errorf("2 KiB: %d %q", code, answer)
	}
	if code, _ := post("/ocsp", 64<<10); code != http.StatusServiceUnavailable {
		t.Errorf("64 KiB with 8 KiB of buffer: %d, want 503", code)
	}
	// A slow client holds 8 KiB of OCSP's budget (6 KiB sent of 12).
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	slowPost(ctx, t, s.addr, "/ocsp", 12<<10, 6<<10, time.Minute)
	time.Sleep(300 * time.Millisecond)
	if code, _ := post("/ocsp", 1<<10); code != http.StatusServiceUnavailable {
		t.Errorf("OCSP with its buffer held: %d, want 503", code)
	}
	if code, answer := post("/tsa", 1<<10); code != http.StatusOK || answer != "1024" {
		t.Errorf("TSA with OCSP's buffer held: %d %q, want 200", code, answer)
	}
}

// TestHandlerOutlivesBodyDeadline: once the body is in, the deadlines of
// the body rate and of the read timeout are lifted (as net/http itself does
// when a body ends), so a handler working past them keeps its request
// context.
func TestHandlerOutlivesBodyDeadline(t *testing.T) {
	t.Parallel()
	limits := server.Limits{MinBodyRate: 1000, BodyRateGrace: 100 * time.Millisecond, ReadTimeout: 400 * time.Millisecond}
	s := start(t, limits, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		time.Sleep(800 * time.Millisecond)
		if err := r.Context().Err(); err != nil {
			http.Error(w, "context: "+err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "done\n")
	}))
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if code, err := roundTrip(c, bufio.NewReader(c), "POST", "/api/v1/x", "{}"); err != nil || code != http.StatusOK {
		t.Errorf("handler working 800 ms, past a 100 ms body grace and a 400 ms read timeout: %d %v", code, err)
	}
}
