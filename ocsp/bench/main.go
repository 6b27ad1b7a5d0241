// Command bench measures the OCSP responder: the time to pre-sign a
// million responses, then GET throughput, p99 latency and CPU time per
// request under `wrk -c 64 -t 2 -d 10s` with a Lua script that picks
// random known serials, next to a plain net/http server returning a fixed
// byte slice of the same size (the two in turn, -rounds times) and
// `openssl ocsp -index` on a sample of the same certificates, all measured
// in the same run on loopback.
//
//	go run ./ocsp/bench                # 1,000,000 certificates
//	go run ./ocsp/bench -n 100000 -d 5s
//
// After pre-signing, and again after serving, it reports the process's
// resident memory (VmRSS, and VmHWM, the peak) and the Go heap, at the
// GOGC the process was started with; -heapprofile writes a heap profile
// after pre-signing. -serve=false stops after the memory figures.
//
// It needs wrk; openssl is optional. The records are synthetic (serials and
// statuses, no certificates, computed rather than stored, so that the
// memory measured is the responder's): the responder's input is records.
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/ocsp"
	"github.com/oces-pki/oces/ocsp/internal/synth"
)

func main() {
	n := flag.Int("n", 1_000_000, "certificates")
	conns := flag.Int("c", 64, "wrk connections")
	threads := flag.Int("t", 2, "wrk threads")
	dur := flag.String("d", "10s", "wrk duration")
	urls := flag.Int("urls", 20000, "distinct GET URLs in the Lua script")
	sample := flag.Int("sample", 20000, "certificates in openssl's index file")
	heapProfile := flag.String("heapprofile", "", "write a heap profile after pre-signing to this file")
	doServe := flag.Bool("serve", true, "measure serving with wrk after the memory figures")
	rounds := flag.Int("rounds", 3, "rounds of wrk against the responder and the plain server, in turn")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the first round against the responder to this file")
	flag.Parse()
	log.SetFlags(0)
	dir, err := os.MkdirTemp("", "oces-ocsp-bench-")
	must(err)
	defer os.RemoveAll(dir)

	// 1. A root and an issuing CA, a responder key, n synthetic records.
	issuing, issuingKey := hierarchy()
	src := synth.NewSource("issuing-1", *n, 1)
	keys := &memKeys{}
	r, err := ocsp.New(context.Background(), ocsp.Config{
		Issuers: []ocsp.IssuerConfig{{Name: "issuing-1", Certificate: issuing, ResponderKey: "pkcs11:object=bench"}},
		Source:  src, Authority: &synth.Authority{Issuer: issuing, Key: issuingKey}, Keys: keys,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	must(err)

	// 2. Pre-sign them all.
	start := time.Now()
	must(r.Presign(context.Background()))
	el := time.Since(start)
	fmt.Printf("pre-signed %d responses in %.1fs: %.0f responses/s (%d workers, GOMAXPROCS %d)\n",
		*n, el.Seconds(), float64(*n)/el.Seconds(), runtime.GOMAXPROCS(0), runtime.GOMAXPROCS(0))
	reportMemory("after pre-signing", r)
	if *heapProfile != "" {
		f, err := os.Create(*heapProfile)
		must(err)
		must(pprof.WriteHeapProfile(f))
		must(f.Close())
		fmt.Printf("heap profile in %s (go tool pprof -sample_index=inuse_space %s)\n", *heapProfile, *heapProfile)
	}
	if !*doServe {
		return
	}

	// 3. GET URLs of random known serials; the first `sample` also go to openssl.
	paths, size := requestPaths(r, issuing, src, *urls)
	script := writeScript(dir, "all.lua", paths)
	// openssl's responder takes the request right after the first '/'.
	var opensslPaths []string
	for _, p := range paths[:min(*sample, len(paths))] {
		opensslPaths = append(opensslPaths, strings.TrimPrefix(p, "/ocsp"))
	}
	opensslScript := writeScript(dir, "sample.lua", opensslPaths)
	wrkArgs := []string{"-c", fmt.Sprint(*conns), "-t", fmt.Sprint(*threads), "-d", *dur, "--latency"}

	ours := serve(r.Handler())
	fixed := make([]byte, size)
	plain := serve(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/ocsp-response")
		_, _ = w.Write(fixed)
	}))
	// Interleaved rounds, so that load from elsewhere falls on both alike.
	var sumOurs, sumPlain, cpuOurs, cpuPlain float64
	var rows []row
	for i := range *rounds {
		if i == 0 && *cpuProfile != "" {
			f, err := os.Create(*cpuProfile)
			must(err)
			must(pprof.StartCPUProfile(f))
			defer f.Close()
		}
		o := runWrk(wrkArgs, script, ours)
		if i == 0 && *cpuProfile != "" {
			pprof.StopCPUProfile()
		}
		pl := runWrk(wrkArgs, script, plain)
		fmt.Printf("round %d: ours %.0f req/s (p99 %s, %.1f µs CPU each), plain %.0f req/s (p99 %s, %.1f µs CPU each): %.0f%%, CPU per request %.0f%% of ours; load average %s\n",
			i+1, o.rps, o.p99, o.cpu, pl.rps, pl.p99, pl.cpu, 100*o.rps/pl.rps, 100*pl.cpu/o.cpu, loadAverage())
		sumOurs += o.rps
		sumPlain += pl.rps
		cpuOurs += o.cpu
		cpuPlain += pl.cpu
		if i == 0 {
			rows = append(rows, row{"oces ocsp (pre-signed, GET), round 1", o},
				row{fmt.Sprintf("plain net/http, fixed %d bytes, round 1", size), pl})
		}
	}
	if addr, stop := startOpenSSL(dir, r, issuing, src, paths[:min(*sample, len(paths))], keys.key); addr != "" {
		// openssl's responder stalls on persistent connections.
		closing := append([]string{"-H", "Connection: close"}, wrkArgs...)
		rows = append(rows, row{"openssl ocsp -index -multi 2 (sample)", runWrk(closing, opensslScript, addr)})
		stop()
	}
	fmt.Printf("\n%-48s %12s %10s\n", "server", "req/s", "p99")
	for _, x := range rows {
		fmt.Printf("%-48s %12.0f %10s\n", x.name, x.res.rps, x.res.p99)
	}
	fmt.Printf("\nours / plain = %.0f%% (%d rounds: %.0f against %.0f req/s on average); "+
		"CPU per request (this process and wrk): plain %.1f µs = %.0f%% of ours %.1f µs\n",
		100*sumOurs/sumPlain, *rounds, sumOurs/float64(*rounds), sumPlain/float64(*rounds),
		cpuPlain/float64(*rounds), 100*cpuPlain/cpuOurs, cpuOurs/float64(*rounds))
	reportMemory("after serving", r)
}

// reportMemory prints the resident set of the process (current and peak)
// and the Go heap, live and total.
func reportMemory(when string, r *ocsp.Responder) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := r.MemoryStats()
	gogc := os.Getenv("GOGC")
	if gogc == "" {
		gogc = "100 (default)"
	}
	fmt.Printf("memory %s, GOGC=%s: VmRSS %s, VmHWM (peak) %s; Go heap in use %d MB, heap goal %d MB, GC cycles %d; "+
		"response store %d records in %d MB outside the heap\n",
		when, gogc, procStatus("VmRSS"), procStatus("VmHWM"), ms.HeapInuse>>20, ms.NextGC>>20, ms.NumGC,
		st.Responses, st.StoreBytes>>20)
}

// processCPU is the user and system time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAverage is the one-minute load average ("?" off Linux).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// procStatus reads one field of /proc/self/status ("" elsewhere).
func procStatus(field string) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

type row struct {
	name string
	res  wrkResult
}

func hierarchy() (*x509.Certificate, crypto.Signer) {
	rk, ik := p256(), p256()
	now := time.Now().Add(-time.Hour)
	root, err := ca.CreateCACertificate(ca.CACertRequest{
		Subject:   ca.CAName{Country: "DK", Organization: "OCES PKI Bench", CommonName: "OCES PKI Bench Root CA"},
		PublicKey: rk.Public(), IssuerSigner: rk, NotBefore: now, Validity: 10 * 365 * 24 * time.Hour,
	})
	must(err)
	issuing, err := ca.CreateCACertificate(ca.CACertRequest{
		Subject:   ca.CAName{Country: "DK", Organization: "OCES PKI Bench", CommonName: "OCES PKI Bench Issuing CA"},
		PublicKey: ik.Public(), Issuer: root, IssuerSigner: rk, IssuerName: "root",
		BaseURL: "http://127.0.0.1", NotBefore: now, Validity: 5 * 365 * 24 * time.Hour,
	})
	must(err)
	return issuing, ik
}

func p256() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	return k
}

// memKeys holds the responder key in memory so that openssl can use it too.
type memKeys struct{ key *ecdsa.PrivateKey }

func (m *memKeys) Signer(context.Context, string) (crypto.Signer, error) {
	if m.key == nil {
		return nil, ocsp.ErrKeyNotFound
	}
	return m.key, nil
}

func (m *memKeys) GenerateKey(context.Context, string) (crypto.Signer, error) {
	m.key = p256()
	return m.key, nil
}

// requestPaths builds GET paths for random records and returns the size of
// one response, which the plain server mirrors.
func requestPaths(r *ocsp.Responder, issuing *x509.Certificate, src *synth.Source, n int) ([]string, int) {
	rng := mrand.New(mrand.NewPCG(2, 3))
	paths := make([]string, n)
	for i := range paths {
		c := src.Record(rng.IntN(src.Len()))
		der, err := xocsp.CreateRequest(&x509.Certificate{SerialNumber: c.Serial.Big()}, issuing, nil)
		must(err)
		paths[i] = "/ocsp/" + base64.StdEncoding.EncodeToString(der)
	}
	rec := &recorder{header: http.Header{}}
	req, _ := http.NewRequest(http.MethodGet, paths[0], nil)
	r.Handler().ServeHTTP(rec, req)
	return paths, len(rec.body)
}

type recorder struct {
	header http.Header
	body   []byte
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { r.body = append(r.body, b...); return len(b), nil }
func (r *recorder) WriteHeader(int)             {}

func writeScript(dir, name string, paths []string) string {
	var b strings.Builder
	b.WriteString("local paths = {\n")
	for _, p := range paths {
		fmt.Fprintf(&b, "%q,\n", p)
	}
	b.WriteString("}\nmath.randomseed(os.time())\n" +
		"request = function() return wrk.format(\"GET\", paths[math.random(#paths)]) end\n")
	path := filepath.Join(dir, name)
	must(os.WriteFile(path, []byte(b.String()), 0o600))
	return path
}

func serve(h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String()
}

type wrkResult struct {
	rps float64
	p99 string
	// cpu is the CPU time of this process and of wrk per request, in
	// microseconds: what the comparison comes to when the machine is
	// shared and neither server gets both cores.
	cpu float64
}

var (
	reRPS   = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	reP99   = regexp.MustCompile(`\s99%\s+(\S+)`)
	reCount = regexp.MustCompile(`(\d+) requests in`)
	reErr   = regexp.MustCompile(`(Non-2xx or 3xx responses: \d+|Socket errors: .*)`)
)

func runWrk(args []string, script, addr string) wrkResult {
	cmd := exec.Command("wrk", append(args, "-s", script, "http://"+addr)...)
	cpu0 := processCPU()
	out, err := cmd.CombinedOutput()
	self := processCPU() - cpu0
	if err != nil {
		log.Fatalf("wrk: %v\n%s", err, out)
	}
	var res wrkResult
	if m := reCount.FindSubmatch(out); m != nil {
		var n float64
		fmt.Sscan(string(m[1]), &n)
		if n > 0 {
			wrkCPU := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			res.cpu = float64((self + wrkCPU).Microseconds()) / n
		}
	}
	if m := reRPS.FindSubmatch(out); m != nil {
		fmt.Sscan(string(m[1]), &res.rps)
	}
	if m := reP99.FindSubmatch(out); m != nil {
		res.p99 = string(m[1])
	}
	if m := reErr.FindSubmatch(out); m != nil {
		log.Printf("wrk against %s: %s", addr, m[1])
	}
	return res
}

// startOpenSSL runs `openssl ocsp` as a responder for the sampled serials
// with the same responder key and certificate; "" if openssl is missing.
func startOpenSSL(dir string, r *ocsp.Responder, issuing *x509.Certificate, src *synth.Source, paths []string, key *ecdsa.PrivateKey) (string, func()) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		return "", nil
	}
	var index strings.Builder
	seen := map[string]bool{}
	for _, p := range paths {
		if seen[p] {
			continue
		}
		seen[p] = true
		der, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(p, "/ocsp/"))
		req, err := xocsp.ParseRequest(der)
		must(err)
		s, _ := ca.SerialFromBig(req.SerialNumber)
		c, _ := src.Certificate(context.Background(), s)
		status, rev := "V", ""
		if c.Status != ca.StatusGood {
			status, rev = "R", c.RevokedAt.Format("060102150405Z")+","+string(c.Reason)
		}
		fmt.Fprintf(&index, "%s\t%s\t%s\t%X\tunknown\t/CN=%s\n", status, c.NotAfter.Format("060102150405Z"), rev, c.Serial.Big(), s)
	}
	must(os.WriteFile(filepath.Join(dir, "index.txt"), []byte(index.String()), 0o600))
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	must(err)
	must(os.WriteFile(filepath.Join(dir, "rkey.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600))
	must(os.WriteFile(filepath.Join(dir, "rcert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.ResponderCertificate("issuing-1").Raw}), 0o600))
	must(os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: issuing.Raw}), 0o600))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	addr := ln.Addr().String()
	ln.Close()
	port := addr[strings.LastIndex(addr, ":")+1:]
	cmd := exec.Command(openssl, "ocsp", "-index", "index.txt", "-port", port, "-rsigner", "rcert.pem",
		"-rkey", "rkey.pem", "-CA", "ca.pem", "-ndays", "1", "-multi", "2")
	cmd.Dir, cmd.Stderr = dir, os.Stderr
	// -multi forks workers; a group of their own lets us stop them all.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	must(cmd.Start())
	// Wait for it with a real request: a bare connect can stall a child.
	probe := "http://" + addr + strings.TrimPrefix(paths[0], "/ocsp")
	for range 100 {
		if resp, err := http.Get(probe); err == nil {
			resp.Body.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return addr, func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
