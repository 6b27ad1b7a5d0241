package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oces-pki/oces/internal/conf"
)

func TestCitizenRSAPoolConfig(t *testing.T) {
	intp := func(n int) *int { return &n }
	for _, tc := range []struct {
		name  string
		size  *int
		fill  int
		wait  time.Duration
		field string // "" when valid
	}{
		{"defaults", nil, 0, 0, ""},
		{"off", intp(0), 0, 0, ""},
		{"sized", intp(8), 2, 5 * time.Second, ""},
		{"negative size", intp(-1), 0, 0, "citizen.rsa_pool_size"},
		{"too large", intp(maxRSAPoolSize + 1), 0, 0, "citizen.rsa_pool_size"},
		{"refill beyond size", intp(2), 3, 0, "citizen.rsa_pool_refill"},
		{"default size, refill beyond it", nil, defaultRSAPoolSize + 1, 0, "citizen.rsa_pool_refill"},
		{"wait too long", intp(2), 1, 2 * time.Minute, "citizen.rsa_pool_wait"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uri := "pkcs11:token=oces;object=%s?pin-source=pin"
			cfg := &Config{Citizen: CitizenConfig{
				PepperKey: fmt.Sprintf(uri, "p"), CodeKey: fmt.Sprintf(uri, "c"), AppKey: fmt.Sprintf(uri, "a"),
				KeyToken: "pkcs11:token=oces?pin-source=pin", RSAPoolSize: tc.size, RSAPoolRefill: tc.fill,
				RSAPoolWait: conf.Duration(tc.wait),
			}}
			err := cfg.validateCitizen()
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.field != "" && (err == nil || !strings.Contains(err.Error(), tc.field)):
				t.Fatalf("got %v, want an error naming %s", err, tc.field)
			}
		})
	}
}

// TestServeRSAPool serves with a small RSA-3072 pool: the pool fills in
// the background, /metrics shows its depth, and the CSC API lists the
// RSA credential.
func TestServeRSAPool(t *testing.T) {
	e := newEnvAt(t, "p-256", "http://127.0.0.1:8080", "127.0.0.1:0", func(e *env) string {
		e.write("csc-secret", "s3cret-of-the-webshop\n")
		return fmt.Sprintf("citizen: {pepper_key: %q, code_key: %q, app_key: %q, key_token: %q, rsa_pool_size: 2, csc_clients: [{id: webshop, secret_file: csc-secret}]}\n",
			e.tok.KeyURI("citizen-pepper"), e.tok.KeyURI("citizen-codes"), e.tok.KeyURI("citizen-app"), e.tok.TokenURI()) +
			"signer: {tsa_url: \"http://127.0.0.1:1/tsa\"}\n"
	})
	s := e.serve()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + s.public + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "oces_citizen_rsa_pool_size 2") {
			t.Fatalf("no pool size in /metrics:\n%.2000s", body)
		}
		if strings.Contains(string(body), "oces_citizen_rsa_pool_keys 2") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pool did not fill:\n%.2000s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop()
}
