package revocation_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/pkitest"
	"github.com/oces-pki/oces/revocation"
)

func TestCheckAgainstRealResponders(t *testing.T) {
	p := pkitest.New(t, hsm.ECP256)
	seal := p.NewSeal(t, "voces", hsm.ECP256)
	ctx := context.Background()

	tests := []struct {
		name   string
		cfg    revocation.Config
		source string
	}{
		{"ocsp first", revocation.Config{}, "ocsp"},
		{"crl preferred", revocation.Config{PreferCRL: true}, "crl"},
		{"crl when ocsp is off", revocation.Config{DisableOCSP: true}, "crl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := revocation.New(tt.cfg).Check(ctx, seal.X509, p.Issuing)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != revocation.Good || res.Source != tt.source {
				t.Fatalf("status %v from %s, want good from %s", res.Status, res.Source, tt.source)
			}
			if (res.OCSP == nil) == (res.CRL == nil) {
				t.Fatalf("want exactly one of OCSP and CRL evidence, got %d and %d bytes", len(res.OCSP), len(res.CRL))
			}
			if tt.source == "ocsp" && len(res.Responder) != 1 {
				t.Fatalf("a delegated responder's response carries its certificate; got %d", len(res.Responder))
			}
		})
	}

	t.Run("issuing CA from the root's ARL", func(t *testing.T) {
		res, err := revocation.New(revocation.Config{}).Check(ctx, p.Issuing, p.Root)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != revocation.Good || res.Source != "crl" {
			t.Fatalf("got %v from %s", res.Status, res.Source)
		}
	})

	t.Run("chain built through caIssuers", func(t *testing.T) {
		f := revocation.New(revocation.Config{})
		chain, err := f.BuildChain(ctx, seal.X509, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(chain) != 3 || !chain[2].Equal(p.Root) {
			t.Fatalf("chain of %d certificates", len(chain))
		}
		results, err := f.Chain(ctx, chain)
		if err != nil || len(results) != 2 {
			t.Fatalf("chain status: %d results, %v", len(results), err)
		}
	})

	t.Run("responders down", func(t *testing.T) {
		p.SetDown("ocsp", true)
		p.SetDown("crl", true)
		defer p.SetDown("ocsp", false)
		defer p.SetDown("crl", false)
		_, err := revocation.New(revocation.Config{Timeout: 2 * time.Second}).Check(ctx, seal.X509, p.Issuing)
		if !errors.Is(err, revocation.ErrUnavailable) {
			t.Fatalf("got %v, want ErrUnavailable", err)
		}
	})

	t.Run("revoked", func(t *testing.T) {
		other := p.NewSeal(t, "foces", hsm.ECP256)
		p.Revoke(t, other.Cert, ca.ReasonKeyCompromise)
		for _, cfg := range []revocation.Config{{}, {PreferCRL: true}} {
			res, err := revocation.New(cfg).Check(ctx, other.X509, p.Issuing)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != revocation.Revoked || res.Reason != 1 || res.RevokedAt.IsZero() {
				t.Fatalf("%s: got %v reason %d at %v", res.Source, res.Status, res.Reason, res.RevokedAt)
			}
		}
	})

	t.Run("not the issuer", func(t *testing.T) {
		if _, err := revocation.New(revocation.Config{}).Check(ctx, seal.X509, p.Root); err == nil {
			t.Fatal("checking against the wrong issuer succeeded")
		}
	})
}
