package tsa

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestOpenSSLInterop drives the TSA with `openssl ts` as an independent
// client: openssl builds the query, the handler answers it over HTTP, and
// openssl prints and verifies the reply.
func TestOpenSSLInterop(t *testing.T) {
	t.Parallel()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	tests := []struct {
		name      string
		kind      string
		query     []string // extra `openssl ts -query` flags
		verify    []string // extra `openssl ts -verify` flags, besides -CAfile root
		policy    string
		wantNonce bool
		wantCerts bool
	}{
		{"p256 sha256 cert", "p256", []string{"-sha256", "-cert"}, nil, testPolicy.String(), true, true},
		{"p384 sha384 cert", "p384", []string{"-sha384", "-cert"}, nil, testPolicy.String(), true, true},
		{"rsa sha512 cert policy", "rsa", []string{"-sha512", "-cert", "-tspolicy", testPolicy2.String()}, nil,
			testPolicy2.String(), true, true},
		{"p256 no nonce no cert", "p256", []string{"-sha256", "-no_nonce"}, []string{"-untrusted", "chain.pem"},
			testPolicy.String(), false, false},
		{"rsa no cert", "rsa", []string{"-sha256"}, []string{"-untrusted", "chain.pem"}, testPolicy.String(), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newTestPKI(t, tt.kind)
			srv := httptest.NewServer(newTestAuthority(t, p, func(c *Config) { c.Clock = nil }))
			defer srv.Close()
			dir := t.TempDir()
			run := opensslRunner(t, openssl, dir)
			mustWrite(t, filepath.Join(dir, "data.txt"), []byte("Hello, OCES.\n"))
			writePEM(t, filepath.Join(dir, "root.pem"), p.root)
			writePEM(t, filepath.Join(dir, "chain.pem"), p.tsa, p.issuing)

			run(append([]string{"ts", "-query", "-data", "data.txt", "-out", "req.tsq"}, tt.query...)...)
			postFile(t, srv.URL, filepath.Join(dir, "req.tsq"), filepath.Join(dir, "resp.tsr"), http.StatusOK)

			checkReplyText(t, run("ts", "-reply", "-in", "resp.tsr", "-text"), tt.policy, tt.wantNonce)
			run("ts", "-reply", "-in", "resp.tsr", "-token_out", "-out", "token.der")
			certs := run("pkcs7", "-inform", "DER", "-in", "token.der", "-print_certs")
			if hasCerts := strings.Contains(certs, "BEGIN CERTIFICATE"); hasCerts != tt.wantCerts {
				t.Errorf("token has certificates = %v, want %v", hasCerts, tt.wantCerts)
			}
			out := run(append([]string{"ts", "-verify", "-data", "data.txt", "-in", "resp.tsr", "-CAfile", "root.pem"}, tt.verify...)...)
			if !strings.Contains(out, "Verification: OK") {
				t.Errorf("openssl ts -verify: %s", out)
			}
			// The query as openssl made it must also match: -queryfile checks imprint and nonce.
			out = run(append([]string{"ts", "-verify", "-queryfile", "req.tsq", "-in", "resp.tsr", "-CAfile", "root.pem"}, tt.verify...)...)
			if !strings.Contains(out, "Verification: OK") {
				t.Errorf("openssl ts -verify -queryfile: %s", out)
			}
		})
	}
}

// checkReplyText checks the fields `openssl ts -reply -text` prints.
func checkReplyText(t *testing.T, text, policy string, wantNonce bool) {
	t.Helper()
	t.Logf("openssl ts -reply -text:\n%s", text)
	for _, re := range []string{
		`Status: Granted`,
		`Policy OID: ` + regexp.QuoteMeta(policy),
		`Serial number: 0x[0-9A-F]+`,
		`Accuracy: 0x01 seconds, unspecified millis, unspecified micros`,
		`Ordering: no`,
		`TSA: DirName:.*CN *= *OCES Test TSA`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("openssl ts -reply -text lacks %q:\n%s", re, text)
		}
	}
	if hasNonce := !strings.Contains(text, "Nonce: unspecified"); hasNonce != wantNonce {
		t.Errorf("nonce present = %v, want %v:\n%s", hasNonce, wantNonce, text)
	}
}

// TestOpenSSLRejection checks that openssl reads our rejections.
func TestOpenSSLRejection(t *testing.T) {
	t.Parallel()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	p := newTestPKI(t, "p256")
	srv := httptest.NewServer(newTestAuthority(t, p, nil))
	defer srv.Close()
	dir := t.TempDir()
	run := opensslRunner(t, openssl, dir)
	mustWrite(t, filepath.Join(dir, "data.txt"), []byte("Hello, OCES.\n"))
	run("ts", "-query", "-data", "data.txt", "-sha1", "-out", "req.tsq")
	postFile(t, srv.URL, filepath.Join(dir, "req.tsq"), filepath.Join(dir, "resp.tsr"), http.StatusOK)
	text := run("ts", "-reply", "-in", "resp.tsr", "-text")
	if !strings.Contains(text, "Status: Rejected") || !strings.Contains(text, "unrecognized or unsupported algorithm identifier") {
		t.Errorf("openssl ts -reply -text:\n%s", text)
	}
}

func opensslRunner(t *testing.T, openssl, dir string) func(args ...string) string {
	return func(args ...string) string {
		t.Helper()
		cmd := exec.Command(openssl, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
}

func postFile(t *testing.T, url, in, out string, wantStatus int) {
	t.Helper()
	body, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url, ContentTypeQuery, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != wantStatus {
		t.Fatalf("HTTP %d, want %d", resp.StatusCode, wantStatus)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, out, buf.Bytes())
}

func mustWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
