package ocsp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
)

// TestStatusLifecycle: every status change is visible on the very next
// query, before any sweep, for SHA-1 and SHA-256 CertIDs.
func TestStatusLifecycle(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	leaf := p.issue(t)
	r := newResponder(t, p, nil, nil)
	if err := r.Presign(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := r.Handler()
	ctx := context.Background()
	check := func(step string, status, reason int) {
		t.Helper()
		for _, hash := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
			resp := query(t, h, p, leaf.Serial, hash)
			if resp.Status != status || (status == xocsp.Revoked && resp.RevocationReason != reason) {
				t.Fatalf("%s (%v): status %d reason %d, want %d reason %d", step, hash, resp.Status, resp.RevocationReason, status, reason)
			}
			if resp.Certificate == nil || resp.Certificate.SerialNumber.Cmp(r.issuers[0].current.Load().cert.SerialNumber) != 0 {
				t.Fatalf("%s: response does not carry the current responder certificate", step)
			}
		}
	}
	check("issued", xocsp.Good, 0)
	if _, err := p.ca.Suspend(ctx, leaf.Serial, audit.System); err != nil {
		t.Fatal(err)
	}
	check("suspended", xocsp.Revoked, xocsp.CertificateHold)
	if _, err := p.ca.Release(ctx, leaf.Serial, audit.System); err != nil {
		t.Fatal(err)
	}
	check("released", xocsp.Good, 0)
	if _, err := p.ca.Revoke(ctx, leaf.Serial, ca.ReasonKeyCompromise, time.Time{}, audit.System); err != nil {
		t.Fatal(err)
	}
	check("revoked", xocsp.Revoked, xocsp.KeyCompromise)
	// A later sweep keeps the revocation.
	if err := r.Presign(ctx); err != nil {
		t.Fatal(err)
	}
	check("re-swept", xocsp.Revoked, xocsp.KeyCompromise)
}

// TestIssuedAndNeverIssued: a certificate issued while the responder runs
// has its response signed before Issue returns; one stored before the
// responder started is answered from the store before any sweep; a serial
// never issued is "revoked" per RFC 6960 2.2.
func TestIssuedAndNeverIssued(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	before := p.issue(t) // before the responder: no sweep, no hook
	r := newResponder(t, p, nil, nil)
	h := r.Handler()
	if r.valid(r.issuers[0], before.Serial, 0, p.clock.Now()) != nil {
		t.Fatal("a certificate issued before the responder has a response without a sweep")
	}
	if resp := query(t, h, p, before.Serial, crypto.SHA1); resp.Status != xocsp.Good {
		t.Fatalf("stored serial before pre-signing: status %d, want good", resp.Status)
	}
	for _, leaf := range []*ca.Certificate{p.issue(t), p.issue(t)} {
		resp := r.valid(r.issuers[0], leaf.Serial, 0, p.clock.Now())
		if resp == nil {
			t.Fatal("Issue returned before the new certificate's response was pre-signed")
		}
		got, err := xocsp.ParseResponse(resp.der, p.issuing)
		if err != nil || got.Status != xocsp.Good || got.SerialNumber.Cmp(leaf.Serial.Big()) != 0 {
			t.Fatalf("pre-signed response of a new certificate: %v, %+v", err, got)
		}
	}
	serial, _ := ca.ParseSerial("0123456789abcdef0123456789abcdef")
	for _, hash := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		resp := query(t, h, p, serial, hash)
		if resp.Status != xocsp.Revoked || resp.RevocationReason != xocsp.CertificateHold || !resp.RevokedAt.Equal(time.Unix(0, 0)) {
			t.Fatalf("never issued (%v): status %d reason %d at %s", hash, resp.Status, resp.RevocationReason, resp.RevokedAt)
		}
		der := postRaw(t, h, requestFor(t, p, serial, hash))
		if oid, _ := asn1.Marshal(oidExtendedRevoke); !bytes.Contains(der, oid) {
			t.Fatal("never-issued response lacks the extended revoked definition extension")
		}
	}
	if r.valid(r.issuers[0], serial, 0, p.clock.Now()) != nil {
		t.Fatal("a never-issued answer was cached")
	}
}

func hasExtension(exts []pkix.Extension, oid asn1.ObjectIdentifier) bool {
	for _, e := range exts {
		if e.Id.Equal(oid) {
			return true
		}
	}
	return false
}

// TestResponderCertificates: the key is generated on first start, the
// certificate reused on restart, and renewed when due (injected clock).
func TestResponderCertificates(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	keys := &memKeys{}
	r1 := newResponder(t, p, keys, nil)
	first := r1.issuers[0].current.Load().cert
	if keys.generated != 1 {
		t.Fatalf("generated %d keys, want 1", keys.generated)
	}
	if got := first.NotAfter.Sub(first.NotBefore); got != DefaultResponderValidity {
		t.Fatalf("responder validity %s", got)
	}
	if !hasExtension(first.Extensions, asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}) || first.ExtKeyUsage[0] != 9 {
		t.Fatal("responder certificate lacks ocsp-nocheck or id-kp-OCSPSigning")
	}
	r2 := newResponder(t, p, keys, nil)
	if got := r2.issuers[0].current.Load().cert; got.SerialNumber.Cmp(first.SerialNumber) != 0 || keys.generated != 1 {
		t.Fatalf("restart issued %x (generated %d keys), want reuse of %x", got.SerialNumber, keys.generated, first.SerialNumber)
	}
	ctx := context.Background()
	p.clock.advance(47 * time.Hour) // more than half remains
	if err := r2.renewDue(ctx); err != nil {
		t.Fatal(err)
	}
	if got := r2.issuers[0].current.Load().cert; got.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatal("renewed too early")
	}
	p.clock.advance(2 * time.Hour) // less than half remains
	if err := r2.renewDue(ctx); err != nil {
		t.Fatal(err)
	}
	renewed := r2.issuers[0].current.Load().cert
	if renewed.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatal("not renewed when less than half the validity remained")
	}
	leaf := p.issue(t)
	if resp := query(t, r2.Handler(), p, leaf.Serial, crypto.SHA1); resp.Certificate.SerialNumber.Cmp(renewed.SerialNumber) != 0 {
		t.Fatal("new responses are not signed under the renewed certificate")
	}
	r3 := newResponder(t, p, keys, nil)
	if got := r3.issuers[0].current.Load().cert; got.SerialNumber.Cmp(renewed.SerialNumber) != 0 {
		t.Fatal("restart did not pick the renewed certificate")
	}
}

// TestProtocolErrors: malformed, unauthorized and oversized requests.
func TestProtocolErrors(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	r := newResponder(t, p, nil, nil)
	other := newTestPKI(t)
	good := requestFor(t, p, p.issue(t).Serial, crypto.SHA1)
	tests := []struct {
		name   string
		body   []byte
		status byte
	}{
		{"empty", nil, 1},
		{"garbage", []byte("hello"), 1},
		{"truncated", good[:len(good)-3], 1},
		{"trailing data", append(bytes.Clone(good), 0), 1},
		{"two requests", twoRequests(t, p), 1},
		{"other issuer", requestFor(t, other, other.issue(t).Serial, crypto.SHA1), 6},
		{"sha-384 certid", requestFor(t, p, p.issue(t).Serial, crypto.SHA384), 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := postRaw(t, r.Handler(), tt.body)
			if want := errorResponse(responseStatus(tt.status)); !bytes.Equal(got, want) {
				t.Fatalf("response % x, want % x", got, want)
			}
		})
	}
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/ocsp", bytes.NewReader(make([]byte, 5000))))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized POST: status %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ocsp/"+strings.Repeat("A", 10000), nil))
	if !bytes.Equal(rec.Body.Bytes(), errorResponse(statusMalformedRequest)) {
		t.Fatalf("oversized GET: %d % x", rec.Code, rec.Body.Bytes())
	}
	rec = httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPut, "/ocsp", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("PUT: status %d", rec.Code)
	}
}

// twoRequests is an OCSPRequest with two Requests in its list.
func twoRequests(tb testing.TB, p *testPKI) []byte {
	one := requestFor(tb, p, p.issue(tb).Serial, crypto.SHA1)
	req, err := parseRequest(one)
	if err != nil {
		tb.Fatal(err)
	}
	raw := req.tbsRequest.requestList[0].reqCert.raw
	reqEntry := append([]byte{0x30, byte(len(raw))}, raw...)
	list := append([]byte{0x30, byte(2 * len(reqEntry))}, append(bytes.Clone(reqEntry), reqEntry...)...)
	tbs := append([]byte{0x30, byte(len(list))}, list...)
	return append([]byte{0x30, byte(len(tbs))}, tbs...)
}

// TestGET: every encoding clients use for GET, caching headers, 304.
func TestGET(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	r := newResponder(t, p, nil, nil)
	if err := r.Presign(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Wrap(http.NotFoundHandler()))
	defer srv.Close()
	// Find a request whose base64 has '+', '/' and '=' in it.
	var der []byte
	var b64 string
	for range 200 {
		der = requestFor(t, p, p.issue(t).Serial, crypto.SHA1)
		b64 = base64.StdEncoding.EncodeToString(der)
		if strings.Contains(b64, "/") && strings.Contains(b64, "+") && strings.Contains(b64, "=") {
			break
		}
	}
	want := postRaw(t, r.Handler(), der)
	forms := map[string]string{
		"raw":         b64,
		"escaped":     url.PathEscape(b64),
		"all escaped": strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(b64),
		"unpadded":    strings.TrimRight(b64, "="),
		"url-safe":    base64.RawURLEncoding.EncodeToString(der),
	}
	for name, path := range forms {
		resp, err := http.Get(srv.URL + "/ocsp/" + path)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		if resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Fatalf("%s (%s): status %d, body differs from the POST answer", name, path, resp.StatusCode)
		}
		checkCacheHeaders(t, resp, body)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/ocsp/"+b64, nil)
	first, _ := http.DefaultClient.Do(req)
	readAll(t, first)
	for _, h := range []string{"If-None-Match", "If-Modified-Since"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/ocsp/"+b64, nil)
		req.Header.Set(h, first.Header.Get(map[string]string{"If-None-Match": "ETag", "If-Modified-Since": "Last-Modified"}[h]))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if readAll(t, resp); resp.StatusCode != http.StatusNotModified {
			t.Fatalf("conditional GET with %s: status %d, want 304", h, resp.StatusCode)
		}
	}
}

func checkCacheHeaders(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	parsed, err := xocsp.ParseResponse(body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/ocsp-response" {
		t.Errorf("Content-Type %q", ct)
	}
	cc := resp.Header.Get("Cache-Control")
	if !strings.HasPrefix(cc, "max-age=") || !strings.HasSuffix(cc, ", public, no-transform, must-revalidate") {
		t.Errorf("Cache-Control %q", cc)
	}
	if resp.Header.Get("Expires") != parsed.NextUpdate.UTC().Format(http.TimeFormat) ||
		resp.Header.Get("Last-Modified") != parsed.ThisUpdate.UTC().Format(http.TimeFormat) || resp.Header.Get("ETag") == "" {
		t.Errorf("Expires %q Last-Modified %q ETag %q", resp.Header.Get("Expires"), resp.Header.Get("Last-Modified"), resp.Header.Get("ETag"))
	}
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPresignProgress: the sweep reports progress and answers stay right
// while it runs.
func TestPresignProgress(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	var leaves []*ca.Certificate
	for range 5 {
		leaves = append(leaves, p.issue(t))
	}
	var last Progress
	r := newResponder(t, p, nil, func(c *Config) { c.Progress = func(pr Progress) { last = pr } })
	if err := r.Presign(context.Background()); err != nil {
		t.Fatal(err)
	}
	// 5 leaves + the responder certificate.
	if !last.Finished || last.Done != 6 || last.Total != 6 || !r.Ready() {
		t.Fatalf("progress %+v ready %v", last, r.Ready())
	}
	for _, l := range leaves {
		if r.valid(r.issuers[0], l.Serial, 0, p.clock.Now()) == nil {
			t.Fatalf("%s not pre-signed", l.Serial)
		}
	}
	// Responses expire: past nextUpdate a query is signed afresh.
	p.clock.advance(DefaultResponseValidity + time.Minute)
	if resp := query(t, r.Handler(), p, leaves[0].Serial, crypto.SHA1); !resp.NextUpdate.After(p.clock.Now()) {
		t.Fatalf("served an expired response (nextUpdate %s)", resp.NextUpdate)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	base := func() Config {
		c := Config{Issuers: []IssuerConfig{{Name: "issuing-1", Certificate: p.issuing, ResponderKey: "pkcs11:object=x"}},
			Source: p.db, Authority: p.ca, Keys: &memKeys{}}
		c.setDefaults()
		return c
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"ok", func(*Config) {}, ""},
		{"no issuers", func(c *Config) { c.Issuers = nil }, "issuers"},
		{"response outlives responder", func(c *Config) { c.ResponseValidity = 3 * 24 * time.Hour }, "response_validity"},
		{"fraction", func(c *Config) { c.RenewalFraction = 1.5 }, "renewal_fraction"},
		{"issuer key", func(c *Config) { c.Issuers[0].ResponderKey = "" }, "issuers[0]"},
	}
	for _, tt := range tests {
		c := base()
		tt.mutate(&c)
		err := c.Validate()
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: %v, want error containing %q", tt.name, err, tt.want)
		}
	}
}

// TestReservedNeverCompleted: a serial reserved but never stored as a
// certificate (a crash between signing and storing; reconciled at start
// by the CA) is answered as not good: revoked, as never issued.
func TestReservedNeverCompleted(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	r := newResponder(t, p, nil, nil)
	serial, _ := ca.ParseSerial("4123456789abcdef0123456789abcdef")
	now := p.clock.Now()
	if err := p.db.ReserveAudited(context.Background(), &ca.Prepared{Serial: serial, CA: "issuing-1", Profile: "poces",
		NotBefore: now, NotAfter: now.AddDate(3, 0, 0), Created: now}); err != nil {
		t.Fatal(err)
	}
	resp := query(t, r.Handler(), p, serial, crypto.SHA1)
	if resp.Status != xocsp.Revoked || resp.RevocationReason != xocsp.CertificateHold {
		t.Fatalf("reserved, never completed: status %d reason %d, want revoked (certificateHold, never issued)", resp.Status, resp.RevocationReason)
	}
}
