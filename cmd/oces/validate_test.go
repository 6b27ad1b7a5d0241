package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/oces-pki/oces/internal/conf"
)

// TestServiceConfigNamesTheField: every key refuses a literal PIN, and the
// OCSP, CRL and audit settings are checked when the file is loaded.
func TestServiceConfigNamesTheField(t *testing.T) {
	t.Parallel()
	d := func(s string) conf.Duration {
		v, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		return conf.Duration(v)
	}
	const pin = "pkcs11:token=t;object=x?pin-value=1234"
	cases := []struct {
		name   string
		change func(c *Config)
		want   string // "" for valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"registry pin-value", func(c *Config) { c.Registry.Key = pin }, "registry.key: must not contain pin-value"},
		{"admin pin-value", func(c *Config) { c.Admin.TLSKey = pin }, "admin.tls_key: must not contain pin-value"},
		{"responder pin-value", func(c *Config) { c.Issuers[0].OCSPResponderKey = pin }, "issuers[0].ocsp_responder_key: must not contain pin-value"},
		{"pin-value in the path", func(c *Config) { c.Issuers[0].OCSPResponderKey = "pkcs11:token=t;object=x;PIN-VALUE=1" }, "issuers[0].ocsp_responder_key"},
		{"responder not a URI", func(c *Config) { c.Issuers[0].OCSPResponderKey = "/etc/key.pem" }, "issuers[0].ocsp_responder_key: must be a PKCS#11 URI"},
		{"seal pin-value", func(c *Config) {
			c.Signer.Seals = []SealConfig{{Name: "s", Key: pin, Certificate: "s.pem", Clients: []string{"x"}}}
		}, "signer.seals[0].key"},
		{"ocsp response validity too short", func(c *Config) { c.OCSP.ResponseValidity = d("30s") }, "ocsp.response_validity"},
		{"ocsp response outlives renewal", func(c *Config) { c.OCSP.ResponseValidity = d("72h") }, "ocsp.response_validity: must be at most half"},
		{"ocsp response against a short responder", func(c *Config) {
			c.OCSP.ResponderValidity, c.OCSP.ResponseValidity = d("10h"), d("6h")
		}, "ocsp.response_validity"},
		{"ocsp valid pair", func(c *Config) { c.OCSP.ResponderValidity, c.OCSP.ResponseValidity = d("48h"), d("12h") }, ""},
		{"ocsp responder too short", func(c *Config) { c.OCSP.ResponderValidity = d("10m") }, "ocsp.responder_validity"},
		{"crl interval beyond validity", func(c *Config) { c.CRL.Validity, c.CRL.Interval = d("1h"), d("2h") }, "crl.interval"},
		{"crl interval beyond default validity", func(c *Config) { c.CRL.Interval = d("13h") }, "crl.interval"},
		{"crl negative gap", func(c *Config) { c.CRL.MinGap = d("-1s") }, "crl.min_gap"},
		{"crl validity", func(c *Config) { c.CRL.Validity = d("10s") }, "crl.validity"},
		{"arl name", func(c *Config) { c.CRL.ARLs = map[string]string{"../root": "root.crl"} }, "crl.arls.../root"},
		{"audit every", func(c *Config) { c.Audit.Key, c.Audit.Every = "pkcs11:token=t;object=a", 1<<20 }, "audit.checkpoint_every"},
		{"audit interval", func(c *Config) { c.Audit.Key, c.Audit.Interval = "pkcs11:token=t;object=a", d("-1m") }, "audit.checkpoint_interval"},
		{"audit cadence without key", func(c *Config) { c.Audit.Every = 10 }, "audit.key: required"},
		{"audit pin-value", func(c *Config) { c.Audit.Key = pin }, "audit.key"},
		{"tsa pin-value", func(c *Config) { c.TSA.Key, c.TSA.Certificate = pin, "tsa.pem" }, "tsa.key"},
		{"relying party by CVR", func(c *Config) { c.MatchCPR.RelyingParties = []string{"cvr:12345678"} }, "match_cpr.relying_parties[0]"},
		{"relying party fingerprint", func(c *Config) { c.MatchCPR.RelyingParties = []string{"sha256:abc"} }, "match_cpr.relying_parties[0]"},
		{"relying parties", func(c *Config) {
			c.MatchCPR.RelyingParties = []string{"CVR:12345678-FID:1", "sha256:" + strings.Repeat("ab", 32)}
		}, ""},
		{"match rate", func(c *Config) { c.MatchCPR.Rate = -1 }, "match_cpr.rate"},
		{"anchors without a key", func(c *Config) { c.Audit.AnchorDir = "anchors" }, "audit.anchor_dir"},
		{"anchors without a TSA", func(c *Config) { c.Audit.Key, c.Audit.AnchorDir = "pkcs11:token=t;object=a", "anchors" }, "audit.anchor_tsa_url: required"},
		{"anchors at another TSA", func(c *Config) {
			c.Audit.Key, c.Audit.AnchorDir, c.Audit.AnchorTSAURL = "pkcs11:token=t;object=a", "anchors", "https://tsa.example.dk/tsa"
		}, ""},
		{"anchor TSA alone", func(c *Config) { c.Audit.AnchorTSAURL = "https://tsa.example.dk/tsa" }, "audit.anchor_tsa_url: only with"},
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
				TSA:   TSAConfig{},
			}
			tc.change(c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("valid configuration refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestServeFailsFastOnMissingKeys: a configuration naming a key that is
// not in the token stops 'oces serve' before it says ready, with exit code
// 2 and the field's name, instead of failing the first request that needs
// the key (for the registry key: the first enrolment with a CPR number).
func TestServeFailsFastOnMissingKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "p-256")
	orig, err := os.ReadFile(e.path("oces.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		field, key string
	}{
		{"registry.key", e.tok.KeyURI("registry")},
		{"audit.key", e.tok.KeyURI("audit")},
		{"admin.tls_key", e.tok.KeyURI("admin-tls")},
	}
	for _, tc := range cases {
		missing := e.tok.KeyURI("no-such-key")
		cfg := strings.Replace(string(orig), tc.key, missing, 1)
		if cfg == string(orig) {
			t.Fatalf("%s: %s not in oces.yaml", tc.field, tc.key)
		}
		e.write("oces.yaml", cfg)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, ocesBinary(t), "serve", "--config", e.path("oces.yaml"))
		cmd.Dir, cmd.Env = e.dir, append(os.Environ(), e.tok.Env()...)
		out, _ := cmd.CombinedOutput()
		timedOut := ctx.Err() != nil
		cancel()
		if timedOut {
			t.Fatalf("%s missing: 'oces serve' still ran after a minute:\n%s", tc.field, out)
		}
		if code := cmd.ProcessState.ExitCode(); code != exitUsage || !strings.Contains(string(out), tc.field) || strings.Contains(string(out), "ready") {
			t.Errorf("%s missing: exit %d, want %d with a message naming the field and no 'ready':\n%s", tc.field, code, exitUsage, out)
		}
	}
	e.write("oces.yaml", string(orig))
}

// TestReadLineLeavesTheRest: a CPR number and then a passphrase can come
// on one standard input.
func TestReadLineLeavesTheRest(t *testing.T) {
	t.Parallel()
	r := strings.NewReader("010190-1234\ncorrect horse battery staple\n")
	for _, want := range []string{"010190-1234", "correct horse battery staple", ""} {
		if got, err := readLine(r); err != nil || got != want {
			t.Errorf("readLine = %q, %v; want %q", got, err, want)
		}
	}
}
