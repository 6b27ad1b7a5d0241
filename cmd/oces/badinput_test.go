package main

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/oces-pki/oces/api"
	"github.com/oces-pki/oces/testdata/badinput"
	"github.com/oces-pki/oces/tsa"
)

// TestBadInputCorpusIsGenerated checks that testdata/badinput/corpus.jsonl
// is what its generator makes, so that the replayed corpus and the code
// that documents it cannot drift apart.
func TestBadInputCorpusIsGenerated(t *testing.T) {
	t.Parallel()
	file, err := os.ReadFile(badinput.File())
	if err != nil {
		t.Fatal(err)
	}
	reqs := badinput.Generate()
	if !bytes.Equal(file, badinput.Encode(reqs)) {
		t.Fatal("testdata/badinput/corpus.jsonl differs from badinput.Generate(); run go run ./testdata/badinput/gen")
	}
	if len(reqs) < 500 {
		t.Fatalf("the corpus has %d requests; issue 15 asks for at least 500", len(reqs))
	}
}

// TestBadInputCorpus replays the bad-input corpus (issue 15, part 2)
// against a running 'oces serve' with OCSP, CRLs, the TSA, the admin API
// and the signing service: every request gets an answer or, for broken
// HTTP framing, a closed connection; none gets a 5xx; protocol answers
// parse in their protocol; the process neither panics nor dies; and
// afterwards OCSP, the TSA, the CRL and issuance still answer correctly.
func TestBadInputCorpus(t *testing.T) {
	t.Parallel()
	reqs, err := badinput.Load()
	if err != nil {
		t.Fatal(err)
	}
	se, s := newSigningEnv(t)
	issuer := readCert(t, se.path("ca/issuing-1.pem"))
	cl := se.env.client(se.officer)
	target, err := cl.Issue(t.Context(), api.IssueRequest{Profile: "foces", CSR: csrPEM(t), CVR: "12345678", Organization: "Firma A/S", Name: "Badinput target"})
	if err != nil {
		t.Fatal(err)
	}
	witness, err := cl.Issue(t.Context(), api.IssueRequest{Profile: "foces", CSR: csrPEM(t), CVR: "12345678", Organization: "Firma A/S", Name: "Badinput witness"})
	if err != nil {
		t.Fatal(err)
	}
	nameHash, keyHash := issuerHashes(t, issuer)
	officer := tlsConfig(t, se.env, se.officer)
	provider := tlsConfig(t, se.env, se.client)

	outcomes := map[string]map[int]int{} // kind -> status -> count (0: connection closed)
	start := time.Now()
	for _, r := range reqs {
		body := bytes.ReplaceAll(bytes.ReplaceAll(r.Body, badinput.NameHash, nameHash), badinput.KeyHash, keyHash)
		body = bytes.ReplaceAll(body, []byte(badinput.SerialPlaceholder), []byte(target.Serial))
		path := strings.ReplaceAll(r.Path, badinput.SerialPlaceholder, target.Serial)
		if r.Kind == badinput.KindOCSPGet && path == "" {
			path = "/ocsp/" + url.PathEscape(base64.StdEncoding.EncodeToString(body))
			body = nil
		}
		addr, tc := s.public, (*tls.Config)(nil)
		if r.Listener == badinput.Admin {
			addr, tc = s.admin, officer
			if r.Kind == badinput.KindUpload {
				tc = provider
			}
		}
		raw := body
		if r.Kind != badinput.KindRaw {
			raw = httpRequest(r.Method, path, r.ContentType, body)
		}
		resp, data, err := roundTrip(addr, tc, r.Method, raw)
		if kindOutcome(outcomes, r.Kind, resp, data); err != nil {
			if r.Kind == badinput.KindRaw && resp == nil {
				continue // broken framing may be answered by closing the connection
			}
			t.Errorf("%s: no answer: %v", r.Name, err)
			continue
		}
		if os.Getenv("BADINPUT_VERBOSE") != "" {
			t.Logf("%s: %s", r.Name, resp.Status)
		}
		if msg := checkBadInputAnswer(r, resp, data); msg != "" {
			t.Errorf("%s: %s %s: %s", r.Name, r.Method, truncate(path, 80), msg)
		}
		if s.exited() {
			t.Fatalf("%s: oces serve exited:\n%s", r.Name, tail(s.stderr.String(), 4096))
		}
	}
	elapsed := time.Since(start)
	t.Logf("replayed %d requests in %s; answers by kind and status (0: connection closed):\n%s", len(reqs), elapsed.Round(time.Millisecond), formatOutcomes(outcomes))
	if logs := s.stderr.String(); strings.Contains(logs, "panic") || strings.Contains(logs, "goroutine ") {
		t.Errorf("the server's log shows a panic:\n%s", grepLines(logs, "panic"))
	}
	checkStillCorrect(t, se, s, issuer, witness)
	s.stop()
}

// issuerHashes are the SHA-1 hashes of the issuer's name and key as an OCSP
// CertID holds them (RFC 6960 section 4.1.1).
func issuerHashes(tb testing.TB, issuer *x509.Certificate) ([]byte, []byte) {
	tb.Helper()
	var spki struct {
		Algorithm asn1.RawValue
		Key       asn1.BitString
	}
	if _, err := asn1.Unmarshal(issuer.RawSubjectPublicKeyInfo, &spki); err != nil {
		tb.Fatal(err)
	}
	n, k := sha1.Sum(issuer.RawSubject), sha1.Sum(spki.Key.RightAlign())
	return n[:], k[:]
}

func tlsConfig(tb testing.TB, e *env, c credential) *tls.Config {
	tb.Helper()
	return &tls.Config{RootCAs: e.roots(), Certificates: []tls.Certificate{e.pair(c)}, MinVersion: tls.VersionTLS12}
}

// httpRequest writes an HTTP/1.1 request by hand, so that the path goes
// out exactly as the corpus has it.
func httpRequest(method, path, contentType string, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: badinput\r\nConnection: close\r\n", method, path)
	if contentType != "" {
		fmt.Fprintf(&b, "Content-Type: %s\r\n", contentType)
	}
	if body != nil || method == "POST" || method == "PUT" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// roundTrip sends raw on a new connection (TLS when tc is set) and reads
// one response within ten seconds: a server that hangs fails the test.
func roundTrip(addr string, tc *tls.Config, method string, raw []byte) (*http.Response, []byte, error) {
	var (
		c   net.Conn
		err error
	)
	d := &net.Dialer{Timeout: 5 * time.Second}
	if tc != nil {
		c, err = tls.DialWithDialer(d, "tcp", addr, tc)
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	werr := make(chan error, 1)
	go func() { _, err := c.Write(raw); werr <- err }()
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return nil, nil, fmt.Errorf("no answer within 10s: %w", err)
		}
		return nil, nil, err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	<-werr // the server may stop reading early; that is its right
	if errors.Is(err, syscall.ECONNRESET) {
		// The server answered and closed the connection while the rest of
		// the request was unread (a 431 to a huge header): the kernel then
		// resets it, and the end of the answer may be lost. The status
		// line is what counts.
		err = nil
	}
	return resp, data, err
}

// checkBadInputAnswer says what is wrong with the answer to r, or "".
func checkBadInputAnswer(r badinput.Request, resp *http.Response, data []byte) string {
	code := resp.StatusCode
	if code >= 500 {
		// net/http's own answers to framing it does not implement, as the
		// protocol prescribes: a version it does not speak (RFC 9110
		// section 15.6.6) and a transfer coding it does not know (RFC 9112
		// section 6.1).
		if r.Kind == badinput.KindRaw && (code == http.StatusHTTPVersionNotSupported || code == http.StatusNotImplemented) {
			return ""
		}
		return fmt.Sprintf("%s %.300q", resp.Status, data)
	}
	ct := resp.Header.Get("Content-Type")
	switch {
	case (r.Kind == badinput.KindOCSPPost || r.Kind == badinput.KindOCSPGet) && ct == "application/ocsp-response":
		if _, err := xocsp.ParseResponse(data, nil); err != nil {
			var re xocsp.ResponseError
			if !errors.As(err, &re) {
				return fmt.Sprintf("%s with an OCSP response that does not parse: %v", resp.Status, err)
			}
		}
	case r.Kind == badinput.KindTSA && ct == "application/timestamp-reply":
		if _, err := tsa.ParseResponse(data); err != nil {
			var rej *tsa.RejectionError
			if !errors.As(err, &rej) {
				return fmt.Sprintf("%s with a TimeStampResp that does not parse: %v", resp.Status, err)
			}
		}
	case code >= 400 && len(bytes.TrimSpace(data)) == 0 && r.Method != "HEAD" && r.Kind != badinput.KindRaw:
		return fmt.Sprintf("%s without a message", resp.Status)
	}
	return ""
}

// kindOutcome counts an answer under its kind, OCSP and TSA answers also
// under their protocol status.
func kindOutcome(m map[string]map[int]int, kind string, resp *http.Response, data []byte) {
	if resp != nil && resp.StatusCode == http.StatusOK {
		switch kind {
		case badinput.KindOCSPGet, badinput.KindOCSPPost:
			var re xocsp.ResponseError
			if _, err := xocsp.ParseResponse(data, nil); errors.As(err, &re) {
				kind += " " + re.Status.String()
			}
		case badinput.KindTSA:
			var rej *tsa.RejectionError
			if _, err := tsa.ParseResponse(data); errors.As(err, &rej) {
				kind += " rejection"
			} else if err == nil {
				kind += " granted"
			}
		}
	}
	if m[kind] == nil {
		m[kind] = map[int]int{}
	}
	code := 0
	if resp != nil {
		code = resp.StatusCode
	}
	m[kind][code]++
}

func formatOutcomes(m map[string]map[int]int) string {
	kinds := make([]string, 0, len(m))
	for k := range m {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var b strings.Builder
	for _, k := range kinds {
		codes := make([]int, 0, len(m[k]))
		total := 0
		for c, n := range m[k] {
			codes = append(codes, c)
			total += n
		}
		sort.Ints(codes)
		fmt.Fprintf(&b, "  %-10s %4d:", k, total)
		for _, c := range codes {
			fmt.Fprintf(&b, " %d×%d", c, m[k][c])
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// checkStillCorrect asks each service a proper question after the corpus:
// OCSP says good for the witness under a signature that verifies, the TSA
// grants a token that verifies, the CRL parses under the issuer's
// signature, and issuance works.
func checkStillCorrect(tb testing.TB, se *signingEnv, s *served, issuer *x509.Certificate, witness *api.Certificate) {
	tb.Helper()
	base := "http://" + s.public
	leaf, err := x509.ParseCertificate(pemDER(tb, witness.PEM))
	if err != nil {
		tb.Fatal(err)
	}
	req, err := xocsp.CreateRequest(leaf, issuer, &xocsp.RequestOptions{Hash: crypto.SHA1})
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := quick.Post(base+"/ocsp", "application/ocsp-request", bytes.NewReader(req))
	if err != nil {
		tb.Fatalf("OCSP after the corpus: %v", err)
	}
	der, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if r, err := xocsp.ParseResponseForCert(der, leaf, issuer); err != nil || r.Status != xocsp.Good {
		tb.Errorf("OCSP after the corpus: %v, status %v", err, r)
	}
	digest := sha256.Sum256([]byte("after the bad input"))
	tok, err := tsa.Query(tb.Context(), quick, base+"/tsa", digest[:], crypto.SHA256, tsa.QueryOptions{Rand: rand.Reader})
	if err != nil {
		tb.Errorf("TSA after the corpus: %v", err)
	} else {
		inter := x509.NewCertPool()
		inter.AddCert(issuer)
		if err := tok.Verify(se.roots(), inter); err != nil {
			tb.Errorf("TSA token after the corpus does not verify: %v", err)
		}
	}
	resp, err = quick.Get(base + "/crl/issuing-1.crl")
	if err != nil {
		tb.Fatalf("CRL after the corpus: %v", err)
	}
	der, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if crl, err := x509.ParseRevocationList(der); err != nil {
		tb.Errorf("CRL after the corpus: %s, %v", resp.Status, err)
	} else if err := crl.CheckSignatureFrom(issuer); err != nil {
		tb.Errorf("CRL after the corpus: signature: %v", err)
	}
	if _, err := se.env.client(se.officer).Issue(tb.Context(), api.IssueRequest{Profile: "voces", CSR: csrPEM(tb), CVR: "12345678", Organization: "Firma A/S"}); err != nil {
		tb.Errorf("issuing after the corpus: %v", err)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body, err := quickGet(base + p); code != http.StatusOK {
			tb.Errorf("GET %s after the corpus: %d %q %v", p, code, body, err)
		}
	}
}
