package api

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/citizen"
)

func TestSigningRequests(t *testing.T) {
	ta := newTestAPI(t, nil)
	reqs := citizen.NewSigningRequests(citizen.RequestsConfig{Audit: ta.db})
	// The provider's certificate, and a client that presents it.
	key := newKey(t)
	cert, err := ta.ca.IssueService(context.Background(), ca.ServiceRequest{Kind: ca.ServiceOfficer, CommonName: "Webshop", PublicKey: key.Public(), Validity: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.DER)
	h := SigningRequestsHandler(SigningRequestsConfig{Requests: reqs, MaxDocumentBytes: 1 << 10,
		SignURL:   func() string { return "https://sign.example.dk" },
		Providers: []SigningProvider{{ID: "webshop", CertificateSHA256: sum[:], ReturnOrigins: []string{"https://shop.example.dk"}}}})
	srv := httptest.NewUnstartedServer(h)
	clients := x509.NewCertPool()
	clients.AddCert(ta.ca.Issuers()[0].Certificate)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clients}
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	sp := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots,
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.DER}, PrivateKey: key}}}}}
	other := ta.client(t, ca.ServiceRequest{Kind: ca.ServiceOfficer, CommonName: "Another"})
	other.Transport.(*http.Transport).TLSClientConfig.RootCAs = roots

	pdf := base64.StdEncoding.EncodeToString([]byte("%PDF-1.7 a document"))
	post := func(c *http.Client, body string) (int, map[string]any) {
		resp, err := c.Post(srv.URL+"/api/v1/signing-requests", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	cases := []struct {
		name   string
		client *http.Client
		body   string
		status int
		kind   string
	}{
		{"unregistered certificate", other, `{"document":"` + pdf + `","return_url":"https://shop.example.dk/b"}`, 403, "forbidden"},
		{"unknown key", sp, `{"document":"` + pdf + `","return_url":"https://shop.example.dk/b","returnUrl":"x"}`, 400, "malformed_json"},
		{"not base64", sp, `{"document":"%%%","return_url":"https://shop.example.dk/b"}`, 400, "citizen.invalid_request"},
		{"other origin", sp, `{"document":"` + pdf + `","return_url":"https://evil.example/b"}`, 400, "citizen.invalid_request"},
		{"too large", sp, `{"document":"` + base64.StdEncoding.EncodeToString(make([]byte, 2<<10)) + `","return_url":"https://shop.example.dk/b"}`, 413, "too_large"},
		{"long user hint", sp, `{"document":"` + pdf + `","return_url":"https://shop.example.dk/b","user_hint":"` + strings.Repeat("a", 65) + `"}`, 400, "ca.invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if status, out := post(tc.client, tc.body); status != tc.status || out["kind"] != tc.kind {
				t.Fatalf("%d %v, want %d %s", status, out, tc.status, tc.kind)
			}
		})
	}
	status, out := post(sp, `{"document":"`+pdf+`","return_url":"https://shop.example.dk/b","user_hint":"karen.j"}`)
	id, _ := out["id"].(string)
	if status != http.StatusCreated || out["sign_url"] != "https://sign.example.dk/request/"+id || len(id) != 43 {
		t.Fatalf("create: %d %v", status, out)
	}
	resp, err := sp.Get(srv.URL + "/api/v1/signing-requests/not-a-reference")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown reference: %d", resp.StatusCode)
	}
	found := false
	for _, r := range ta.auditRecords(t, 1) {
		if r.Action == citizen.ActionRequestCreate && r.Actor.Subject == "service provider webshop" {
			found = true
		}
	}
	if !found {
		t.Error("the request is not in the audit chain")
	}
}
