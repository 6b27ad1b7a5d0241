package main

import (
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/oces-pki/oces/ocsp"
)

// OCSP metrics, read from the responses as a relying party gets them
// (RFC 6960 section 4.2.1), in front of the responder:
//
//   - oces_ocsp_responses_total{status, cert_status}: by OCSPResponseStatus
//     and, for successful responses, the certificate's status;
//   - oces_ocsp_response_age_seconds: now minus producedAt of the served
//     response, which is how far pre-signing lags behind as relying
//     parties see it (the responder re-signs at half the validity, so up
//     to 12h is normal with the defaults);
//   - oces_ocsp_signed_on_demand_total: responses produced while their
//     request was in flight, i.e. not pre-signed. producedAt has whole
//     seconds, so a response pre-signed in the second the request came in
//     is counted too: an upper bound.
//
// Every label takes its value from a fixed set.

// ocspMetrics observes the responder.
type ocspMetrics struct {
	responses *prometheus.CounterVec
	age       prometheus.Histogram
	onDemand  prometheus.Counter
	now       func() time.Time
}

func newOCSPMetrics(reg prometheus.Registerer) *ocspMetrics {
	m := &ocspMetrics{
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oces_ocsp_responses_total", Help: "OCSP responses by response status and, when successful, certificate status.",
		}, []string{"status", "cert_status"}),
		age: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "oces_ocsp_response_age_seconds", Help: "Age of served OCSP responses (now minus producedAt): the pre-signing lag.",
			Buckets: []float64{1, 10, 60, 600, 3600, 6 * 3600, 12 * 3600, 18 * 3600, 24 * 3600},
		}),
		onDemand: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "oces_ocsp_signed_on_demand_total", Help: "OCSP responses signed while their request waited (not pre-signed); an upper bound.",
		}),
		now: time.Now,
	}
	reg.MustRegister(m.responses, m.age, m.onDemand)
	return m
}

// wrap observes the responses to /ocsp requests that next serves.
func (m *ocspMetrics) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != ocsp.Path && !strings.HasPrefix(r.URL.Path, ocsp.Path+"/") {
			next.ServeHTTP(w, r)
			return
		}
		start := m.now()
		cw := &captureWriter{ResponseWriter: w}
		next.ServeHTTP(cw, r)
		if cw.code == 0 || cw.code == http.StatusOK {
			m.observe(cw.body, start)
		}
	})
}

// responseStatuses are RFC 6960's OCSPResponseStatus values by number.
var responseStatuses = map[int]string{0: "successful", 1: "malformedRequest", 2: "internalError", 3: "tryLater", 5: "sigRequired", 6: "unauthorized"}

// observe counts one response body.
func (m *ocspMetrics) observe(der []byte, start time.Time) {
	status, certStatus, produced, ok := readOCSPResponse(der)
	if !ok {
		m.responses.WithLabelValues("unparsed", "none").Inc()
		return
	}
	m.responses.WithLabelValues(status, certStatus).Inc()
	if produced.IsZero() {
		return
	}
	m.age.Observe(max(0, m.now().Sub(produced).Seconds()))
	if !produced.Before(start.Truncate(time.Second)) {
		m.onDemand.Inc()
	}
}

// readOCSPResponse reads an OCSPResponse far enough for the metrics: the
// response status, and for a successful basic response the first
// SingleResponse's certStatus and the producedAt time.
func readOCSPResponse(der []byte) (status, certStatus string, produced time.Time, ok bool) {
	in := cryptobyte.String(der)
	var resp, rb cryptobyte.String
	var code int
	if !in.ReadASN1(&resp, cbasn1.SEQUENCE) || !resp.ReadASN1Enum(&code) {
		return "", "", time.Time{}, false
	}
	status, known := responseStatuses[code]
	if !known {
		return "", "", time.Time{}, false
	}
	if code != 0 {
		return status, "none", time.Time{}, true
	}
	var rbs, basic, tbs, responses, single, oid cryptobyte.String
	var octets []byte
	if !resp.ReadASN1(&rb, cbasn1.Tag(0).Constructed().ContextSpecific()) || !rb.ReadASN1(&rbs, cbasn1.SEQUENCE) ||
		!rbs.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) || !rbs.ReadASN1Bytes(&octets, cbasn1.OCTET_STRING) {
		return "", "", time.Time{}, false
	}
	b := cryptobyte.String(octets)
	if !b.ReadASN1(&basic, cbasn1.SEQUENCE) || !basic.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return "", "", time.Time{}, false
	}
	// version [0] EXPLICIT DEFAULT v1, responderID [1] or [2]
	var responderID cryptobyte.String
	var idTag cbasn1.Tag
	if !tbs.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) || !tbs.ReadAnyASN1Element(&responderID, &idTag) {
		return "", "", time.Time{}, false
	}
	if !tbs.ReadASN1GeneralizedTime(&produced) || !tbs.ReadASN1(&responses, cbasn1.SEQUENCE) ||
		!responses.ReadASN1(&single, cbasn1.SEQUENCE) || !single.SkipASN1(cbasn1.SEQUENCE) {
		return "", "", time.Time{}, false
	}
	var tag cbasn1.Tag
	var value cryptobyte.String
	if !single.ReadAnyASN1(&value, &tag) {
		return "", "", time.Time{}, false
	}
	switch tag {
	case cbasn1.Tag(0).ContextSpecific():
		certStatus = "good"
	case cbasn1.Tag(1).Constructed().ContextSpecific():
		certStatus = "revoked"
	case cbasn1.Tag(2).ContextSpecific():
		certStatus = "unknown"
	default:
		return "", "", time.Time{}, false
	}
	return status, certStatus, produced, true
}

// captureWriter keeps the status and the first bytes of a response.
type captureWriter struct {
	http.ResponseWriter
	code int
	body []byte
}

// maxCapture is more than any OCSP response the responder builds.
const maxCapture = 16 << 10

func (c *captureWriter) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *captureWriter) Write(p []byte) (int, error) {
	if room := maxCapture - len(c.body); room > 0 {
		c.body = append(c.body, p[:min(len(p), room)]...)
	}
	return c.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (c *captureWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
