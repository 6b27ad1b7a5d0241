//go:build reliability

package main

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/oces-pki/oces/api"
)

// TestSoak (issue 15, part 5) runs OCSP GET load at full speed against
// 'oces serve' with its default limits: first alone for a baseline
// (OCES_SOAK_BASELINE seconds, default 10), then for OCES_SOAK_SECONDS
// (default 60) together with 1000 slow clients that send a byte a second
// (half of them their request headers, half a POST /ocsp body after
// complete headers) and reconnect whenever the server closes them. The
// fast clients, and a probe that opens a new connection every 50 ms, must
// get every answer right with p99 under 50 ms; the server's resident set
// must stay flat (the last sample at most 25% or 32 MiB above the one
// taken after the first tenth of the run).
func TestSoak(t *testing.T) {
	baseline := time.Duration(envInt(t, "OCES_SOAK_BASELINE", 10)) * time.Second
	soak := time.Duration(envInt(t, "OCES_SOAK_SECONDS", 60)) * time.Second
	const slowClients, fastWorkers = 1000, 4
	e := newEnv(t, "p-256")
	cfg, err := os.ReadFile(e.path("oces.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	e.write("oces.yaml", strings.Replace(string(cfg), "limits: {read_timeout: 2s}\n", "", 1)) // the defaults
	s := e.serve()
	urls := ocspURLs(t, e, s, 32)

	base := runFast(t, s, urls, fastWorkers, baseline, nil)
	t.Logf("baseline, %s without slow clients: %s", baseline, base)

	ctx, cancel := context.WithCancel(t.Context())
	var slow slowStats
	var wg sync.WaitGroup
	for i := range slowClients {
		wg.Go(func() { slowClient1(ctx, s.public, i%2 == 0, &slow) })
	}
	for slow.open.Load() < slowClients*9/10 {
		time.Sleep(10 * time.Millisecond)
	}
	var rss []int
	loaded := runFast(t, s, urls, fastWorkers, soak, func() { rss = append(rss, residentKiB(t, s.cmd.Process.Pid)) })
	cancel()
	wg.Wait()
	t.Logf("soak, %s with %d slow clients: %s", soak, slowClients, loaded)
	t.Logf("slow clients: %d connections made, %d closed by the server, at most %d open at once", slow.dials.Load(), slow.closed.Load(), slow.maxOpen.Load())
	t.Logf("server RSS (KiB), one sample a second: first %d, after a tenth %d, max %d, last %d", rss[0], rss[len(rss)/10], slices.Max(rss), rss[len(rss)-1])

	for _, r := range []struct {
		name string
		st   fastStats
	}{{"fast clients", loaded}} {
		if r.st.errors > 0 {
			t.Errorf("%s: %d errors (first: %s)", r.name, r.st.errors, r.st.firstError)
		}
		if r.st.p99 > 50*time.Millisecond || r.st.probeP99 > 50*time.Millisecond {
			t.Errorf("%s: p99 %s, probe p99 %s; want both under 50ms", r.name, r.st.p99, r.st.probeP99)
		}
	}
	if ref, last := rss[len(rss)/10], rss[len(rss)-1]; last > ref*5/4 && last > ref+32<<10 {
		t.Errorf("server RSS grew from %d KiB to %d KiB during the soak", ref, last)
	}
	if code, _, err := quickGet("http://" + s.public + "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after the soak: %d %v", code, err)
	}
	s.stop()
}

// ocspURLs issues n certificates and returns a GET URL of an OCSP request
// for each (RFC 6960 appendix A.1), checking the first answer of each.
func ocspURLs(tb testing.TB, e *env, s *served, n int) []string {
	tb.Helper()
	issuer := readCert(tb, e.path("ca/issuing-1.pem"))
	cl := e.client(e.officer)
	var urls []string
	for range n {
		c, err := cl.Issue(tb.Context(), api.IssueRequest{Profile: "voces", CSR: csrPEM(tb), CVR: "12345678", Organization: "Firma A/S"})
		if err != nil {
			tb.Fatal(err)
		}
		checkOCSP(tb, s, issuer, *c)
		leaf := readCertPEM(tb, c.PEM)
		req, err := xocsp.CreateRequest(leaf, issuer, &xocsp.RequestOptions{Hash: crypto.SHA1})
		if err != nil {
			tb.Fatal(err)
		}
		urls = append(urls, "http://"+s.public+"/ocsp/"+url.PathEscape(base64.StdEncoding.EncodeToString(req)))
	}
	return urls
}

// fastStats are the figures of one run of the fast clients.
type fastStats struct {
	requests, errors   int
	firstError         string
	rate               float64
	p50, p99, max      time.Duration
	probes             int
	probeP50, probeP99 time.Duration
}

func (f fastStats) String() string {
	return fmt.Sprintf("%d requests (%.0f/s), %d errors; latency p50 %s p99 %s max %s; probe (new connection every 50ms) %d, p50 %s p99 %s",
		f.requests, f.rate, f.errors, f.p50, f.p99, f.max, f.probes, f.probeP50, f.probeP99)
}

// runFast runs workers that GET the URLs round-robin on keep-alive
// connections for d, plus the probe; every second it calls tick.
func runFast(tb testing.TB, s *served, urls []string, workers int, d time.Duration, tick func()) fastStats {
	tb.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(tb.Context(), d)
	defer cancel()
	var (
		mu      sync.Mutex
		lat     []time.Duration
		probe   []time.Duration
		errs    int
		first   string
		wg      sync.WaitGroup
		started = time.Now()
	)
	record := func(into *[]time.Duration, dt time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs++
			if first == "" {
				first = err.Error()
			}
			return
		}
		*into = append(*into, dt)
	}
	for w := range workers {
		wg.Go(func() {
			mine := make([]time.Duration, 0, 1<<16)
			for i := w; ctx.Err() == nil; i++ {
				t0 := time.Now()
				err := ocspGet(client, urls[i%len(urls)], i%500 == 0)
				if ctx.Err() != nil {
					break
				}
				if err != nil {
					record(&lat, 0, err)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Go(func() {
		fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
		for i := 0; ctx.Err() == nil; i++ {
			t0 := time.Now()
			err := ocspGet(fresh, urls[i%len(urls)], true)
			if ctx.Err() != nil {
				break
			}
			record(&probe, time.Since(t0), err)
			time.Sleep(50 * time.Millisecond)
		}
	})
	if tick != nil {
		wg.Go(func() {
			for tk := time.NewTicker(time.Second); ; {
				tick()
				select {
				case <-ctx.Done():
					tk.Stop()
					return
				case <-tk.C:
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(started)
	st := fastStats{requests: len(lat), errors: errs, firstError: first, rate: float64(len(lat)) / elapsed.Seconds(), probes: len(probe)}
	st.p50, st.p99, st.max = percentile(lat, 50), percentile(lat, 99), percentile(lat, 100)
	st.probeP50, st.probeP99 = percentile(probe, 50), percentile(probe, 99)
	return st
}

// ocspGet fetches one OCSP answer; full parses it as an OCSP response
// (the others are checked for status and type only, to keep the load
// generator light).
func ocspGet(c *http.Client, u string, full bool) error {
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/ocsp-response" || len(body) < 100 {
		return fmt.Errorf("%s, %s, %d bytes", resp.Status, resp.Header.Get("Content-Type"), len(body))
	}
	if full {
		r, err := xocsp.ParseResponse(body, nil)
		if err != nil {
			return err
		}
		if r.Status != xocsp.Good {
			return fmt.Errorf("status %d, want good", r.Status)
		}
	}
	return nil
}

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := (len(d)*p + 99) / 100
	if i > 0 {
		i--
	}
	return d[i].Round(10 * time.Microsecond)
}

// slowStats count the slow clients' connections.
type slowStats struct {
	dials, closed, open, maxOpen atomic.Int64
}

// slowClient1 keeps one slow connection open until ctx ends: it sends its
// request a byte a second (the headers, or with headerFirst false a POST
// /ocsp whose headers go at once and whose 300-byte body trickles), and
// dials again whenever the server closes it.
func slowClient1(ctx context.Context, addr string, headers bool, st *slowStats) {
	req := []byte("GET /ocsp/MEIwQDA-MDwwOjAJBgUrDgMCGgUABBQ HTTP/1.1\r\nHost: slow\r\nUser-Agent: slow\r\n\r\n")
	var prefix []byte
	if !headers {
		prefix = []byte("POST /ocsp HTTP/1.1\r\nHost: slow\r\nContent-Type: application/ocsp-request\r\nContent-Length: 300\r\n\r\n")
		req = bytes.Repeat([]byte{0x30}, 300)
	}
	for ctx.Err() == nil {
		c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", addr)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		st.dials.Add(1)
		if n := st.open.Add(1); n > st.maxOpen.Load() {
			st.maxOpen.Store(n) // racy maximum; good enough for a log line
		}
		if _, err := c.Write(prefix); err == nil {
			trickleBytes(ctx, c, req, st)
		}
		st.open.Add(-1)
		c.Close()
	}
}

// trickleBytes writes data a byte a second until the server closes c or
// ctx ends.
func trickleBytes(ctx context.Context, c net.Conn, data []byte, st *slowStats) {
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, c) // returns when the server closes
		close(closed)
	}()
	for i := 0; ; i++ {
		if _, err := c.Write(data[i%len(data) : i%len(data)+1]); err != nil {
			st.closed.Add(1)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-closed:
			st.closed.Add(1)
			return
		case <-time.After(time.Second):
		}
	}
}

// residentKiB is the process's resident set size.
func residentKiB(tb testing.TB, pid int) int {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				tb.Fatal(err)
			}
			return n
		}
	}
	tb.Fatal("no VmRSS in /proc/pid/status")
	return 0
}
