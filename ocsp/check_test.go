package ocsp

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
)

// TestCheck: the relying party's check against a real responder over
// HTTP, for every status and for answers it must not trust.
func TestCheck(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	ctx := context.Background()
	good, revoked, suspended := p.issue(t), p.issue(t), p.issue(t)
	if _, err := p.ca.Revoke(ctx, revoked.Serial, ca.ReasonKeyCompromise, time.Time{}, audit.System); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ca.Suspend(ctx, suspended.Serial, audit.System); err != nil {
		t.Fatal(err)
	}
	r := newResponder(t, p, nil, nil)
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(srv.Close)
	other := newTestPKI(t)
	otherSrv := httptest.NewServer(newResponder(t, other, nil, nil).Handler())
	t.Cleanup(otherSrv.Close)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", http.StatusBadGateway) }))
	t.Cleanup(broken.Close)
	// at points a certificate's AIA at url (the test CA's base URL is
	// not served).
	at := func(c *ca.Certificate, url string) *x509.Certificate {
		x, err := c.X509()
		if err != nil {
			t.Fatal(err)
		}
		if url != "" {
			x.OCSPServer = []string{url}
		} else {
			x.OCSPServer = nil
		}
		return x
	}
	never := at(good, srv.URL+"/ocsp")
	never.SerialNumber = ca.Serial{15: 0x42}.Big()
	now := p.clock.Now()
	tests := []struct {
		name   string
		cert   *x509.Certificate
		now    time.Time
		status string // "" for an error
		want   string // in String() or the error
	}{
		{"good", at(good, srv.URL+"/ocsp"), now, "good", "good"},
		{"revoked", at(revoked, srv.URL+"/ocsp"), now, "revoked", "revoked (keyCompromise) since 20"},
		{"suspended", at(suspended, srv.URL+"/ocsp"), now, "revoked", "certificateHold"},
		{"never issued", never, now, "revoked", "since 1970-01-01T00:00:00Z"},
		{"no AIA", at(good, ""), now, "", "names no OCSP responder"},
		{"answer expired", at(good, srv.URL+"/ocsp"), now.Add(3 * 24 * time.Hour), "", "expired"},
		{"answer from the future", at(good, srv.URL+"/ocsp"), now.Add(-10 * time.Minute), "", "in the future"},
		{"another CA's responder", at(good, otherSrv.URL+"/ocsp"), now, "", "refused: unauthorized"},
		{"HTTP error", at(good, broken.URL), now, "", "502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := Check(ctx, srv.Client(), tt.cert, p.issuing, tt.now)
			if tt.status == "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Check = %v, %v; want an error with %q", st, err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if st.Status != tt.status || st.Good != (tt.status == "good") || !strings.Contains(st.String(), tt.want) {
				t.Fatalf("Check = %+v (%s), want %s with %q", st, st, tt.status, tt.want)
			}
			if st.Responder == nil || !st.Responder.Equal(r.ResponderCertificate("issuing-1")) {
				t.Fatal("the answer's responder is not the delegated responder")
			}
		})
	}
	// The other CA's responder, asked with the other CA as issuer, says a
	// serial it never issued is revoked: a valid answer, never good.
	st, err := Check(ctx, nil, at(good, otherSrv.URL+"/ocsp"), other.issuing, now)
	if err != nil || st.Good || st.Status != "revoked" {
		t.Fatalf("a serial the other CA never issued: %+v, %v", st, err)
	}
}
