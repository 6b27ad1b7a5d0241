package tsa

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/oces-pki/oces/hsm"
)

// wrkRounds is how many interleaved rounds BenchmarkHSMWrk runs per
// iteration: raw signing, then wrk, in turn, so that load from elsewhere
// falls on both alike.
const wrkRounds = 3

// BenchmarkHSMWrk is BenchmarkHSM with the load driven by wrk, a second
// process that costs little per request, instead of Go HTTP clients in
// the same process: c connections (4, as BenchmarkHSM, and 32) POST one
// fixed application/timestamp-query body (its nonce fixed too: the
// Authority keeps no state per nonce) to Authority.ServeHTTP on loopback.
// Each iteration runs wrkRounds rounds of raw signing (c goroutines, the
// same SoftHSM key), wrk against the Authority, wrk against a plain server
// answering with the same bytes, and wrk against a plain server that
// signs once with the same key before answering, in turn, each
// OCES_TSA_WRK_ROUND long (default 10s), and reports the rates summed
// over the rounds and the load average at the start. Run with
// -benchtime 1x; it is skipped when wrk is not installed.
func BenchmarkHSMWrk(b *testing.B) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		b.Skip("wrk not installed")
	}
	round := 10 * time.Second
	if s := os.Getenv("OCES_TSA_WRK_ROUND"); s != "" {
		if round, err = time.ParseDuration(s); err != nil || round < time.Second || round%time.Second != 0 {
			b.Fatalf("OCES_TSA_WRK_ROUND %q: want whole seconds (wrk's -d), at least 1s", s)
		}
	}
	for _, alg := range []hsm.KeyAlgorithm{hsm.ECP256, hsm.RSA3072} {
		b.Run(alg.String(), func(b *testing.B) {
			key, cert, root := benchTSAKey(b, alg)
			a, err := New(Config{
				Signer: key, Certificate: cert, Chain: []*x509.Certificate{root},
				Policies: []asn1.ObjectIdentifier{testPolicy},
				Serials:  NewBlockSerials(&memCounter{}, "tsa", 0),
			})
			if err != nil {
				b.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := &http.Server{Handler: a, ReadHeaderTimeout: 5 * time.Second}
			go func() { _ = srv.Serve(ln) }()
			defer srv.Close()
			digest := sha256.Sum256([]byte("benchmark"))
			req := encodeReq(b, reqFields{digest: digest[:], nonce: big.NewInt(0x5eed), certReq: true})
			url := "http://" + ln.Addr().String() + "/"
			reply := checkGranted(b, url, req, root)
			script := wrkPostScript(b, req)
			plain := servePlain(b, reply, nil)
			signing := servePlain(b, reply, key)

			for _, conns := range []int{benchClients, 32} {
				b.Run(fmt.Sprintf("c=%d", conns), func(b *testing.B) {
					var tokens, raw, floor, bound rate
					load := loadAverage()
					b.ResetTimer()
					for range b.N {
						for i := range wrkRounds {
							r := measureCPU(func() float64 { return rawSignRate(b, key, conns, round) })
							t := runWrkPost(b, wrk, script, url, conns, round)
							f := runWrkPost(b, wrk, script, plain, conns, round)
							g := runWrkPost(b, wrk, script, signing, conns, round)
							b.Logf("round %d: raw %s signs, wrk %s tokens (%.1f %%), plain server %s, plain server signing %s, load %s",
								i+1, r, t, 100*t.perSec/r.perSec, f, g, loadAverage())
							raw.add(r)
							tokens.add(t)
							floor.add(f)
							bound.add(g)
						}
					}
					b.StopTimer()
					n := float64(b.N * wrkRounds)
					b.ReportMetric(tokens.perSec/n, "tokens/s")
					b.ReportMetric(raw.perSec/n, "raw-signs/s")
					b.ReportMetric(100*tokens.perSec/raw.perSec, "pct-of-raw")
					b.ReportMetric(floor.perSec/n, "plain-http/s")
					b.ReportMetric(bound.perSec/n, "sign-http/s")
					b.ReportMetric(bound.cpuPerOp/n, "cpu-µs/sign-http")
					b.ReportMetric(bound.perSec/n, "sign-http/s")
					b.ReportMetric(bound.cpuPerOp/n, "cpu-µs/sign-http")
					b.ReportMetric(tokens.cpuPerOp/n, "cpu-µs/token")
					b.ReportMetric(raw.cpuPerOp/n, "cpu-µs/sign")
					b.ReportMetric(floor.cpuPerOp/n, "cpu-µs/plain")
					if l, err := strconv.ParseFloat(load, 64); err == nil {
						b.ReportMetric(l, "loadavg")
					}
				})
			}
		})
	}
}

// rate is a measured rate and the CPU time each operation took, of this
// process and of wrk together.
type rate struct{ perSec, cpuPerOp float64 }

func (r *rate) add(o rate) { r.perSec += o.perSec; r.cpuPerOp += o.cpuPerOp }

func (r rate) String() string { return fmt.Sprintf("%.0f/s (%.1f µs CPU each)", r.perSec, r.cpuPerOp) }

// measureCPU runs f, which returns operations per second, and adds the
// process's CPU time per operation.
func measureCPU(f func() float64) rate {
	start, cpu0 := time.Now(), processCPU()
	perSec := f()
	ops := perSec * time.Since(start).Seconds()
	return rate{perSec: perSec, cpuPerOp: float64((processCPU() - cpu0).Microseconds()) / ops}
}

// processCPU is the user and system time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// checkGranted posts req once and fails unless the answer is a token that
// verifies up to root: wrk counts only HTTP statuses, and a rejection
// comes with 200 OK.
func checkGranted(tb testing.TB, url string, req []byte, root *x509.Certificate) []byte {
	tb.Helper()
	resp, err := http.Post(url, ContentTypeQuery, bytes.NewReader(req))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	der, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := ParseResponse(der)
	if err != nil {
		tb.Fatalf("benchmark request not granted: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	if err := tok.Verify(roots, nil); err != nil {
		tb.Fatalf("benchmark token does not verify: %v", err)
	}
	return der
}

// servePlain serves a plain net/http handler that reads the body and
// answers with reply, the HTTP cost a time-stamp cannot avoid; with a
// signer it also signs a fixed digest before answering, which is what a
// time-stamp over HTTP cannot avoid. It returns its URL.
func servePlain(tb testing.TB, reply []byte, signer crypto.Signer) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if signer != nil {
			digest := sha256.Sum256(reply)
			if _, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		w.Header().Set("Content-Type", ContentTypeReply)
		_, _ = w.Write(reply)
	})}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + "/"
}

// wrkPostScript writes a wrk Lua script that POSTs body as
// application/timestamp-query and counts answers other than a granted
// TimeStampResp of status 200 as errors.
func wrkPostScript(tb testing.TB, body []byte) string {
	tb.Helper()
	var lit strings.Builder
	for _, c := range body {
		fmt.Fprintf(&lit, "\\%d", c)
	}
	script := "wrk.method = \"POST\"\n" +
		"wrk.headers[\"Content-Type\"] = \"" + ContentTypeQuery + "\"\n" +
		"wrk.body = \"" + lit.String() + "\"\n"
	path := filepath.Join(tb.TempDir(), "post.lua")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

var (
	reWrkRPS   = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	reWrkCount = regexp.MustCompile(`(\d+) requests in`)
	reWrkFail  = regexp.MustCompile(`(Non-2xx or 3xx responses: \d+|Socket errors: .*)`)
)

// runWrkPost runs wrk with conns connections on one thread for d
// and returns its requests per second, with the CPU time of this process
// and of wrk per request; non-2xx answers or socket errors fail the
// benchmark.
func runWrkPost(tb testing.TB, wrk, script, url string, conns int, d time.Duration) rate {
	tb.Helper()
	cmd := exec.Command(wrk, "-c", strconv.Itoa(conns), "-t", "1",
		"-d", strconv.Itoa(int(d.Seconds()))+"s", "-s", script, url)
	cpu0 := processCPU()
	out, err := cmd.CombinedOutput()
	self := processCPU() - cpu0
	if err != nil {
		tb.Fatalf("wrk: %v\n%s", err, out)
	}
	if m := reWrkFail.FindSubmatch(out); m != nil {
		tb.Fatalf("wrk: %s\n%s", m[1], out)
	}
	m, n := reWrkRPS.FindSubmatch(out), reWrkCount.FindSubmatch(out)
	if m == nil || n == nil {
		tb.Fatalf("wrk: no Requests/sec in\n%s", out)
	}
	rps, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		tb.Fatal(err)
	}
	count, err := strconv.ParseFloat(string(n[1]), 64)
	if err != nil || count == 0 {
		tb.Fatalf("wrk: no requests counted in\n%s", out)
	}
	wrkCPU := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return rate{perSec: rps, cpuPerOp: float64((self + wrkCPU).Microseconds()) / count}
}

// loadAverage is the one-minute load average ("?" off Linux).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// BenchmarkHSMRespond is the Authority without HTTP: benchClients
// goroutines call Respond in a loop for 3s, next to raw signing of the
// same P-256 SoftHSM key with as many goroutines, in wrkRounds
// interleaved rounds per iteration, with the CPU time of each. Run with
// -benchtime 1x.
func BenchmarkHSMRespond(b *testing.B) {
	round := 3 * time.Second
	key, cert, root := benchTSAKey(b, hsm.ECP256)
	a, err := New(Config{
		Signer: key, Certificate: cert, Chain: []*x509.Certificate{root},
		Policies: []asn1.ObjectIdentifier{testPolicy},
		Serials:  NewBlockSerials(&memCounter{}, "tsa", 0),
	})
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("benchmark"))
	req := encodeReq(b, reqFields{digest: digest[:], nonce: big.NewInt(0x5eed), certReq: true})
	respondRate := func() float64 {
		var n atomic.Int64
		start := time.Now()
		var wg sync.WaitGroup
		for range benchClients {
			wg.Go(func() {
				for time.Since(start) < round {
					a.Respond(context.Background(), req)
					n.Add(1)
				}
			})
		}
		wg.Wait()
		return float64(n.Load()) / time.Since(start).Seconds()
	}
	var raw, tokens rate
	for range b.N {
		for i := range wrkRounds {
			r := measureCPU(func() float64 { return rawSignRate(b, key, benchClients, round) })
			t := measureCPU(respondRate)
			b.Logf("round %d: raw %s, Respond %s (%.1f %%), load %s", i+1, r, t, 100*t.perSec/r.perSec, loadAverage())
			raw.add(r)
			tokens.add(t)
		}
	}
	n := float64(b.N * wrkRounds)
	b.ReportMetric(tokens.perSec/n, "tokens/s")
	b.ReportMetric(raw.perSec/n, "raw-signs/s")
	b.ReportMetric(100*tokens.perSec/raw.perSec, "pct-of-raw")
	b.ReportMetric(tokens.cpuPerOp/n, "cpu-µs/token")
	b.ReportMetric(raw.cpuPerOp/n, "cpu-µs/sign")
}
