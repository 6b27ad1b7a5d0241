package crl_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/crl"
)

// benchEntries is a million revoked certificates, shaped as the CA stores
// them: 128-bit serials, a reason, an invalidity date on one in four.
var benchEntries = sync.OnceValues(func() ([]crl.Entry, []x509.RevocationListEntry) {
	const n = 1_000_000
	now := time.Now().Add(-time.Hour).Truncate(time.Second)
	ours := make([]crl.Entry, n)
	theirs := make([]x509.RevocationListEntry, n)
	reasons := []ca.RevocationReason{ca.ReasonKeyCompromise, ca.ReasonSuperseded, ca.ReasonCertificateHold, ca.ReasonCessationOfOperation}
	for i := range ours {
		s := new(big.Int).Lsh(big.NewInt(int64(i+1)), 100)
		s.SetBit(s, 126, 1)
		e := crl.Entry{Serial: s, RevocationTime: now.Add(-time.Duration(i) * time.Second), Reason: reasons[i%4]}
		x := x509.RevocationListEntry{SerialNumber: s, RevocationTime: e.RevocationTime, ReasonCode: e.Reason.Code()}
		if i%4 == 0 {
			e.InvalidityDate = e.RevocationTime.Add(-time.Hour)
			v, _ := asn1.MarshalWithParams(e.InvalidityDate.UTC(), "generalized")
			x.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 24}, Value: v}}
		}
		ours[i], theirs[i] = e, x
	}
	return ours, theirs
})

// collect frees the previous iteration's CRL outside the timer, so that
// the peak is that of one build.
func collect(b *testing.B) {
	b.StopTimer()
	runtime.GC()
	b.StartTimer()
}

// peakHeap samples the live heap while f runs and reports the peak above
// the heap before, and the bytes allocated.
func peakHeap(b *testing.B, f func()) {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	<-done
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(peak.Load()-min(peak.Load(), before.HeapAlloc))/(1<<20), "peak-MB")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/(1<<20)/float64(b.N), "alloc-MB/op")
}

// BenchmarkFullCRL1M builds and signs a full CRL of a million entries with
// this package's encoder and with x509.CreateRevocationList, in one run.
func BenchmarkFullCRL1M(b *testing.B) {
	h := newHierarchy(b, "rsa-2048", "rsa-2048")
	ours, theirs := benchEntries()
	now := time.Now().Truncate(time.Second)
	var size int
	b.Run("oces", func(b *testing.B) {
		tmpl := &crl.Template{Number: big.NewInt(1), ThisUpdate: now, NextUpdate: now.Add(12 * time.Hour), Entries: ours,
			FreshestCRL: []string{baseURL + "/crl/issuing-1/delta.crl"}}
		peakHeap(b, func() {
			for range b.N {
				collect(b)
				der, err := crl.Create(nil, tmpl, h.issuing, h.issuingKey)
				if err != nil {
					b.Fatal(err)
				}
				size = len(der)
			}
		})
		b.ReportMetric(float64(size), "bytes")
	})
	b.Run("x509", func(b *testing.B) {
		tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: now, NextUpdate: now.Add(12 * time.Hour),
			RevokedCertificateEntries: theirs}
		peakHeap(b, func() {
			for range b.N {
				collect(b)
				der, err := x509.CreateRevocationList(nil, tmpl, h.issuing, h.issuingKey)
				if err != nil {
					b.Fatal(err)
				}
				size = len(der)
			}
		})
		b.ReportMetric(float64(size), "bytes")
	})
}

// BenchmarkPartition builds and signs the largest partition CRL of the
// default partition size (every entry revoked, with reason and invalidity
// date; RSA-2048 issuing key) and reports its size, the figure
// docs/benchmarks.md gives for the largest partition.
func BenchmarkPartition(b *testing.B) {
	h := newHierarchy(b, "rsa-2048", "rsa-2048")
	var der []byte
	for range b.N {
		der = worstPartition(b, h)
	}
	b.ReportMetric(float64(len(der)), "bytes")
	b.ReportMetric(float64(ca.DefaultPartitionSize), "entries")
}

// BenchmarkServeCachedCRL fetches a cached partition-sized CRL over a
// loopback HTTP server.
func BenchmarkServeCachedCRL(b *testing.B) {
	e := newEnv(b, newHierarchy(b, "rsa-2048", "p-256"), 10000, crl.Config{})
	e.issue(b)
	if err := e.pub.Generate(b.Context(), "issuing-1"); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(e.pub.Handler())
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	url := srv.URL + "/crl/issuing-1/0.crl"
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Error(fmt.Sprint("status ", resp.Status))
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}
