package api

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
)

// rpAPI is the admin API with relying parties allowed match-cpr.
type rpAPI struct {
	*testAPI
	srv *httptest.Server
}

func newRPAPI(tb testing.TB, access func(allowed string) *RelyingPartyAccess) (*rpAPI, *http.Client, *http.Client, *http.Client) {
	tb.Helper()
	t := newTestAPI(tb, nil)
	allowedKey, otherKey, raKey, officerKey := newKey(tb), newKey(tb), newKey(tb), newKey(tb)
	allowed := t.issueVOCES(tb, allowedKey, "Webshop A/S")
	other := t.issueVOCES(tb, otherKey, "Other A/S")
	ra, err := t.ca.IssueService(context.Background(), ca.ServiceRequest{Kind: ca.ServiceRA, CommonName: "RA", Organization: "Firma A/S",
		CVR: "12345678", PublicKey: raKey.Public(), Validity: 24 * time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	officer, err := t.ca.IssueService(context.Background(), ca.ServiceRequest{Kind: ca.ServiceOfficer, CommonName: "Officer",
		PublicKey: officerKey.Public(), Validity: 24 * time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(allowed)
	h := New(Config{CA: t.ca, Audit: t.db, AuditLog: t.db, MatchCPR: access("sha256:" + fingerprint(leaf))})
	srv := httptest.NewUnstartedServer(h)
	clients := x509.NewCertPool()
	clients.AddCert(t.ca.Issuers()[0].Certificate)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clients, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	r := &rpAPI{testAPI: t, srv: srv}
	r.officer = r.client(officer.DER, officerKey)
	return r, r.client(allowed, allowedKey), r.client(other, otherKey), r.client(ra.DER, raKey)
}

// issueVOCES issues an organisation certificate for key.
func (t *testAPI) issueVOCES(tb testing.TB, key crypto.Signer, org string) []byte {
	tb.Helper()
	der, err := x509.CreateCertificateRequest(nil, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}, key)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := t.ca.Issue(context.Background(), ca.IssueRequest{Profile: "voces", Organization: org, CVR: "87654321",
		CSR: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})})
	if err != nil {
		tb.Fatal(err)
	}
	return c.DER
}

func (r *rpAPI) client(der []byte, key crypto.Signer) *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(r.srv.Certificate())
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, RootCAs: roots, MinVersion: tls.VersionTLS12}}}
}

func (r *rpAPI) ask(tb testing.TB, c *http.Client, pid, cpr string) (int, string) {
	tb.Helper()
	old := r.testAPI.srv
	r.testAPI.srv = r.srv
	defer func() { r.testAPI.srv = old }()
	code, body := r.do(tb, c, "POST", "/api/v1/subjects/match-cpr", jsonBody(tb, MatchCPRRequest{PID: pid, CPR: cpr}))
	return code, string(body)
}

// TestRelyingPartyMatchCPR: a relying party on the allow-list gets yes or
// no; one that is not, and a registration authority, are refused; the
// questions are rate-limited per certificate; every question is audited
// with the PID and never the CPR number.
func TestRelyingPartyMatchCPR(t *testing.T) {
	t.Parallel()
	r, allowed, other, ra := newRPAPI(t, func(fp string) *RelyingPartyAccess {
		return &RelyingPartyAccess{Clients: []string{fp}, Rate: 0.001, Burst: 3}
	})
	cert, err := r.ca.Issue(context.Background(), ca.IssueRequest{Profile: "poces", Name: "Jens Hansen", CPR: "010190-1234", CSR: []byte(csrPEM(t))})
	if err != nil {
		t.Fatal(err)
	}
	pid := cert.SubjectID
	seq := r.auditHead(t)
	for _, tc := range []struct {
		name   string
		c      *http.Client
		cpr    string
		code   int
		answer string
	}{
		{"allowed, the number", allowed, "010190-1234", http.StatusOK, `"match": true`},
		{"allowed, another number", allowed, "020290-4321", http.StatusOK, `"match": false`},
		{"not on the list", other, "010190-1234", http.StatusForbidden, "allow-list"},
		{"registration authority", ra, "010190-1234", http.StatusForbidden, "only a CA officer"},
		{"officer", r.officer, "010190-1234", http.StatusOK, `"match": true`},
		{"allowed, third in the burst", allowed, "010190-1234", http.StatusOK, `"match": true`},
		{"allowed, over the rate", allowed, "010190-1234", http.StatusTooManyRequests, "too many requests"},
	} {
		if code, body := r.ask(t, tc.c, pid, tc.cpr); code != tc.code || !strings.Contains(body, tc.answer) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, code, body, tc.code, tc.answer)
		}
	}
	recs := r.auditRecords(t, seq+1)
	if len(recs) != 7 {
		t.Fatalf("%d audit records for 7 questions: %+v", len(recs), recs)
	}
	for i, rec := range recs {
		if rec.Action != audit.ActionMatchCPR {
			t.Errorf("record %d: action %s", i, rec.Action)
		}
		for _, v := range append([]string{rec.Target, rec.Outcome}, mapValues(rec.Details)...) {
			if strings.Contains(v, "010190") || strings.Contains(v, "020290") {
				t.Errorf("record %d holds a CPR number: %+v", i, rec)
			}
		}
	}
	if !strings.Contains(recs[0].Actor.Subject, "Webshop A/S") || recs[0].Target != pid || recs[0].Outcome != audit.OutcomeOK {
		t.Errorf("the relying party's question: %+v", recs[0])
	}
	if !strings.Contains(recs[2].Actor.Subject, "Other A/S") || recs[2].Outcome == audit.OutcomeOK {
		t.Errorf("the refused relying party: %+v", recs[2])
	}
	if !strings.Contains(recs[6].Outcome, "too many") {
		t.Errorf("the question over the rate: %+v", recs[6])
	}
}

// TestMatchCPRWithoutRelyingParties: without an allow-list a service
// provider's certificate is not a login to the admin API at all.
func TestMatchCPRWithoutRelyingParties(t *testing.T) {
	t.Parallel()
	r, allowed, _, _ := newRPAPI(t, func(string) *RelyingPartyAccess { return nil })
	if code, body := r.ask(t, allowed, "PID:9208-2002-2-000000000000", "010190-1234"); code != http.StatusUnauthorized {
		t.Errorf("a service provider without relying parties configured: %d %s", code, body)
	}
}
