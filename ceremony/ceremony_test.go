package ceremony_test

import (
	"context"
	"crypto"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oces-pki/oces/ceremony"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/conf"
	"github.com/oces-pki/oces/internal/softhsmtest"
)

// hsmKeys is the HSM as a ceremony uses it (as cmd/oces wires it).
type hsmKeys struct{ h *hsm.HSM }

func (k hsmKeys) GenerateKey(ctx context.Context, uri, algorithm string) (crypto.Signer, error) {
	alg, err := hsm.ParseKeyAlgorithm(algorithm)
	if err != nil {
		return nil, err
	}
	return k.h.GenerateKey(ctx, uri, alg)
}

func (k hsmKeys) Signer(ctx context.Context, uri string) (crypto.Signer, error) {
	return k.h.Signer(ctx, uri)
}

const year = 365 * 24 * time.Hour

func years(n int) conf.Duration { return conf.Duration(time.Duration(n) * year) }

// TestRootAndIssuing runs both ceremonies with keys made in SoftHSM: the
// certificates are written as PEM, chain as openssl sees it, carry the
// fingerprint openssl computes, and are never overwritten; a parent key
// that is not the parent certificate's signs nothing.
func TestRootAndIssuing(t *testing.T) {
	t.Parallel()
	tok := softhsmtest.New(t)
	h := hsm.New(nil)
	t.Cleanup(func() { h.Close() })
	keys := hsmKeys{h}
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Now().Truncate(time.Second)
	subject := ceremony.SubjectConfig{Country: "DK", Organization: "OCES PKI Test", CommonName: "OCES PKI Test Root CA"}
	rootCfg := &ceremony.RootConfig{Key: ceremony.KeyConfig{URI: tok.KeyURI("root"), Algorithm: "p-384"}, Subject: subject,
		Validity: years(20), Certificate: filepath.Join(dir, "root.pem")}
	if err := rootCfg.Validate(); err != nil {
		t.Fatal(err)
	}
	root, err := ceremony.Root(ctx, rootCfg, keys, now)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(root.KeyURI, "pin-source") || !root.Certificate.IsCA || root.Certificate.Subject.CommonName != subject.CommonName ||
		!root.NotAfter.Equal(now.Add(20*365*24*time.Hour)) {
		t.Errorf("root result: key %s, CA %v, subject %s, not after %s", root.KeyURI, root.Certificate.IsCA, root.Subject, root.NotAfter)
	}
	if _, err := ceremony.Root(ctx, rootCfg, keys, now); err == nil || !strings.Contains(err.Error(), "never overwrites") {
		t.Errorf("a second root ceremony onto the same file: %v", err)
	}

	issuingCfg := &ceremony.IssuingConfig{Name: "issuing-1", Key: ceremony.KeyConfig{URI: tok.KeyURI("issuing"), Algorithm: "p-256"},
		Parent:   ceremony.ParentConfig{Name: "root", Certificate: rootCfg.Certificate, Key: tok.KeyURI("root")},
		Subject:  ceremony.SubjectConfig{Country: "DK", Organization: "OCES PKI Test", CommonName: "OCES PKI Test Issuing CA 1"},
		Validity: years(10), PublicBaseURL: "http://pki.example.dk", Certificate: filepath.Join(dir, "issuing-1.pem")}
	if err := issuingCfg.Validate(); err != nil {
		t.Fatal(err)
	}
	issuing, err := ceremony.Issuing(ctx, issuingCfg, keys, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := issuing.Certificate.CheckSignatureFrom(root.Certificate); err != nil {
		t.Errorf("the issuing CA certificate is not signed by the root: %v", err)
	}
	if got, err := ceremony.ReadCertificate(issuing.Path); err != nil || !got.Equal(issuing.Certificate) {
		t.Errorf("reading %s back: %v", issuing.Path, err)
	}

	// A parent key that is not the parent certificate's is refused before
	// anything is signed or written.
	if _, err := h.GenerateKey(ctx, tok.KeyURI("other"), hsm.ECP384); err != nil {
		t.Fatal(err)
	}
	wrong := *issuingCfg
	wrong.Parent.Key, wrong.Key.URI, wrong.Certificate = tok.KeyURI("other"), tok.KeyURI("issuing-2"), filepath.Join(dir, "issuing-2.pem")
	if _, err := ceremony.Issuing(ctx, &wrong, keys, now); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("issuing with another parent key: %v", err)
	}
	if _, err := os.Stat(wrong.Certificate); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused ceremony wrote %s: %v", wrong.Certificate, err)
	}

	// openssl, independently: the chain verifies and the fingerprint is
	// the one the ceremony prints for the record.
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl not installed")
		}
		t.Log("openssl not installed: its checks are left out")
		return
	}
	if out, err := exec.Command("openssl", "verify", "-x509_strict", "-CAfile", root.Path, issuing.Path).CombinedOutput(); err != nil {
		t.Errorf("openssl verify: %v\n%s", err, out)
	}
	for _, r := range []*ceremony.Result{root, issuing} {
		out, err := exec.Command("openssl", "x509", "-in", r.Path, "-noout", "-fingerprint", "-sha256").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "="+r.SHA256) {
			t.Errorf("openssl's fingerprint of %s: %s; the ceremony's %s (%v)", r.Path, out, r.SHA256, err)
		}
		if r.SHA256 != ceremony.Fingerprint(r.Certificate) {
			t.Errorf("Fingerprint differs from the result's")
		}
	}
}

// TestCeremonyConfigs: the ceremony files are validated with the field's
// name; a PIN is never accepted in a key URI.
func TestCeremonyConfigs(t *testing.T) {
	t.Parallel()
	key := ceremony.KeyConfig{URI: "pkcs11:token=t;object=root?pin-source=/run/pin", Algorithm: "p-384"}
	subject := ceremony.SubjectConfig{Country: "DK", Organization: "O", CommonName: "CN"}
	root := func(change func(*ceremony.RootConfig)) error {
		c := &ceremony.RootConfig{Key: key, Subject: subject, Validity: years(20), Certificate: "root.pem"}
		change(c)
		return c.Validate()
	}
	issuing := func(change func(*ceremony.IssuingConfig)) error {
		c := &ceremony.IssuingConfig{Name: "issuing-1", Key: ceremony.KeyConfig{URI: "pkcs11:token=t;object=i", Algorithm: "rsa-3072"},
			Parent:  ceremony.ParentConfig{Name: "root", Certificate: "root.pem", Key: "pkcs11:token=t;object=root"},
			Subject: subject, Validity: years(10), PublicBaseURL: "http://pki.example.dk", Certificate: "i.pem"}
		change(c)
		return c.Validate()
	}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"root valid", root(func(*ceremony.RootConfig) {}), ""},
		{"root pin-value", root(func(c *ceremony.RootConfig) { c.Key.URI = "pkcs11:token=t;object=r?pin-value=1234" }), "key.uri: must not contain pin-value"},
		{"root not a URI", root(func(c *ceremony.RootConfig) { c.Key.URI = "root.key" }), "key.uri"},
		{"root RSA-3072", root(func(c *ceremony.RootConfig) { c.Key.Algorithm = "rsa-3072" }), "key.algorithm"},
		{"root validity", root(func(c *ceremony.RootConfig) { c.Validity = years(40) }), "validity"},
		{"root country", root(func(c *ceremony.RootConfig) { c.Subject.Country = "" }), "subject.country"},
		{"root certificate", root(func(c *ceremony.RootConfig) { c.Certificate = "" }), "certificate"},
		{"issuing valid", issuing(func(*ceremony.IssuingConfig) {}), ""},
		{"issuing name", issuing(func(c *ceremony.IssuingConfig) { c.Name = "" }), "name"},
		{"issuing parent pin-value", issuing(func(c *ceremony.IssuingConfig) { c.Parent.Key += "?pin-value=1" }), "parent.key"},
		{"issuing algorithm", issuing(func(c *ceremony.IssuingConfig) { c.Key.Algorithm = "rsa-2048" }), "key.algorithm"},
		{"issuing validity", issuing(func(c *ceremony.IssuingConfig) { c.Validity = conf.Duration(24 * time.Hour) }), "validity"},
		{"issuing base URL", issuing(func(c *ceremony.IssuingConfig) { c.PublicBaseURL = "pki.example.dk" }), "public_base_url"},
	}
	for _, tc := range cases {
		var fe *conf.FieldError
		switch {
		case tc.want == "" && tc.err != nil:
			t.Errorf("%s: refused: %v", tc.name, tc.err)
		case tc.want != "" && (!errors.As(tc.err, &fe) || !strings.HasPrefix(tc.err.Error(), tc.want)):
			t.Errorf("%s: %v, want a field error starting %q", tc.name, tc.err, tc.want)
		}
	}
}

var _ ceremony.Keys = hsmKeys{}
