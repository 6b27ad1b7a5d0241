package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oces-pki/oces/internal/conf"
	"github.com/oces-pki/oces/internal/textpdf"
)

// TestServeWeb starts oces serve with the citizens' pages: they answer on
// their own HTTPS listener, and the admin listener takes a registered
// service provider's signing request whose sign_url is on it.
func TestServeWeb(t *testing.T) {
	e := newEnvAt(t, "p-256", "http://127.0.0.1:8080", "127.0.0.1:0", citizenConfig)
	sp := e.credential("sp", "Webshop A/S")
	der := readCerts(t, sp.cert)[0].Raw
	sum := sha256.Sum256(der)
	cfg, err := os.ReadFile(e.path("oces.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// One RSA-3072 pool key: the CSC API and the pages share one pool
	// (and its metrics, registered once).
	cfg = bytes.Replace(cfg, []byte(", rsa_pool_size: 0}"), []byte("}"), 1)
	cfg = bytes.Replace(cfg, []byte("citizen: {"), []byte(fmt.Sprintf("citizen: {rsa_pool_size: 1, csc_clients: [{id: webshop, certificate_sha256: %q, return_origins: [\"https://shop.example\"]}], ", hex.EncodeToString(sum[:]))), 1)
	cfg = append(cfg, "signer: {tsa_url: \"http://127.0.0.1:1/tsa\"}\nweb: {enabled: true, listen: \"127.0.0.1:0\", session_idle: 10m}\n"...)
	e.write("oces.yaml", string(cfg))
	if _, errOut, code := e.runStdin("0101901234\n", "citizen", "enrol", "--name", "Karen Jensen", "--user-id", "karen.j", "--card-out", "card.pdf"); code != 0 {
		t.Fatalf("enrol: %s", errOut)
	}
	if out := e.ok("citizen", "show", "karen.j"); !strings.Contains(out, "new card ordered") {
		t.Errorf("citizen show does not say whether a card is ordered:\n%s", out)
	}
	s := e.serve()
	m := regexp.MustCompile(`(?m)^web\s+https://(\S+)$`).FindStringSubmatch(s.stdout.String())
	if m == nil {
		t.Fatalf("no web listener printed:\n%s", s.stdout.String())
	}
	webURL := "https://" + m[1]
	anon := e.httpClient(credential{})
	anon.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := anon.Get(webURL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("web /login: %d %v", resp.StatusCode, resp.Header)
	}

	pdf, _ := textpdf.Render("Ordre 42", 1)
	body, _ := json.Marshal(map[string]string{"document": base64.StdEncoding.EncodeToString(pdf), "return_url": "https://shop.example/back"})
	post := func(c *http.Client) (int, map[string]any) {
		resp, err := c.Post("https://"+s.admin+"/api/v1/signing-requests", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if code, out := post(e.httpClient(e.officer)); code != http.StatusForbidden {
		t.Errorf("an unregistered certificate made a signing request: %d %v", code, out)
	}
	code, out := post(e.httpClient(sp))
	signURL, _ := out["sign_url"].(string)
	if code != http.StatusCreated || !strings.HasPrefix(signURL, webURL+"/request/") {
		t.Fatalf("signing request: %d %v", code, out)
	}
	resp, err = anon.Get(signURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?request=") {
		t.Fatalf("sign_url: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestWebConfig(t *testing.T) {
	on := true
	citizenOn := func(c *Config) {
		c.Citizen = CitizenConfig{PepperKey: "pkcs11:token=t;object=p", CodeKey: "pkcs11:token=t;object=c",
			AppKey: "pkcs11:token=t;object=a", KeyToken: "pkcs11:token=t"}
		c.Web.Enabled = &on
	}
	cases := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"off by default", func(*Config) {}, ""},
		{"defaults", citizenOn, ""},
		{"without citizens", func(c *Config) { c.Web.Enabled = &on }, "web.enabled"},
		{"bad listen", func(c *Config) { citizenOn(c); c.Web.Listen = "8444" }, "web.listen"},
		{"idle over max", func(c *Config) {
			citizenOn(c)
			c.Web.SessionIdle, c.Web.SessionMax = conf.Duration(time.Hour), conf.Duration(30*time.Minute)
		}, "web.session_max"},
		{"huge upload", func(c *Config) { citizenOn(c); c.Web.MaxUploadBytes = 1 << 30 }, "web.max_upload_bytes"},
		{"pages", func(c *Config) { citizenOn(c); c.Web.MaxPages = 1000 }, "web.max_pages"},
		{"render timeout", func(c *Config) { citizenOn(c); c.Web.RenderTimeout = conf.Duration(time.Millisecond) }, "web.render_timeout"},
		{"retention", func(c *Config) { citizenOn(c); c.Web.DocumentRetention = conf.Duration(-time.Second) }, "web.document_retention"},
		{"plain public URL", func(c *Config) { citizenOn(c); c.Web.PublicURL = "http://sign.example.dk" }, "web.public_url"},
		{"public URL", func(c *Config) { citizenOn(c); c.Web.PublicURL = "https://sign.example.dk/" }, ""},
		{"return origin with a path", func(c *Config) {
			citizenOn(c)
			c.Citizen.CSCClients = []CSCClientConfig{{ID: "shop", CertificateSHA256: strings.Repeat("ab", 32), ReturnOrigins: []string{"https://shop.example/back"}}}
		}, "citizen.csc_clients[0].return_origins[0]"},
		{"return origin with a semicolon", func(c *Config) {
			citizenOn(c)
			c.Citizen.CSCClients = []CSCClientConfig{{ID: "shop", CertificateSHA256: strings.Repeat("ab", 32), ReturnOrigins: []string{"https://shop.example;script-src"}}}
		}, "citizen.csc_clients[0].return_origins[0]"},
		{"key pin-value", func(c *Config) { citizenOn(c); c.Web.TLSKey = "pkcs11:token=t;object=k?pin-value=1" }, "web.tls_key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &Config{
				PublicBaseURL: "http://pki.example.dk", Store: StoreConfig{Path: "oces.db"},
				Registry: RegistryConfig{Key: "pkcs11:token=t;object=r"},
				Issuers: []IssuerConfig{{Name: "i", Certificate: "i.pem", Key: "pkcs11:token=t;object=i",
					OCSPResponderKey: "pkcs11:token=t;object=o"}},
				Admin: AdminConfig{TLSCertificate: "tls.pem", TLSKey: "pkcs11:token=t;object=tls"},
			}
			tc.change(c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("valid configuration refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
			if tc.name == "defaults" && (c.Web.Listen != "127.0.0.1:8444" || c.Web.SessionIdle.D() != 15*time.Minute || c.Web.SessionMax.D() != time.Hour || c.Web.TLSKey != c.Admin.TLSKey) {
				t.Errorf("defaults: %+v", c.Web)
			}
		})
	}
}
