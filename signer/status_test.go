package signer_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/cades"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/pdfcheck"
	"github.com/oces-pki/oces/revocation"
	"github.com/oces-pki/oces/signer"
)

// fixedStatus answers one status for every certificate and counts the
// questions.
type fixedStatus struct {
	status revocation.Status
	mu     sync.Mutex
	asked  []*x509.Certificate
}

func (f *fixedStatus) Status(_ context.Context, cert, issuer *x509.Certificate) (*revocation.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, cert)
	return &revocation.Result{Certificate: cert, Issuer: issuer, Status: f.status, Source: "test"}, nil
}

// recorder is an Auditor that keeps what it is given.
type recorder struct {
	mu     sync.Mutex
	events []audit.Event
}

func (r *recorder) AppendAudit(_ context.Context, events ...audit.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, events...)
	return nil
}

// counting is an HTTP transport that counts the requests it carries.
type counting struct{ n atomic.Int64 }

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func TestRequestStatusAndAudit(t *testing.T) {
	f := newFixture(t, hsm.ECP256)
	ctx := context.Background()
	data := []byte("Aftale om levering af varer.")
	// Nothing cached: every status is fetched for every signature.
	tr := &counting{}
	f.svc = f.service(t, revocation.Config{MaxAge: -1, Client: &http.Client{Transport: tr}})
	if _, err := f.svc.SignCAdES(ctx, f.request(cades.LevelBB), data); err != nil {
		t.Fatal(err)
	}
	fetches := tr.n.Swap(0)

	t.Run("in-process status instead of OCSP", func(t *testing.T) {
		src := &fixedStatus{status: revocation.Good}
		rec := &recorder{}
		req := f.request(cades.LevelBB)
		req.Status, req.Audit = src, rec
		p7s, err := f.svc.SignCAdES(ctx, req, data)
		if err != nil {
			t.Fatal(err)
		}
		pdfcheck.OpenSSLCMSVerify(t, data, p7s, f.caFile)
		if n := tr.n.Swap(0); n != fetches-1 {
			t.Errorf("%d status fetches over HTTP, want %d (one fewer than without the source)", n, fetches-1)
		}
		if len(src.asked) != 1 || !src.asked[0].Equal(f.seal.Chain[0]) {
			t.Fatalf("the source was asked of %d certificates, want the seal's alone", len(src.asked))
		}
		if len(rec.events) != 2 || rec.events[0].Action != signer.ActionSignBefore || rec.events[1].Action != signer.ActionSignAfter {
			t.Fatalf("the request's auditor got %+v, want before and after", rec.events)
		}
	})
	t.Run("revoked in process: nothing signed", func(t *testing.T) {
		rec := &recorder{}
		req := f.request(cades.LevelBB)
		req.Status, req.Audit = &fixedStatus{status: revocation.Revoked}, rec
		if _, err := f.svc.SignCAdES(ctx, req, data); !errors.Is(err, signer.ErrCertificateNotGood) {
			t.Fatalf("a revoked certificate signed: %v", err)
		}
		if len(rec.events) != 0 {
			t.Fatalf("the key was used: %+v", rec.events)
		}
	})
	t.Run("B-LT still embeds the responder's answer", func(t *testing.T) {
		req := f.request(cades.LevelBLT)
		req.Status = &fixedStatus{status: revocation.Good}
		p7s, err := f.svc.SignCAdES(ctx, req, data)
		if err != nil {
			t.Fatal(err)
		}
		sd, err := cades.Parse(p7s)
		if err != nil {
			t.Fatal(err)
		}
		if len(sd.OCSPResponses) == 0 {
			t.Fatal("B-LT without the signer's OCSP response")
		}
		pdfcheck.OpenSSLCMSVerify(t, data, p7s, f.caFile)
		// Without the status services there is nothing to embed: B-LT fails.
		for _, svc := range []string{"ocsp", "crl"} {
			f.pki.SetDown(svc, true)
			defer f.pki.SetDown(svc, false)
		}
		if _, err := f.svc.SignCAdES(ctx, req, data); !errors.Is(err, signer.ErrUnavailable) {
			t.Fatalf("B-LT with the responder down: %v, want ErrUnavailable", err)
		}
	})
}
