package web_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oces-pki/oces/api"
	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/cades"
	"github.com/oces-pki/oces/citizen"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/pkitest"
	"github.com/oces-pki/oces/revocation"
	"github.com/oces-pki/oces/signer"
	"github.com/oces-pki/oces/validate"
	"github.com/oces-pki/oces/web"
)

// clock is the web's injected clock: real time plus an offset tests move.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// env is a whole PKI on loopback (CA, OCSP, CRL, TSA), the citizen
// service with signing wired as oces serve wires it, the validation
// service, and the web pages on an HTTPS test server.
type env struct {
	pki   *pkitest.PKI
	svc   *citizen.Service
	reqs  *citizen.SigningRequests
	h     *web.Handler
	srv   *httptest.Server
	clock *clock
}

const (
	testPassword = "correct horse 7"
	testCPR      = "0101901234"
)

func newEnv(t testing.TB, mods ...func(*web.Config)) *env {
	t.Helper()
	ctx := context.Background()
	p := pkitest.New(t, hsm.ECP256)
	for _, k := range []string{"citizen-pepper", "citizen-codes"} {
		if err := p.HSM.GenerateSecret(ctx, p.Token.KeyURI(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.HSM.GenerateAESKey(ctx, p.Token.KeyURI("citizen-app")); err != nil {
		t.Fatal(err)
	}
	policy := citizen.DefaultPolicy()
	policy.SessionTTL = 2 * time.Hour // the web bounds sessions itself
	svc, err := citizen.New(citizen.Config{
		Store: citizen.Records(p.Store), Registry: p.CA, Keys: p.HSM, Sealer: p.HSM, Policy: policy,
		PepperKey: p.Token.KeyURI("citizen-pepper"), CodeKey: p.Token.KeyURI("citizen-codes"), AppKey: p.Token.KeyURI("citizen-app"),
		Argon2: citizen.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1}, // cheap: tests log in often
	})
	if err != nil {
		t.Fatal(err)
	}
	fetcher := revocation.New(revocation.Config{MaxAge: -1})
	sg, err := signer.New(signer.Config{TSA: &signer.TSAClient{URL: p.TSAURL, Roots: p.Roots(), Revocation: fetcher}, Revocation: fetcher, Audit: p.Store})
	if err != nil {
		t.Fatal(err)
	}
	err = svc.SetSigning(citizen.Signing{Signer: sg, CA: p.CA, Level: cades.LevelBLTA,
		NewKey: func(ctx context.Context) (citizen.OneTimeKey, error) {
			return p.HSM.GenerateSessionKey(ctx, p.Token.TokenURI())
		}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := validate.New(validate.Config{TrustAnchors: []*x509.Certificate{p.Root}, Revocation: revocation.New(revocation.Config{MaxAge: -1})})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{}
	reqs := citizen.NewSigningRequests(citizen.RequestsConfig{Audit: p.Store, Clock: clk.Now})
	cfg := web.Config{Citizens: svc, Validator: v, Requests: reqs, Clock: clk.Now}
	for _, m := range mods {
		m(&cfg)
	}
	h, err := web.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return &env{pki: p, svc: svc, reqs: reqs, h: h, srv: srv, clock: clk}
}

// enrol enrols a citizen; the initial password is changed through the
// service unless keepInitial.
func (e *env) enrol(t testing.TB, userID string, cpr string, keepInitial bool) *citizen.Enrolment {
	t.Helper()
	ctx := context.Background()
	en, err := e.svc.Enrol(ctx, citizen.EnrolRequest{Name: "Karen Jensen", CPR: cpr, UserID: userID})
	if err != nil {
		t.Fatal(err)
	}
	if keepInitial {
		return en
	}
	sess, err := e.svc.Password(ctx, userID, en.InitialPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ChangePassword(ctx, sess.ID, testPassword); err != nil {
		t.Fatal(err)
	}
	e.svc.Logout(sess.ID)
	return en
}

// client is a browser-like client: cookies kept, redirects not followed.
func (e *env) client(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := new(http.Client)
	*c = *e.srv.Client() // a copy: the server's client is shared
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// do sends a request as a browser on the same origin would.
func (e *env) do(t testing.TB, c *http.Client, method, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

var keyNumber = regexp.MustCompile(`(?:nøgle|key) (?:nummer |number )?(\d{4})`)

// login logs in through the pages with both factors.
func (e *env) login(t testing.TB, c *http.Client, userID, password string, card *citizen.Card) {
	t.Helper()
	resp, _ := e.do(t, c, "POST", "/login", url.Values{"user_id": {userID}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login/code" {
		t.Fatalf("password: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page := e.do(t, c, "GET", "/login/code", nil)
	m := keyNumber.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the code page names no key:\n%s", page)
	}
	resp, _ = e.do(t, c, "POST", "/login/code", url.Values{"code": {code(t, card, m[1])}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("code: %d", resp.StatusCode)
	}
}

// code is the card's code for key number num.
func code(t testing.TB, card *citizen.Card, num string) string {
	t.Helper()
	for _, k := range card.Keys {
		if k.Number == num {
			return k.Code
		}
	}
	t.Fatalf("key %s is not on the card", num)
	return ""
}

// spServer is the admin listener's signing-request API for a service
// provider with a seal certificate from the PKI, and that provider's
// HTTPS client.
func (e *env) spServer(t testing.TB, returnOrigin string) (*httptest.Server, *http.Client) {
	t.Helper()
	seal := e.pki.NewSeal(t, "voces", hsm.ECP256)
	sum := sha256Sum(seal.X509.Raw)
	h := api.SigningRequestsHandler(api.SigningRequestsConfig{Requests: e.reqs, SignURL: func() string { return e.srv.URL },
		Providers: []api.SigningProvider{{ID: "shop", CertificateSHA256: sum, ReturnOrigins: []string{returnOrigin}}}})
	srv := httptest.NewUnstartedServer(h)
	clients := x509.NewCertPool()
	clients.AddCert(e.pki.Issuing)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clients}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := new(http.Client)
	*c = *srv.Client()
	tr := c.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Certificates = []tls.Certificate{{Certificate: [][]byte{seal.X509.Raw, e.pki.Issuing.Raw}, PrivateKey: seal.Key, Leaf: seal.X509}}
	c.Transport = tr
	return srv, c
}

// citizenSupport is the actor of support actions in tests.
var citizenSupport = audit.Actor{Subject: "support (test)"}
