package ca_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/catest"
)

func TestIssueQualified(t *testing.T) {
	c := catest.NewHSMCA(t, hsm.ECP256, "http://pki.example.dk")
	ctx := context.Background()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const uuid = "4b1e7c2a-9d3f-4e8a-b6c5-0123456789ab"
	cert, err := c.IssueQualified(ctx, ca.QualifiedRequest{PublicKey: key.Public(), Name: "Karen Jensen", UUID: uuid})
	if err != nil {
		t.Fatal(err)
	}
	x, err := cert.X509()
	if err != nil {
		t.Fatal(err)
	}
	if got := x.NotAfter.Sub(x.NotBefore); got != time.Hour {
		t.Errorf("validity %s, want 1h", got)
	}
	if x.Subject.SerialNumber != "UI:DK-P:G:"+uuid || x.Subject.CommonName != "Karen Jensen" {
		t.Errorf("subject %s", x.Subject)
	}
	if cert.Profile != ca.QualifiedProfileName {
		t.Errorf("profile %q", cert.Profile)
	}
	// zlint, run here on the issued certificate: no finding, and the ETSI
	// lints that check each statement did apply and pass.
	zc, err := zx509.ParseCertificate(x.Raw)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := lint.GlobalRegistry().Filter(lint.FilterOptions{IncludeSources: ca.LintSources})
	if err != nil {
		t.Fatal(err)
	}
	res := zlint.LintCertificateEx(zc, reg)
	for name, r := range res.Results {
		if r.Status == lint.Error || r.Status == lint.Warn || r.Status == lint.Fatal {
			t.Errorf("%s: %s %s", name, r.Status, r.Details)
		}
	}
	for _, name := range []string{
		"e_qcstatem_mandatory_etsi_statems", "e_qcstatem_qccompliance_valid", "e_qcstatem_qcsscd_valid",
		"e_qcstatem_qctype_oneonly", "e_qcstatem_qcpds_valid", "w_qcstatem_qcpds_lang_case",
		"e_qcstatem_pds_must_have_https_only", "e_qcstatem_etsi_type_as_statem",
	} {
		if r, ok := res.Results[name]; !ok || r.Status != lint.Pass {
			t.Errorf("lint %s: %+v, want pass", name, r)
		}
	}
	if _, err := c.IssueQualified(ctx, ca.QualifiedRequest{PublicKey: key.Public(), Name: "Karen Jensen", UUID: "PID:123"}); !errors.Is(err, ca.ErrInvalidRequest) {
		t.Errorf("bad uuid: %v", err)
	}
}

func TestQualifiedProfileValidate(t *testing.T) {
	tests := map[string]func(p *ca.QualifiedProfile){
		"too short":     func(p *ca.QualifiedProfile) { p.Validity = time.Minute },
		"too long":      func(p *ca.QualifiedProfile) { p.Validity = 48 * time.Hour },
		"no policy":     func(p *ca.QualifiedProfile) { p.Policies = nil },
		"http pds":      func(p *ca.QualifiedProfile) { p.PDS[0].URL = "http://x.dk/pds" },
		"upper lang":    func(p *ca.QualifiedProfile) { p.PDS[0].Language = "EN" },
		"no pds at all": func(p *ca.QualifiedProfile) { p.PDS = nil },
	}
	if err := ca.DefaultQualifiedProfile("http://pki.example.dk").Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	for name, mutate := range tests {
		p := ca.DefaultQualifiedProfile("http://pki.example.dk")
		mutate(p)
		if err := p.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
