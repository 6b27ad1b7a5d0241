// Package pkitest runs a whole public side of OCES PKI inside a test: a CA
// whose keys are in a fresh SoftHSM token on a real bbolt file, its OCSP
// responder, CRL publisher, the root's ARL, the CA certificate files and a
// time-stamp authority, all served over real HTTP on loopback at the base
// URL the certificates name. Services under test (the signer, the
// validator) reach it exactly as outside relying parties would.
package pkitest

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/crl"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/catest"
	"github.com/oces-pki/oces/ocsp"
	"github.com/oces-pki/oces/ocsp/ocsphsm"
	"github.com/oces-pki/oces/revocation"
	"github.com/oces-pki/oces/server"
	"github.com/oces-pki/oces/tsa"
)

// PKI is a running CA with its public services.
type PKI struct {
	*catest.HSMCA
	BaseURL   string
	TSAURL    string
	TSACert   *x509.Certificate
	Responder *ocsp.Responder
	CRL       *crl.Publisher

	server *httptest.Server
	down   sync.Map // service name ("ocsp", "crl", "tsa", "ca") → *atomic.Bool
	seq    atomic.Int64
}

// New starts a PKI with an issuing key of alg; everything stops at the end
// of the test.
func New(tb testing.TB, alg hsm.KeyAlgorithm) *PKI {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &PKI{BaseURL: "http://" + ln.Addr().String()}
	p.TSAURL = p.BaseURL + "/tsa"
	p.HSMCA = catest.NewHSMCA(tb, alg, p.BaseURL)
	ctx, cancel := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	tb.Cleanup(func() { cancel(); bg.Wait() })

	iss := p.Issuers()[0]
	responder, err := ocsp.New(ctx, ocsp.Config{
		Issuers: []ocsp.IssuerConfig{{Name: iss.Name, Certificate: iss.Certificate, ResponderKey: p.Token.KeyURI("ocsp-" + iss.Name)}},
		Source:  p.Store, Authority: p.CA, Keys: ocsphsm.New(p.HSM, hsm.ECP256),
	})
	if err != nil {
		tb.Fatalf("pkitest: OCSP responder: %v", err)
	}
	p.Responder = responder
	p.Observe(responder)
	if err := responder.Presign(ctx); err != nil {
		tb.Fatalf("pkitest: pre-signing: %v", err)
	}
	bg.Go(func() { _ = responder.Run(ctx) })

	pub, err := crl.New(crl.Config{Source: p.Store, Issuers: p.Issuers(), BaseURL: p.BaseURL, MinGap: 10 * time.Millisecond})
	if err != nil {
		tb.Fatalf("pkitest: CRL publisher: %v", err)
	}
	p.CRL = pub
	p.Observe(pub)
	if err := pub.Generate(ctx, iss.Name); err != nil {
		tb.Fatalf("pkitest: first CRL: %v", err)
	}
	bg.Go(func() { _ = pub.Run(ctx) })

	arl, err := crl.GenerateARL(ctx, crl.ARLRequest{
		Root: p.Root, Signer: p.RootSigner, Number: big.NewInt(1),
		ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(30 * 24 * time.Hour),
		URL: p.BaseURL + "/crl/root.crl",
	})
	if err != nil {
		tb.Fatalf("pkitest: ARL: %v", err)
	}
	authority := p.newTSA(tb, ctx)

	mux := http.NewServeMux()
	mux.Handle("/crl/", p.gate("crl", pub.Handler()))
	mux.Handle("GET /crl/root.crl", p.gate("crl", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/pkix-crl")
		_, _ = w.Write(arl)
	})))
	mux.Handle("/ca/", p.gate("ca", server.CAFiles(map[string]*x509.Certificate{iss.Name: iss.Certificate, "root": p.Root})))
	mux.Handle("/tsa", p.gate("tsa", authority))
	p.server = httptest.NewUnstartedServer(p.gateOCSP(responder.Wrap(mux)))
	p.server.Listener.Close()
	p.server.Listener = ln
	p.server.Start()
	tb.Cleanup(p.server.Close)
	return p
}

// newTSA issues a time-stamping unit certificate for a key in the token.
func (p *PKI) newTSA(tb testing.TB, ctx context.Context) *tsa.Authority {
	tb.Helper()
	key, err := p.HSM.GenerateKey(ctx, p.Token.KeyURI("tsa"), hsm.ECP256)
	if err != nil {
		tb.Fatalf("pkitest: TSA key: %v", err)
	}
	cert, err := p.IssueService(ctx, ca.ServiceRequest{Kind: ca.ServiceTSA, PublicKey: key.Public(),
		CommonName: "OCES PKI Test Time-Stamping Unit", Validity: 365 * 24 * time.Hour})
	if err != nil {
		tb.Fatalf("pkitest: TSA certificate: %v", err)
	}
	p.TSACert = mustX509(tb, cert)
	authority, err := tsa.New(tsa.Config{
		Signer: key, Certificate: p.TSACert, Chain: []*x509.Certificate{p.Issuing, p.Root},
		Serials:  tsa.NewBlockSerials(p.Store, "tsa-serial", 0),
		Policies: []asn1.ObjectIdentifier{{0, 4, 0, 2023, 1, 1}},
	})
	if err != nil {
		tb.Fatalf("pkitest: TSA: %v", err)
	}
	return authority
}

// SetDown makes a service ("ocsp", "crl", "tsa" or "ca") answer 503, as a
// responder that is down does, or brings it back.
func (p *PKI) SetDown(service string, down bool) {
	v, _ := p.down.LoadOrStore(service, new(atomic.Bool))
	v.(*atomic.Bool).Store(down)
}

func (p *PKI) isDown(service string) bool {
	v, ok := p.down.Load(service)
	return ok && v.(*atomic.Bool).Load()
}

func (p *PKI) gate(service string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.isDown(service) {
			http.Error(w, service+" is down", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (p *PKI) gateOCSP(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/ocsp") && p.isDown("ocsp") {
			http.Error(w, "ocsp is down", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Roots is a pool of the root CA.
func (p *PKI) Roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.Root)
	return pool
}

// Seal is an organisation's signing key in the token with its certificate.
type Seal struct {
	KeyURI string
	Key    crypto.Signer
	Cert   *ca.Certificate
	X509   *x509.Certificate
	Chain  []*x509.Certificate // leaf, issuing CA, root
}

// NewSeal generates a key of alg in the token and has the CA issue it a
// certificate of profile (voces, foces, oces3-organisation, …) for
// "Firma A/S", CVR 12345678.
func (p *PKI) NewSeal(tb testing.TB, profile string, alg hsm.KeyAlgorithm) *Seal {
	tb.Helper()
	ctx := context.Background()
	uri := p.Token.KeyURI("seal-" + profile + "-" + big.NewInt(p.seq.Add(1)).String())
	key, err := p.HSM.GenerateKey(ctx, uri, alg)
	if err != nil {
		tb.Fatalf("pkitest: seal key: %v", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}, key)
	if err != nil {
		tb.Fatalf("pkitest: CSR: %v", err)
	}
	req := ca.IssueRequest{Profile: profile, CSR: csr, CVR: "12345678", Organization: "Firma A/S", Name: "Firma A/S Seal"}
	switch profile {
	case "poces":
		req.CVR, req.Organization, req.CPR = "", "", "0101901234"
		req.Name = "Jens Hansen"
	case "foces", "oces3-system":
		req.Name = "Fakturering"
	}
	cert, err := p.Issue(ctx, req)
	if err != nil {
		tb.Fatalf("pkitest: issuing a %s certificate: %v", profile, err)
	}
	leaf := mustX509(tb, cert)
	return &Seal{KeyURI: uri, Key: key, Cert: cert, X509: leaf, Chain: []*x509.Certificate{leaf, p.Issuing, p.Root}}
}

// Revoke revokes the certificate with reason and waits until OCSP and
// the CRL say so.
func (p *PKI) Revoke(tb testing.TB, cert *ca.Certificate, reason ca.RevocationReason) {
	tb.Helper()
	ctx := context.Background()
	if _, err := p.CA.Revoke(ctx, cert.Serial, reason, time.Time{}, audit.System); err != nil {
		tb.Fatalf("pkitest: revoking: %v", err)
	}
	if err := p.CRL.Generate(ctx, p.Issuers()[0].Name); err != nil {
		tb.Fatalf("pkitest: CRL after revocation: %v", err)
	}
	f := revocation.New(revocation.Config{MaxAge: -1, DisableCRL: true})
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		res, err := f.Check(ctx, mustX509(tb, cert), p.Issuing)
		if err == nil && res.Status != revocation.Good {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("pkitest: OCSP still does not say %s is revoked (%v, %v)", cert.Serial, res, err)
		}
	}
}

// WriteChain writes the PEM chain of certs to dir/name and returns the path.
func WriteChain(tb testing.TB, dir, name string, certs ...*x509.Certificate) string {
	tb.Helper()
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

func mustX509(tb testing.TB, c *ca.Certificate) *x509.Certificate {
	tb.Helper()
	x, err := c.X509()
	if err != nil {
		tb.Fatal(err)
	}
	return x
}
