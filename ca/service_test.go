package ca_test

import (
	"context"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"testing"
	"time"

	"github.com/oces-pki/oces/ca"
)

func TestIssueService(t *testing.T) {
	t.Parallel()
	h := newHierarchy(t, "p-384", "rsa-3072")
	c := newTestCA(t, h, 0)
	cases := []struct {
		kind     ca.ServiceKind
		validity time.Duration
		eku      x509.ExtKeyUsage
		critical bool // extKeyUsage critical
		nocheck  bool
	}{
		{ca.ServiceOCSP, 4 * 24 * time.Hour, x509.ExtKeyUsageOCSPSigning, false, true},
		{ca.ServiceTSA, 5 * 365 * 24 * time.Hour, x509.ExtKeyUsageTimeStamping, true, false},
		{ca.ServiceOfficer, 365 * 24 * time.Hour, x509.ExtKeyUsageClientAuth, false, false},
	}
	for _, tc := range cases {
		t.Run(string(tc.kind), func(t *testing.T) {
			cert, err := c.IssueService(context.Background(), ca.ServiceRequest{
				Kind: tc.kind, PublicKey: testKey(t, "p-256").Public(), CommonName: "OCES " + string(tc.kind), Validity: tc.validity,
			})
			if err != nil {
				t.Fatal(err)
			}
			lintClean(t, cert.DER)
			x, _ := x509.ParseCertificate(cert.DER)
			if len(x.ExtKeyUsage) != 1 || x.ExtKeyUsage[0] != tc.eku {
				t.Errorf("EKU %v, want only %v", x.ExtKeyUsage, tc.eku)
			}
			var nocheck, critical bool
			for _, e := range x.Extensions {
				nocheck = nocheck || e.Id.Equal(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5})
				if e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 37}) {
					critical = e.Critical
				}
			}
			if nocheck != tc.nocheck || critical != tc.critical {
				t.Errorf("ocsp-nocheck %v (want %v), EKU critical %v (want %v)", nocheck, tc.nocheck, critical, tc.critical)
			}
			if got := x.NotAfter.Sub(x.NotBefore); got != tc.validity {
				t.Errorf("validity %s, want %s", got, tc.validity)
			}
			if stored, err := c.Certificate(context.Background(), cert.Serial); err != nil || stored.Profile != string(tc.kind) {
				t.Errorf("stored %+v, %v", stored, err)
			}
		})
	}
	_, err := c.IssueService(context.Background(), ca.ServiceRequest{Kind: ca.ServiceOCSP,
		PublicKey: testKey(t, "p-256").Public(), CommonName: "x", Validity: 90 * 24 * time.Hour})
	if !errors.Is(err, ca.ErrInvalidRequest) {
		t.Errorf("a 90-day responder certificate: %v, want ErrInvalidRequest", err)
	}
}
