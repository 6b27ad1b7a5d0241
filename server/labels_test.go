package server

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestMethodLabelIsBounded: any number of made-up methods adds one series,
// "other", to oces_http_requests_total.
func TestMethodLabelIsBounded(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	for i := range 100 {
		m.observe("public", fmt.Sprintf("X-METHOD-%d", i), http.StatusMethodNotAllowed, time.Millisecond)
	}
	m.observe("public", http.MethodGet, http.StatusOK, time.Millisecond)
	m.observe("public", http.MethodPost, http.StatusOK, time.Millisecond)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	methods := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "oces_http_requests_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "method" {
					methods[l.GetValue()] += s.GetCounter().GetValue()
				}
			}
		}
	}
	want := map[string]float64{"other": 100, "GET": 1, "POST": 1}
	if len(methods) != len(want) {
		t.Fatalf("method labels %v, want %v", methods, want)
	}
	for k, v := range want {
		if methods[k] != v {
			t.Errorf("method %q counted %v, want %v", k, methods[k], v)
		}
	}
}
