package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
)

// TestRASubjectOutsideScopeIsUnknown: a registration authority asking for
// a subject of another CVR gets the answer it gets for a subject that
// does not exist, so it cannot learn which identifiers exist.
func TestRASubjectOutsideScopeIsUnknown(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, nil)
	code, body := a.do(t, a.officer, "POST", "/api/v1/certificates", moces(t, func(m map[string]any) { m["cvr"] = "87654321" }))
	if code != http.StatusCreated {
		t.Fatalf("issuing for another CVR: %d %s", code, body)
	}
	other := jsonField(t, body, "subject_id")
	unknown := "CVR:87654321-RID:999999"
	seq := a.auditHead(t)
	answers := map[string]string{}
	for _, id := range []string{other, unknown} {
		code, body := a.do(t, a.ra, "GET", "/api/v1/subjects/"+id, "")
		if code != http.StatusNotFound {
			t.Errorf("RA asks for %s: %d %s, want 404", id, code, body)
		}
		answers[id] = strings.ReplaceAll(string(body), id, "ID")
	}
	if answers[other] != answers[unknown] {
		t.Errorf("the answers differ:\n%s\n%s", answers[other], answers[unknown])
	}
	recs := a.auditRecords(t, seq+1)
	if len(recs) != 1 || recs[0].Action != audit.ActionSubjectShow || recs[0].Target != other || recs[0].Outcome == audit.OutcomeOK {
		t.Errorf("audit after the refused look-up: %+v", recs)
	}
	if code, body := a.do(t, a.officer, "GET", "/api/v1/subjects/"+other, ""); code != http.StatusOK {
		t.Errorf("officer asks for %s: %d %s", other, code, body)
	}
}

// TestRefusalsAreAudited: a refused listing, a forced CRL run and a client
// certificate that TLS accepts but the API does not are in the audit chain.
func TestRefusalsAreAudited(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, nil)

	seq := a.auditHead(t)
	if code, body := a.do(t, a.ra, "GET", "/api/v1/certificates?status=good", ""); code != http.StatusForbidden {
		t.Fatalf("RA lists: %d %s", code, body)
	}
	recs := a.auditRecords(t, seq+1)
	if len(recs) != 1 || recs[0].Action != audit.ActionCertList || recs[0].Outcome == audit.OutcomeOK ||
		!strings.Contains(recs[0].Actor.Subject, "Firma A/S RA") {
		t.Errorf("audit after a refused listing: %+v", recs)
	}

	seq = a.auditHead(t)
	if code, body := a.do(t, a.officer, "POST", "/api/v1/crl/issuing-1/generate", ""); code != http.StatusOK {
		t.Fatalf("CRL run: %d %s", code, body)
	}
	var run int
	for _, r := range a.auditRecords(t, seq+1) {
		if r.Action == audit.ActionCRLGenerate && r.Target == "issuing-1" && strings.Contains(r.Actor.Subject, "Test Officer") {
			run++
		}
	}
	if run != 1 {
		t.Errorf("%d records of the forced CRL run, want 1", run)
	}

	// An officer certificate, revoked: it still chains to the issuing CA,
	// so TLS lets it through and the API refuses it.
	key := newKey(t)
	cert, err := a.ca.IssueService(context.Background(), ca.ServiceRequest{Kind: ca.ServiceOfficer, CommonName: "Former Officer",
		PublicKey: key.Public(), Validity: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.ca.Revoke(context.Background(), cert.Serial, ca.ReasonKeyCompromise, time.Time{}, audit.System); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(a.srv.Certificate())
	former := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.DER}, PrivateKey: key}}, RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	seq = a.auditHead(t)
	for range 3 {
		if code, body := a.do(t, former, "GET", "/api/v1/whoami", ""); code != http.StatusUnauthorized {
			t.Fatalf("revoked officer: %d %s", code, body)
		}
	}
	recs = a.auditRecords(t, seq+1)
	if len(recs) != 1 || recs[0].Action != audit.ActionLoginRefused || !strings.Contains(recs[0].Actor.Subject, "Former Officer") ||
		recs[0].Details["serial"] != cert.Serial.String() || !strings.Contains(recs[0].Outcome, "revoked") {
		t.Errorf("audit after three refused logins (one record a minute per certificate): %+v", recs)
	}
}
