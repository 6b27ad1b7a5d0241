package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	xocsp "golang.org/x/crypto/ocsp"
)

// TestOCSPMetrics reads responses made by golang.org/x/crypto/ocsp (an
// implementation independent of ours) and counts them by status, the
// age of each and those produced while their request was in flight.
func TestOCSPMetrics(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test responder"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	now := time.Now().UTC()
	response := func(status int, produced time.Time) []byte {
		b, err := xocsp.CreateResponse(cert, cert, xocsp.Response{Status: status, SerialNumber: big.NewInt(7),
			ThisUpdate: produced, NextUpdate: produced.Add(time.Hour), RevokedAt: produced.Add(-time.Hour),
			RevocationReason: xocsp.KeyCompromise}, key)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// x/crypto/ocsp sets producedAt to the current minute: the metrics'
	// clock says that minute while the responses are "signed on demand",
	// and an hour later for the one served as pre-signed.
	bodies := map[string][]byte{
		"good": response(xocsp.Good, now), "revoked": response(xocsp.Revoked, now), "unknown": response(xocsp.Unknown, now),
		"malformed": xocsp.MalformedRequestErrorResponse, "unauthorized": xocsp.UnauthorizedErrorResponse, "trylater": xocsp.TryLaterErrorResponse,
	}
	reg := prometheus.NewRegistry()
	m := newOCSPMetrics(reg)
	minute := now.Truncate(time.Minute)
	m.now = func() time.Time { return minute }
	h := m.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ocsp/"+"garbage" {
			_, _ = w.Write([]byte("not DER"))
			return
		}
		_, _ = w.Write(bodies[strings.TrimPrefix(r.URL.Path, "/ocsp/")])
	}))
	get := func(path string) {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	for _, name := range []string{"good", "good", "revoked", "unknown", "malformed", "unauthorized", "trylater", "garbage"} {
		get("/ocsp/" + name)
	}
	get("/ca/issuing-1.cer") // not OCSP: not counted
	m.now = func() time.Time { return minute.Add(time.Hour) }
	get("/ocsp/good") // pre-signed an hour before

	got := map[string]float64{}
	var ages *dto.Histogram
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, s := range f.GetMetric() {
			name := f.GetName()
			for _, l := range s.GetLabel() {
				name += " " + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case s.Counter != nil:
				got[name] = s.GetCounter().GetValue()
			case s.Histogram != nil:
				ages = s.GetHistogram()
			}
		}
	}
	for name, want := range map[string]float64{
		"oces_ocsp_responses_total cert_status=good status=successful": 3, "oces_ocsp_responses_total cert_status=revoked status=successful": 1,
		"oces_ocsp_responses_total cert_status=unknown status=successful": 1, "oces_ocsp_responses_total cert_status=none status=malformedRequest": 1,
		"oces_ocsp_responses_total cert_status=none status=unauthorized": 1, "oces_ocsp_responses_total cert_status=none status=tryLater": 1,
		"oces_ocsp_responses_total cert_status=none status=unparsed": 1,
		// the successful responses produced during their request
		"oces_ocsp_signed_on_demand_total": 4,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
	if len(got) != 8 {
		t.Errorf("series: %v", got)
	}
	if ages == nil || ages.GetSampleCount() != 5 || ages.GetSampleSum() != 3600 {
		t.Errorf("age histogram: %v", ages)
	}
}
