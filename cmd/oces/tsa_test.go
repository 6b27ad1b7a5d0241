package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/catest"
	"github.com/oces-pki/oces/internal/softhsmtest"
	"github.com/oces-pki/oces/ocsp"
	"github.com/oces-pki/oces/ocsp/ocsphsm"
	"github.com/oces-pki/oces/store/bolt"
	"github.com/oces-pki/oces/tsa"
)

// lockedBuffer is a log destination safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// statusPKI is a CA whose certificates point (AIA) at an in-process
// public listener with its OCSP responder (keys in SoftHSM) and two
// time-stamp authorities for one TSA certificate: /tsa checks the
// certificate's status in the CA's store, as 'oces serve' wires it, and
// /tsa-unchecked does not, as a TSA that kept signing would.
type statusPKI struct {
	ca       *ca.CA
	db       *bolt.DB
	srv      *httptest.Server
	tsaCert  *x509.Certificate
	rootFile string
	logs     *lockedBuffer
}

func newStatusPKI(t *testing.T) *statusPKI {
	t.Helper()
	ctx := context.Background()
	var handler http.Handler = http.NotFoundHandler()
	var mu sync.RWMutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.RLock()
		h := handler
		mu.RUnlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rootKey, issuingKey := catest.Key(t, "p-384"), catest.Key(t, "p-256")
	root, issuing := catest.Hierarchy(t, rootKey, issuingKey, srv.URL)
	db, err := bolt.Open(filepath.Join(t.TempDir(), "oces.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c, err := ca.New(ctx, ca.Config{
		Issuers: []*ca.Issuer{{Name: "issuing-1", Certificate: issuing, Chain: []*x509.Certificate{root}, Signer: issuingKey}},
		BaseURL: srv.URL, Certificates: db, Registry: db, Hasher: catest.HMACHasher("k"),
	})
	if err != nil {
		t.Fatal(err)
	}
	tok := softhsmtest.New(t)
	h := hsm.New(nil)
	t.Cleanup(func() { h.Close() })
	responder, err := ocsp.New(ctx, ocsp.Config{
		Issuers: []ocsp.IssuerConfig{{Name: "issuing-1", Certificate: issuing, ResponderKey: tok.KeyURI("ocsp")}},
		Source:  db, Authority: c, Keys: ocsphsm.New(h, hsm.ECP256), Audit: db,
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Observe(responder)
	tsaKey, err := h.GenerateKey(ctx, tok.KeyURI("tsa"), hsm.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := c.IssueService(ctx, ca.ServiceRequest{Kind: ca.ServiceTSA, PublicKey: tsaKey.Public(),
		CommonName: "OCES Test TSA", Validity: 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tsaCert, _ := tc.X509()
	p := &statusPKI{ca: c, db: db, srv: srv, tsaCert: tsaCert, logs: &lockedBuffer{}}
	authority := func(checked bool) *tsa.Authority {
		cfg := tsa.Config{Signer: tsaKey, Certificate: tsaCert, Chain: []*x509.Certificate{issuing},
			Policies: []asn1.ObjectIdentifier{{0, 4, 0, 2023, 1, 1}}, Serials: tsa.NewBlockSerials(db, "tsa-serial", 0),
			Logger: slog.New(slog.NewTextHandler(p.logs, nil))}
		if checked {
			cfg.Status, cfg.Audit, cfg.StatusTTL = tsaCertStatus{c}, db, time.Millisecond
		}
		a, err := tsa.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	mux := http.NewServeMux()
	mux.Handle("/tsa", authority(true))
	mux.Handle("/tsa-unchecked", authority(false))
	mu.Lock()
	handler = responder.Wrap(mux)
	mu.Unlock()
	p.rootFile = filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(p.rootFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// query runs 'oces tsa query' in process against path and returns its
// output and error.
func (p *statusPKI) query(t *testing.T, path string, extra ...string) (string, string, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "doc.txt")
	if err := os.WriteFile(file, []byte("a document"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := newRootCommand()
	cmd.SetArgs(append([]string{"tsa", "query", "--url", p.srv.URL + path, "--file", file, "--ca-file", p.rootFile}, extra...))
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), file + ".tst", err
}

// TestTSAQueryChecksStatus: 'oces tsa query' asks the OCSP responder in
// the TSA certificate's AIA and says "verified: no" with the reason once
// the certificate is revoked, writing no token; the TSA itself, wired as
// 'oces serve' wires it, refuses with the reason, logs it and records it.
func TestTSAQueryChecksStatus(t *testing.T) {
	t.Parallel()
	p := newStatusPKI(t)
	for _, path := range []string{"/tsa", "/tsa-unchecked"} {
		out, tst, err := p.query(t, path)
		if err != nil || !strings.Contains(out, "verified:") || !strings.Contains(out, "yes") || !strings.Contains(out, "TSA certificate:") {
			t.Fatalf("%s while the TSA certificate is good: %v\n%s", path, err, out)
		}
		if _, err := os.Stat(tst); err != nil {
			t.Fatalf("%s: no token written: %v", path, err)
		}
	}
	seq := auditHead(t, p.db)
	serial, _ := ca.SerialFromBig(p.tsaCert.SerialNumber)
	if _, err := p.ca.Revoke(context.Background(), serial, ca.ReasonKeyCompromise, time.Time{}, audit.System); err != nil {
		t.Fatal(err)
	}
	// A TSA that keeps signing: the token's signature is good, its
	// certificate is not.
	out, tst, err := p.query(t, "/tsa-unchecked")
	if err == nil || !strings.Contains(out, "verified:") || !strings.Contains(out, "no") ||
		!strings.Contains(out, "the TSA certificate is revoked (keyCompromise) since") {
		t.Fatalf("unchecked TSA after the revocation: %v\n%s", err, out)
	}
	if _, err := os.Stat(tst); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a token that does not verify was written: %v", err)
	}
	out, _, err = p.query(t, "/tsa-unchecked", "-o", "json")
	if err == nil || !strings.Contains(out, `"verified": false`) || !strings.Contains(out, `"reason": "the TSA certificate is revoked (keyCompromise)`) {
		t.Fatalf("unchecked TSA after the revocation, JSON: %v\n%s", err, out)
	}
	// The TSA that checks refuses, and says why.
	_, _, err = p.query(t, "/tsa")
	var rej *tsa.RejectionError
	if !errors.As(err, &rej) || rej.FailInfo != tsa.FailSystemFailure || !strings.Contains(rej.Text, "TSA certificate revoked (keyCompromise)") {
		t.Fatalf("checking TSA after the revocation: %v", err)
	}
	if !strings.Contains(p.logs.String(), "the TSA certificate is not good") {
		t.Errorf("the TSA did not log why it refuses:\n%s", p.logs)
	}
	if got := auditActions(t, p.db, seq+1); !strings.Contains(got, "cert.revoke tsa.suspend") {
		t.Errorf("audit chain after the revocation: %s", got)
	}
}

func auditHead(tb testing.TB, db *bolt.DB) uint64 {
	tb.Helper()
	h, err := db.AuditHead(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return h.Seq
}

// auditActions lists the actions recorded from seq on.
func auditActions(tb testing.TB, db *bolt.DB, from uint64) string {
	tb.Helper()
	var out []string
	err := db.AuditRecords(context.Background(), from, func(_ uint64, data []byte) error {
		var r audit.Record
		if err := r.UnmarshalBinary(data); err != nil {
			return err
		}
		out = append(out, r.Action)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return strings.Join(out, " ")
}
