package main

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/oces-pki/oces/api"
	"github.com/oces-pki/oces/store/bolt"
	"github.com/oces-pki/oces/tsa"
)

// askOCSP posts a request for leaf to the public listener and returns the
// verified answer.
func askOCSP(tb testing.TB, public string, leaf, issuer *x509.Certificate) *xocsp.Response {
	tb.Helper()
	req, err := xocsp.CreateRequest(leaf, issuer, nil)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := http.Post("http://"+public+"/ocsp", "application/ocsp-request", bytes.NewReader(req))
	if err != nil {
		tb.Fatal(err)
	}
	der, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r, err := xocsp.ParseResponseForCert(der, leaf, issuer)
	if err != nil {
		tb.Fatalf("OCSP answer: %v", err)
	}
	if r.Certificate == nil {
		tb.Fatal("the OCSP answer carries no responder certificate")
	}
	return r
}

// TestRevokedServiceKeys drives 'oces serve' as an officer would after a
// key compromise: revoking the TSA certificate makes the TSA refuse with
// the reason; revoking the OCSP responder's certificate switches the
// responder to a new key and certificate at once (openssl verifies the
// answers); a restart keeps the new key; every step is in the audit chain,
// which verifies.
func TestRevokedServiceKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "p-256")
	cfg, err := os.ReadFile(e.path("oces.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	e.write("oces.yaml", string(cfg)+"tsa: {key: '"+e.tok.KeyURI("tsa")+"', certificate: tsa/tsa.pem}\n")
	e.ok("ceremony", "tsa")
	tsaCert := readCert(t, e.path("tsa/tsa.pem"))
	issuing := readCert(t, e.path("ca/issuing-1.pem"))
	s := e.serve()
	issued, err := e.client(e.officer).Issue(t.Context(), api.IssueRequest{Profile: "voces", CSR: csrPEM(t), Organization: "Firma A/S", CVR: "12345678"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(pemDER(t, issued.PEM))
	e.write("leaf.pem", issued.PEM)
	digest := sha256.Sum256([]byte("a document"))
	stamp := func() error {
		_, err := tsa.Query(t.Context(), &http.Client{Timeout: 10 * time.Second}, "http://"+s.public+"/tsa", digest[:], crypto.SHA256, tsa.QueryOptions{})
		return err
	}
	if err := stamp(); err != nil {
		t.Fatalf("time-stamp while the TSA certificate is good: %v", err)
	}
	before := askOCSP(t, s.public, leaf, issuing).Certificate

	// 1. The TSA certificate, revoked: refusals within the status TTL.
	e.cliOK(e.officer, "cert", "revoke", tsaCert.SerialNumber.Text(16), "--reason", "keyCompromise")
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := stamp()
		var rej *tsa.RejectionError
		if errors.As(err, &rej) && rej.FailInfo == tsa.FailSystemFailure && strings.Contains(rej.Text, "TSA certificate revoked (keyCompromise)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the TSA still answers %v after its certificate was revoked", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// 2. The responder certificate, revoked: the very next answer is
	//    signed by another key and certificate.
	e.cliOK(e.officer, "cert", "revoke", before.SerialNumber.Text(16), "--reason", "keyCompromise")
	after := askOCSP(t, s.public, leaf, issuing).Certificate
	if after.SerialNumber.Cmp(before.SerialNumber) == 0 || bytes.Equal(after.RawSubjectPublicKeyInfo, before.RawSubjectPublicKeyInfo) {
		t.Fatal("the OCSP answer is still signed with the revoked responder certificate or key")
	}
	if _, err := exec.LookPath("openssl"); err == nil {
		out, err := exec.Command("openssl", "ocsp", "-issuer", e.path("ca/issuing-1.pem"), "-cert", e.path("leaf.pem"),
			"-url", "http://"+s.public+"/ocsp", "-CAfile", e.path("ca/root.pem"), "-no_nonce").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Response verify OK") || !strings.Contains(string(out), ": good") {
			t.Errorf("openssl ocsp after the rotation: %v\n%s", err, out)
		}
	}
	var list api.CertificateList
	e.cliJSON(e.officer, &list, "cert", "list", "--profile", "ocsp-responder")
	statuses := map[string]int{}
	for _, c := range list.Certificates {
		statuses[string(c.Status)]++
	}
	if statuses["good"] != 1 || statuses["revoked"] != 1 {
		t.Errorf("responder certificates after the rotation: %v", statuses)
	}
	for _, want := range []string{"the TSA certificate is not good", "switched to a new responder key"} {
		if !strings.Contains(s.stderr.String(), want) {
			t.Errorf("the server log does not say %q", want)
		}
	}
	s.stop()

	// 3. The audit chain has it all and verifies; a restart keeps the key.
	db, err := bolt.Open(e.path("oces.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	actions := auditActions(t, db, 1)
	db.Close()
	for _, want := range []string{"cert.revoke tsa.suspend", "cert.revoke ocsp.responder.retire ocsp.responder.rotate", "ocsp.responder.resign"} {
		if !strings.Contains(actions, want) {
			t.Errorf("the audit chain lacks %q:\n%s", want, actions)
		}
	}
	if out := e.ok("audit", "verify"); !strings.Contains(out, "intact") {
		t.Errorf("oces audit verify: %s", out)
	}
	s = e.serve()
	if again := askOCSP(t, s.public, leaf, issuing).Certificate; !again.Equal(after) {
		t.Errorf("after a restart the responder signs with %x, not %x", again.SerialNumber, after.SerialNumber)
	}
	s.stop()
}
