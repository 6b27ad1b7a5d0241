// Command bench measures the signing service next to its baseline, in one
// run, against a running development system (scripts/bench.sh starts a
// throwaway one):
//
//   - `oces sign` of a 1 MB and a 20 MB PDF at B-T and B-LTA, each in its own
//     process: wall time and peak RSS (getrusage of the child), next to a
//     baseline process that does only what signing cannot avoid: read the
//     file, SHA-256 it, write one copy, the same HSM signature, and the same
//     TSA and OCSP/CRL round trips;
//   - PAdES B-T of a 100 KB PDF through POST /api/v1/sign with 4 clients,
//     next to the same HSM signature plus TSA round trip at 4 clients.
//
// The baseline is this program run with -baseline.
package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/pades/testdata/corpus"
	"github.com/oces-pki/oces/revocation"
	"github.com/oces-pki/oces/tsa"
)

type config struct {
	oces, varDir, public, admin string
	baseline                    bool
	in, level                   string
	apiN                        int
}

func main() {
	var c config
	flag.StringVar(&c.oces, "oces", "bin/oces", "the oces binary")
	flag.StringVar(&c.varDir, "var", "var", "the development system's directory (scripts/dev-setup.sh)")
	flag.StringVar(&c.public, "public", "127.0.0.1:8080", "its public listener")
	flag.StringVar(&c.admin, "admin", "127.0.0.1:8443", "its admin listener")
	flag.BoolVar(&c.baseline, "baseline", false, "run the baseline of one signature of -in at -level (a child process)")
	flag.StringVar(&c.in, "in", "", "with -baseline: the PDF")
	flag.StringVar(&c.level, "level", "B-T", "with -baseline: B-T or B-LTA")
	flag.IntVar(&c.apiN, "api-n", 400, "signatures through the API")
	flag.Parse()
	var err error
	if c.baseline {
		err = c.runBaseline(context.Background())
	} else {
		err = c.run(context.Background())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func (c *config) sealURI() (string, error) {
	b, err := os.ReadFile(filepath.Join(c.varDir, "seal", "firma.uri"))
	return string(bytes.TrimSpace(b)), err
}

func (c *config) run(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "oces-sign-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	uri, err := c.sealURI()
	if err != nil {
		return fmt.Errorf("no development seal (run scripts/run.sh first): %w", err)
	}
	chain := filepath.Join(c.varDir, "seal", "firma-chain.pem")
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Printf("%-8s %-6s %-9s %10s %10s %10s %10s %8s %8s\n", "size", "level", "what", "wall ms", "base ms", "ratio", "RSS MB", "base MB", "RSS cap")
	for _, mb := range []int{1, 20} {
		in := filepath.Join(dir, fmt.Sprintf("%dmb.pdf", mb))
		if err := os.WriteFile(in, corpus.BigBytes(mb), 0o644); err != nil {
			return err
		}
		st, _ := os.Stat(in)
		for _, level := range []string{"B-T", "B-LTA"} {
			// Five runs of each, alternating; the medians are reported (the
			// first runs warm the page cache and the servers).
			var signs, bases []measurement
			for i := 0; i < 5; i++ {
				out := filepath.Join(dir, "out.pdf")
				sign, err := measure(c.oces, "sign", "--in", in, "--out", out, "--level", level, "--key", uri, "--cert", chain,
					"--config", filepath.Join(c.varDir, "oces.yaml"), "--api", "https://"+c.admin,
					"--officer-cert", filepath.Join(c.varDir, "officer", "officer.pem"),
					"--officer-key", filepath.Join(c.varDir, "officer", "officer.key"), "--ca-file", filepath.Join(c.varDir, "ca", "root.pem"),
					"--officer-key-passphrase-file", filepath.Join(c.varDir, "officer", "passphrase"))
				if err != nil {
					return err
				}
				base, err := measure(self, "-baseline", "-in", in, "-level", level, "-var", c.varDir, "-public", c.public)
				if err != nil {
					return err
				}
				signs, bases = append(signs, sign), append(bases, base)
			}
			sign, base := median(signs), median(bases)
			capMB := 2*float64(st.Size())/(1<<20) + 64
			fmt.Printf("%-8s %-6s %-9s %10.0f %10.0f %9.2fx %10.1f %8.1f %8.0f\n", fmt.Sprintf("%d MB", mb), level, "oces sign",
				ms(sign.wall), ms(base.wall), float64(sign.wall)/float64(base.wall), sign.rssMB, base.rssMB, capMB)
		}
	}
	return c.runAPI(ctx, dir, uri)
}

type measurement struct {
	wall  time.Duration
	rssMB float64
}

// median is the median wall time and the largest peak RSS of runs.
func median(runs []measurement) measurement {
	walls := make([]time.Duration, len(runs))
	var rss float64
	for i, r := range runs {
		walls[i] = r.wall
		rss = max(rss, r.rssMB)
	}
	slices.Sort(walls)
	return measurement{wall: walls[len(walls)/2], rssMB: rss}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// measure runs a command to completion and reads its wall time and peak RSS.
func measure(name string, args ...string) (measurement, error) {
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return measurement{}, fmt.Errorf("%s %v: %w\n%s", name, args, err, stderr.String())
	}
	wall := time.Since(start)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return measurement{wall: wall, rssMB: float64(ru.Maxrss) / 1024}, nil
}

// runBaseline does what a signature of -in at -level cannot avoid, in the
// order signing does it.
func (c *config) runBaseline(ctx context.Context) error {
	uri, err := c.sealURI()
	if err != nil {
		return err
	}
	chain, err := readChain(filepath.Join(c.varDir, "seal", "firma-chain.pem"))
	if err != nil {
		return err
	}
	data, err := os.ReadFile(c.in)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	h := hsm.New(nil)
	defer h.Close()
	key, err := h.Signer(ctx, uri)
	if err != nil {
		return err
	}
	fetcher := revocation.New(revocation.Config{})
	// The signer checks its own certificate first.
	if _, err := fetcher.Chain(ctx, chain); err != nil {
		return err
	}
	if _, err := key.Sign(rand.Reader, sum[:], crypto.SHA256); err != nil {
		return err
	}
	client := &http.Client{Timeout: 30 * time.Second}
	tsaURL := "http://" + c.public + "/tsa"
	tok, err := tsa.Query(ctx, client, tsaURL, sum[:], crypto.SHA256, tsa.QueryOptions{})
	if err != nil {
		return err
	}
	if c.level == "B-LTA" {
		// The TSA's chain for the DSS, then the document time-stamp.
		leaf, err := tok.SignerCertificate()
		if err != nil {
			return err
		}
		tsaChain, err := fetcher.BuildChain(ctx, leaf, tok.Certificates)
		if err != nil {
			return err
		}
		if _, err := fetcher.Chain(ctx, tsaChain); err != nil {
			return err
		}
		if _, err := tsa.Query(ctx, client, tsaURL, sum[:], crypto.SHA256, tsa.QueryOptions{}); err != nil {
			return err
		}
	}
	out, err := os.CreateTemp(filepath.Dir(c.in), "baseline-*.pdf")
	if err != nil {
		return err
	}
	defer os.Remove(out.Name())
	if _, err := out.Write(data); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	return out.Close()
}

func readChain(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out, nil
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
}

// runAPI: PAdES B-T of a 100 KB PDF through the API with 4 clients, next
// to an HSM signature plus a TSA round trip at 4 clients.
func (c *config) runAPI(ctx context.Context, dir, uri string) error {
	pdf := corpus.SizedBytes(100 << 10)
	clientCert, err := tls.LoadX509KeyPair(filepath.Join(c.varDir, "samples", "foces.pem"), filepath.Join(c.varDir, "samples", "foces.key"))
	if err != nil {
		return fmt.Errorf("the sample FOCES certificate (scripts/run.sh issues it): %w", err)
	}
	roots := x509.NewCertPool()
	rootPEM, err := os.ReadFile(filepath.Join(c.varDir, "ca", "root.pem"))
	if err != nil {
		return err
	}
	roots.AppendCertsFromPEM(rootPEM)
	tr := &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{clientCert}, RootCAs: roots}, MaxIdleConnsPerHost: 8}
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	url := "https://" + c.admin + "/api/v1/sign?seal=firma&level=B-T"
	apiRate, err := parallel(4, c.apiN, func() error {
		resp, err := client.Post(url, "application/pdf", bytes.NewReader(pdf))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("POST /api/v1/sign: %d %s", resp.StatusCode, body)
		}
		return nil
	})
	if err != nil {
		return err
	}
	h := hsm.New(nil)
	defer h.Close()
	key, err := h.Signer(ctx, uri)
	if err != nil {
		return err
	}
	tsaClient := &http.Client{Timeout: 30 * time.Second}
	baseRate, err := parallel(4, c.apiN, func() error {
		sum := sha256.Sum256(pdf)
		if _, err := key.Sign(rand.Reader, sum[:], crypto.SHA256); err != nil {
			return err
		}
		_, err := tsa.Query(ctx, tsaClient, "http://"+c.public+"/tsa", sum[:], crypto.SHA256, tsa.QueryOptions{})
		return err
	})
	if err != nil {
		return err
	}
	fmt.Printf("\nPAdES B-T of a %d KB PDF through POST /api/v1/sign, 4 clients: %.1f signatures/s\n", len(pdf)>>10, apiRate)
	fmt.Printf("baseline, HSM signature + TSA round trip, 4 clients:          %.1f/s (ratio %.1f %%)\n", baseRate, 100*apiRate/baseRate)
	return nil
}

// parallel runs n calls of fn on k workers and returns calls per second.
func parallel(k, n int, fn func() error) (float64, error) {
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range k {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if err := fn(); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds(), firstErr
}
