package api

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/crl"
	"github.com/oces-pki/oces/internal/catest"
	"github.com/oces-pki/oces/store/bolt"
)

// testAPI is the admin API over real TLS with client certificates, on a
// CA with a real bbolt store and a CRL publisher, and an officer's and a
// registration authority's (CVR 12345678) credentials issued by it.
type testAPI struct {
	ca          *ca.CA
	db          *bolt.DB
	crl         *crl.Publisher
	srv         *httptest.Server
	officer, ra *http.Client
}

// auditSink is the Auditor of a testAPI: the bbolt store, or a store
// that refuses every append (to show what the API does then).
type auditSink interface {
	AppendAudit(ctx context.Context, events ...audit.Event) error
}

// refusingAuditor fails every append, as a full disk or a broken store
// would.
type refusingAuditor struct{}

func (refusingAuditor) AppendAudit(context.Context, ...audit.Event) error {
	return errAuditDown
}

var errAuditDown = errors.New("store: audit chain unavailable (test)")

func newTestAPI(tb testing.TB, auditor func(*bolt.DB) auditSink) *testAPI {
	tb.Helper()
	const base = "http://pki.example.dk"
	rootKey, issuingKey := catest.Key(tb, "p-384"), catest.Key(tb, "p-256")
	root, issuing := catest.Hierarchy(tb, rootKey, issuingKey, base)
	db, err := bolt.Open(filepath.Join(tb.TempDir(), "oces.db"), bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	issuer := &ca.Issuer{Name: "issuing-1", Certificate: issuing, Chain: []*x509.Certificate{root}, Signer: issuingKey}
	c, err := ca.New(context.Background(), ca.Config{
		Issuers: []*ca.Issuer{issuer}, BaseURL: base,
		Certificates: db, Registry: db, Hasher: catest.HMACHasher("test registry key"),
	})
	if err != nil {
		tb.Fatal(err)
	}
	pub, err := crl.New(crl.Config{Source: db, Issuers: c.Issuers(), BaseURL: base})
	if err != nil {
		tb.Fatal(err)
	}
	var sink auditSink = db
	if auditor != nil {
		sink = auditor(db)
	}
	h := New(Config{CA: c, CRL: pub, Audit: sink})
	srv := httptest.NewUnstartedServer(h)
	clients := x509.NewCertPool()
	clients.AddCert(issuing)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clients, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	t := &testAPI{ca: c, db: db, crl: pub, srv: srv}
	t.officer = t.client(tb, ca.ServiceRequest{Kind: ca.ServiceOfficer, CommonName: "Test Officer"})
	t.ra = t.client(tb, ca.ServiceRequest{Kind: ca.ServiceRA, CommonName: "Firma A/S RA", Organization: "Firma A/S", CVR: "12345678"})
	return t
}

// client issues a service certificate for a fresh key and returns an HTTP
// client that presents it.
func (t *testAPI) client(tb testing.TB, req ca.ServiceRequest) *http.Client {
	tb.Helper()
	key := newKey(tb)
	req.PublicKey, req.Validity = key.Public(), 24*time.Hour
	cert, err := t.ca.IssueService(context.Background(), req)
	if err != nil {
		tb.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(t.srv.Certificate())
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.DER}, PrivateKey: key}},
		RootCAs:      roots, MinVersion: tls.VersionTLS12,
	}}}
}

func newKey(tb testing.TB) crypto.Signer {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// do sends body (raw JSON, or nothing) and returns the status and the body.
func (t *testAPI) do(tb testing.TB, c *http.Client, method, path, body string) (int, []byte) {
	tb.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, t.srv.URL+path, r)
	if err != nil {
		tb.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, data
}

// errorText decodes an error body, failing the test if it is not one.
func errorText(tb testing.TB, body []byte) string {
	tb.Helper()
	var e Error
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		tb.Fatalf("not a JSON error: %.300q", body)
	}
	return e.Error
}

// csrPEM is a fresh PKCS#10 request, PEM.
func csrPEM(tb testing.TB) string {
	tb.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}, newKey(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// jsonBody marshals v (a map or struct) as a request body.
func jsonBody(tb testing.TB, v any) string {
	tb.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		tb.Fatal(err)
	}
	return buf.String()
}

// auditRecords returns the chain's records from seq on.
func (t *testAPI) auditRecords(tb testing.TB, from uint64) []audit.Record {
	tb.Helper()
	var out []audit.Record
	err := t.db.AuditRecords(context.Background(), from, func(_ uint64, data []byte) error {
		var r audit.Record
		if err := r.UnmarshalBinary(data); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// auditHead is the newest record's number.
func (t *testAPI) auditHead(tb testing.TB) uint64 {
	tb.Helper()
	h, err := t.db.AuditHead(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return h.Seq
}
