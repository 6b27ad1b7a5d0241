package ocsp

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/softhsmtest"
)

// interopPKI is a PKI with a good, a revoked and a suspended certificate,
// a responder and an HTTP server, with the PEM files the tools read.
type interopPKI struct {
	p   *testPKI
	r   *Responder
	srv *httptest.Server
	dir string
}

func newInteropPKI(t *testing.T, keys KeyStore, mutate func(*Config)) *interopPKI {
	t.Helper()
	p := newTestPKI(t)
	ctx := context.Background()
	good, revoked, suspended := p.issue(t), p.issue(t), p.issue(t)
	if _, err := p.ca.Revoke(ctx, revoked.Serial, ca.ReasonKeyCompromise, time.Time{}, audit.System); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ca.Suspend(ctx, suspended.Serial, audit.System); err != nil {
		t.Fatal(err)
	}
	r := newResponder(t, p, keys, mutate)
	if err := r.Presign(ctx); err != nil {
		t.Fatal(err)
	}
	ip := &interopPKI{p: p, r: r, srv: httptest.NewServer(r.Wrap(http.NotFoundHandler())), dir: t.TempDir()}
	t.Cleanup(ip.srv.Close)
	writePEM(t, filepath.Join(ip.dir, "root.pem"), p.root)
	writePEM(t, filepath.Join(ip.dir, "issuer.pem"), p.issuing)
	for name, c := range map[string]*ca.Certificate{"good": good, "revoked": revoked, "suspended": suspended} {
		x, err := c.X509()
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, filepath.Join(ip.dir, name+".pem"), x)
	}
	return ip
}

func (ip *interopPKI) run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = ip.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

type interopCase struct {
	name    string
	args    []string
	want    []string // regular expressions the output must match
	notWant []string
}

func (ip *interopPKI) check(t *testing.T, tool string, tests []interopCase) {
	t.Helper()
	for _, tt := range tests {
		out := ip.run(t, tool, tt.args...)
		for _, w := range tt.want {
			if !regexp.MustCompile(w).MatchString(out) {
				t.Errorf("%s: output lacks %q:\n%s", tt.name, w, out)
			}
		}
		for _, w := range tt.notWant {
			if regexp.MustCompile(w).MatchString(out) {
				t.Errorf("%s: output has %q:\n%s", tt.name, w, out)
			}
		}
	}
}

// TestOpenSSLInterop asks `openssl ocsp` (and GnuTLS ocsptool where
// installed) with the responder key in a real SoftHSM token.
func TestOpenSSLInterop(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	tok := softhsmtest.New(t)
	h := hsm.New(nil)
	t.Cleanup(func() { h.Close() })
	ip := newInteropPKI(t, hsmKeys{h}, func(c *Config) { c.Issuers[0].ResponderKey = tok.KeyURI("ocsp-issuing-1") })
	url := ip.srv.URL + "/ocsp"
	ask := func(extra ...string) []string {
		return append([]string{"ocsp", "-issuer", "issuer.pem", "-url", url, "-CAfile", "root.pem"}, extra...)
	}
	ip.check(t, openssl, []interopCase{
		{"good", ask("-cert", "good.pem", "-no_nonce"), []string{"Response verify OK", "good.pem: good"}, []string{"WARNING"}},
		{"good sha256 certid", ask("-sha256", "-cert", "good.pem", "-no_nonce"), []string{"Response verify OK", "good.pem: good"}, nil},
		{"revoked", ask("-cert", "revoked.pem", "-no_nonce"),
			[]string{"Response verify OK", "revoked.pem: revoked", "Reason: keyCompromise", `Revocation Time: \w+ +\d+ [\d:]+ 20\d\d GMT`}, nil},
		{"suspended", ask("-cert", "suspended.pem", "-no_nonce"),
			[]string{"Response verify OK", "suspended.pem: revoked", "Reason: certificateHold"}, nil},
		{"never issued", ask("-serial", "0x0123456789ABCDEF0123456789ABCDEF", "-no_nonce"),
			[]string{"Response verify OK", "0x0123456789ABCDEF0123456789ABCDEF: revoked", "Reason: certificateHold",
				"Revocation Time: Jan  1 00:00:00 1970 GMT"}, []string{": good"}},
		// Pre-signed responses carry no nonce (RFC 5019): openssl warns
		// and still reports the status.
		{"nonce ignored", ask("-cert", "good.pem"), []string{"WARNING: no nonce in response", "Response verify OK", "good.pem: good"}, nil},
	})

	// GET: the request openssl writes, base64 in the path, as a browser-like
	// client sends it; openssl then checks the saved response.
	ip.run(t, openssl, "ocsp", "-issuer", "issuer.pem", "-cert", "revoked.pem", "-no_nonce", "-reqout", "req.der")
	req, err := os.ReadFile(filepath.Join(ip.dir, "req.der"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(url + "/" + base64.StdEncoding.EncodeToString(req))
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	checkCacheHeaders(t, resp, body)
	if err := os.WriteFile(filepath.Join(ip.dir, "resp.der"), body, 0o600); err != nil {
		t.Fatal(err)
	}
	ip.check(t, openssl, []interopCase{{"GET", []string{"ocsp", "-respin", "resp.der", "-issuer", "issuer.pem",
		"-cert", "revoked.pem", "-CAfile", "root.pem", "-no_nonce"},
		[]string{"Response verify OK", "revoked.pem: revoked", "Reason: keyCompromise"}, nil}})

	if ocsptool, err := exec.LookPath("ocsptool"); err == nil {
		gnutls := func(cert string) []string {
			return []string{"--ask=" + url, "--load-issuer", "issuer.pem", "--load-cert", cert, "--load-trust", "issuer.pem", "--no-nonce"}
		}
		ip.check(t, ocsptool, []interopCase{
			{"ocsptool good", gnutls("good.pem"), []string{"Certificate Status: good", "Verifying OCSP Response: Success"}, nil},
			{"ocsptool revoked", gnutls("revoked.pem"), []string{"Certificate Status: revoked", "Verifying OCSP Response: Success"}, nil},
		})
	}
}

// TestOpenSSLLiveNonce: with LiveNonce, a request's nonce is echoed in a
// response signed on the spot, and openssl's nonce check passes.
func TestOpenSSLLiveNonce(t *testing.T) {
	t.Parallel()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	ip := newInteropPKI(t, nil, func(c *Config) { c.LiveNonce = true })
	url := ip.srv.URL + "/ocsp"
	ip.check(t, openssl, []interopCase{
		{"nonce echoed", []string{"ocsp", "-issuer", "issuer.pem", "-cert", "suspended.pem", "-url", url, "-CAfile", "root.pem", "-resp_text"},
			[]string{"Response verify OK", "suspended.pem: revoked", "Reason: certificateHold", "OCSP Nonce"}, []string{"WARNING"}},
		{"no nonce", []string{"ocsp", "-issuer", "issuer.pem", "-cert", "good.pem", "-url", url, "-CAfile", "root.pem", "-no_nonce"},
			[]string{"Response verify OK", "good.pem: good"}, nil},
	})
	// A nonce marked critical (explicitly, either way) is echoed too: the
	// request is openssl's, its nonce re-encoded with the flag written
	// out; openssl sends it and checks the echo and the signature.
	ip.run(t, openssl, "ocsp", "-issuer", "issuer.pem", "-cert", "good.pem", "-no_nonce", "-reqout", "base.der")
	base, err := os.ReadFile(filepath.Join(ip.dir, "base.der"))
	if err != nil {
		t.Fatal(err)
	}
	nonce := []byte{0x04, 0x08, 8, 7, 6, 5, 4, 3, 2, 1}
	for _, critical := range []bool{true, false} {
		req := withExtensions(t, base, false, extension(oidOCSPNonce, &critical, nonce))
		if err := os.WriteFile(filepath.Join(ip.dir, "nonce.der"), req, 0o600); err != nil {
			t.Fatal(err)
		}
		ip.check(t, openssl, []interopCase{{fmt.Sprintf("nonce critical=%v written out", critical), []string{"ocsp", "-reqin", "nonce.der",
			"-url", url, "-issuer", "issuer.pem", "-CAfile", "root.pem", "-resp_text"},
			[]string{"Response verify OK", "Cert Status: good", "OCSP Nonce: \\s+04080807060504030201"}, []string{"WARNING", "Nonce Verify error"}}})
	}
	// GnuTLS ocsptool sends its own nonce when asked, and checks the echo.
	if ocsptool, err := exec.LookPath("ocsptool"); err == nil {
		ip.check(t, ocsptool, []interopCase{{"ocsptool nonce", []string{"--nonce", "--ask=" + url, "--load-issuer", "issuer.pem",
			"--load-cert", "suspended.pem", "--load-trust", "issuer.pem"},
			[]string{"Certificate Status: revoked", "Verifying OCSP Response: Success", "Nonce: "}, nil}})
	}
}

// opensslRequests makes real `openssl ocsp -reqout` requests (fuzz seeds
// and parser vectors); nil without openssl.
func opensslRequests(tb testing.TB) map[string][]byte {
	tb.Helper()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		return nil
	}
	p := newTestPKI(tb)
	dir := tb.TempDir()
	writePEM(tb, filepath.Join(dir, "issuer.pem"), p.issuing)
	out := map[string][]byte{}
	for name, args := range map[string][]string{
		"sha1 no nonce":   {"-serial", "0x0123456789abcdef0123456789abcdef", "-no_nonce"},
		"sha1 nonce":      {"-serial", "0x7f"},
		"sha256 nonce":    {"-sha256", "-serial", "0x80"},
		"two serials":     {"-serial", "0x01", "-serial", "0x02", "-no_nonce"},
		"sha256 no nonce": {"-sha256", "-serial", "0xffffffffffffffffffffffffffffffff", "-no_nonce"},
	} {
		cmd := exec.Command(openssl, append([]string{"ocsp", "-issuer", "issuer.pem", "-reqout", "req.der"}, args...)...)
		cmd.Dir = dir
		if msg, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("openssl: %v: %s", err, msg)
		}
		der, err := os.ReadFile(filepath.Join(dir, "req.der"))
		if err != nil {
			tb.Fatal(err)
		}
		out[name] = bytes.Clone(der)
	}
	return out
}
