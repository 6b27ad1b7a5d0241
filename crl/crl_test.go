package crl_test

import (
	"context"
	"fmt"
	"math/big"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/crl"
)

// entries maps the serials of a CRL to their reasons.
func entries(tb testing.TB, der []byte) (*crl.Info, map[string]string) {
	tb.Helper()
	info, err := crl.Show(der)
	if err != nil {
		tb.Fatalf("Show: %v", err)
	}
	m := map[string]string{}
	for _, e := range info.Entries {
		m[e.Serial] = e.Reason
	}
	return info, m
}

func serialHex(c *ca.Certificate) string { return fmt.Sprintf("%x", c.Serial.Big()) }

// TestLifecycle walks revocation, suspension and release through full,
// partitioned and delta CRLs, checked by openssl and zlint, for RSA and
// ECDSA issuing CAs.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	for _, keys := range [][2]string{{"rsa-2048", "rsa-2048"}, {"rsa-2048", "p-256"}, {"p-384", "p-384"}} {
		t.Run(keys[1], func(t *testing.T) {
			t.Parallel()
			testLifecycle(t, newHierarchy(t, keys[0], keys[1]), haveOpenSSL(t))
		})
	}
	// Our own checks do not depend on openssl: they run without it too
	// (where openssl is missing, the subtests above run only these).
	t.Run("without openssl", func(t *testing.T) {
		t.Parallel()
		testLifecycle(t, newHierarchy(t, "p-256", "p-256"), false)
	})
}

// testLifecycle runs the life cycle; ossl adds openssl's checks to ours.
func testLifecycle(t *testing.T, h *hierarchy, ossl bool) {
	ctx := context.Background()
	e := newEnv(t, h, 2, crl.Config{})
	// Partitions: 0 = {revoked, good}, 1 = {suspended, good}, 2 = {good}.
	certs := make([]*ca.Certificate, 5)
	for i := range certs {
		certs[i] = e.issue(t)
	}
	revoked, good0, suspended, good1 := certs[0], certs[1], certs[2], certs[3]
	e.clock.Advance(time.Minute)
	if _, err := e.ca.Revoke(ctx, revoked.Serial, ca.ReasonKeyCompromise, e.clock.Now().Add(-time.Hour), audit.System); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ca.Suspend(ctx, suspended.Serial, audit.System); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	if err := e.pub.Generate(ctx, "issuing-1"); err != nil {
		t.Fatalf("Generate: %v", err)
	}

	tmp := t.TempDir()
	issuerPEM := writePEM(t, tmp, "issuer.pem", "CERTIFICATE", h.issuing.Raw)
	chainPEM := writePEM(t, tmp, "chain.pem", "CERTIFICATE", h.root.Raw, h.issuing.Raw)
	files := []string{"issuing-1.crl", "issuing-1/0.crl", "issuing-1/1.crl", "issuing-1/2.crl", "issuing-1/delta.crl"}
	checkAll := func(t *testing.T) {
		for _, f := range files {
			der := e.file(t, f)
			if err := verifyCRL(der, h.issuing); err != nil {
				t.Errorf("%s: %v", f, err)
			}
			if ossl {
				out, ok := openssl(t, "crl", "-inform", "DER", "-in", filepath.Join(e.dir, f), "-CAfile", issuerPEM, "-noout")
				if !ok || !strings.Contains(out, "verify OK") {
					t.Errorf("openssl crl -verify %s: %s", f, out)
				}
			}
			lintCRL(t, f, der)
		}
	}
	checkAll(t)

	// The full CRL: the revoked and the suspended certificate, AKI, number,
	// freshest CRL.
	full, got := entries(t, e.file(t, "issuing-1.crl"))
	if got[serialHex(revoked)] != "keyCompromise" || got[serialHex(suspended)] != "certificateHold" || len(got) != 2 {
		t.Errorf("full CRL entries %v, want the revoked (keyCompromise) and the suspended (certificateHold) one", got)
	}
	if full.Kind != "full" || !slices.Equal(full.FreshestCRL, []string{baseURL + "/crl/issuing-1/delta.crl"}) {
		t.Errorf("full CRL: kind %s, freshest %v", full.Kind, full.FreshestCRL)
	}
	for _, en := range full.Entries {
		if en.Serial == serialHex(revoked) && en.InvalidityDate.IsZero() {
			t.Error("the revoked entry has no invalidity date")
		}
	}
	if ossl {
		out, _ := openssl(t, "crl", "-inform", "DER", "-in", filepath.Join(e.dir, "issuing-1.crl"), "-text", "-noout")
		if !contains(out, "Certificate Hold", "Key Compromise", "Invalidity Date", "Freshest CRL", "X509v3 Authority Key Identifier", "X509v3 CRL Number") {
			t.Errorf("openssl's view of the full CRL lacks an extension:\n%s", out)
		}
	}

	// The partitions: a critical IDP with the certificates' own names.
	checkPartitions(t, e, map[int][]string{0: {serialHex(revoked)}, 1: {serialHex(suspended)}, 2: nil}, ossl)

	// openssl matches the partition CRL to the certificates' CDP.
	verify := func(c *ca.Certificate, part int) (string, bool) {
		crlPEM := writePEM(t, tmp, fmt.Sprintf("p%d.pem", part), "X509 CRL", e.file(t, fmt.Sprintf("issuing-1/%d.crl", part)))
		leaf := writePEM(t, tmp, c.Serial.String()+".pem", "CERTIFICATE", c.DER)
		return openssl(t, "verify", "-crl_check", "-CAfile", chainPEM, "-CRLfile", crlPEM, leaf)
	}
	for _, tc := range []struct {
		name string
		c    *ca.Certificate
		part int
		ok   bool
	}{
		{"revoked", revoked, 0, false}, {"good in partition 0", good0, 0, true},
		{"suspended", suspended, 1, false}, {"good in partition 1", good1, 1, true},
		{"good in empty partition 2", certs[4], 2, true},
	} {
		if !ossl {
			break
		}
		out, ok := verify(tc.c, tc.part)
		if ok != tc.ok || (!tc.ok && !strings.Contains(out, "certificate revoked")) {
			t.Errorf("openssl verify -crl_check (%s): ok=%t, want %t:\n%s", tc.name, ok, tc.ok, out)
		}
	}

	// Release the suspended certificate: gone from the next full CRL, in
	// the delta with removeFromCRL; revoke a good one: in the delta.
	e.clock.Advance(time.Minute)
	if _, err := e.ca.Release(ctx, suspended.Serial, audit.System); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ca.Revoke(ctx, good1.Serial, ca.ReasonSuperseded, time.Time{}, audit.System); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	if err := e.pub.Generate(ctx, "issuing-1"); err != nil {
		t.Fatalf("Generate: %v", err)
	}
	checkAll(t)
	full2, got := entries(t, e.file(t, "issuing-1.crl"))
	if _, ok := got[serialHex(suspended)]; ok || len(got) != 2 || got[serialHex(good1)] != "superseded" {
		t.Errorf("full CRL after release: %v", got)
	}
	delta, got := entries(t, e.file(t, "issuing-1/delta.crl"))
	if delta.Kind != "delta" || delta.BaseNumber.Cmp(full.Number) != 0 || delta.Number.Cmp(full2.Number) != 0 {
		t.Errorf("delta: kind %s, base %v (want %v), number %v (want %v)", delta.Kind, delta.BaseNumber, full.Number, delta.Number, full2.Number)
	}
	if got[serialHex(suspended)] != "removeFromCRL" || got[serialHex(good1)] != "superseded" || len(got) != 2 {
		t.Errorf("delta entries %v, want removeFromCRL for the released and superseded for the new one", got)
	}
	if ossl {
		out, _ := openssl(t, "crl", "-inform", "DER", "-in", filepath.Join(e.dir, "issuing-1/delta.crl"), "-text", "-noout")
		if !contains(out, "X509v3 Delta CRL Indicator: critical", "Remove From CRL") {
			t.Errorf("openssl's view of the delta CRL:\n%s", out)
		}
		if out, ok := verify(suspended, 1); !ok {
			t.Errorf("openssl verify of the released certificate: %s", out)
		}
	}

	// CRL numbers keep increasing across a restart.
	if full2.Number.Cmp(full.Number) <= 0 {
		t.Errorf("CRL number %v after %v", full2.Number, full.Number)
	}
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	e.open(t, 2, crl.Config{})
	if err := e.pub.Generate(ctx, "issuing-1"); err != nil {
		t.Fatal(err)
	}
	full3, _ := entries(t, e.file(t, "issuing-1.crl"))
	if full3.Number.Cmp(full2.Number) <= 0 {
		t.Errorf("CRL number %v after reopening, last was %v", full3.Number, full2.Number)
	}
}

// TestCreate checks the encoder against crypto/x509's parser and zlint,
// including the corner cases of the DER lengths and time encodings.
func TestCreate(t *testing.T) {
	t.Parallel()
	h := newHierarchy(t, "rsa-2048", "p-256")
	now := time.Now().Add(-time.Minute).Truncate(time.Second)
	tests := []struct {
		name    string
		entries []crl.Entry
		wantErr string
	}{
		{"empty", nil, ""},
		{"one", []crl.Entry{{Serial: big.NewInt(1), RevocationTime: now}}, ""},
		{"high bit serial", []crl.Entry{{Serial: new(big.Int).Lsh(big.NewInt(1), 127), RevocationTime: now, Reason: ca.ReasonKeyCompromise, InvalidityDate: now.Add(-time.Hour)}}, ""},
		{"old and far", []crl.Entry{{Serial: big.NewInt(2), RevocationTime: time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC)}}, ""},
		{"many (long lengths)", manyEntries(3000, now), ""},
		{"unknown reason", []crl.Entry{{Serial: big.NewInt(3), RevocationTime: now, Reason: "bored"}}, "unknown revocation reason"},
		{"zero serial", []crl.Entry{{Serial: big.NewInt(0), RevocationTime: now}}, "positive"},
		{"future revocation", []crl.Entry{{Serial: big.NewInt(4), RevocationTime: now.Add(time.Hour)}}, "after thisUpdate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tmpl := &crl.Template{Number: big.NewInt(7), ThisUpdate: now, NextUpdate: now.Add(12 * time.Hour), Entries: tc.entries}
			der, err := crl.Create(nil, tmpl, h.issuing, h.issuingKey)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := crl.VerifySignature(der, h.issuing); err != nil {
				t.Fatal(err)
			}
			rl, err := crl.Parse(der)
			if err != nil {
				t.Fatal(err)
			}
			if len(rl.RevokedCertificateEntries) != len(tc.entries) || rl.Number.Int64() != 7 || !rl.ThisUpdate.Equal(now) {
				t.Fatalf("parsed %d entries, number %v, thisUpdate %s", len(rl.RevokedCertificateEntries), rl.Number, rl.ThisUpdate)
			}
			for i, en := range rl.RevokedCertificateEntries {
				want := tc.entries[i]
				if en.SerialNumber.Cmp(want.Serial) != 0 || !en.RevocationTime.Equal(want.RevocationTime) {
					t.Fatalf("entry %d: %x at %s, want %x at %s", i, en.SerialNumber, en.RevocationTime, want.Serial, want.RevocationTime)
				}
			}
			lintCRL(t, tc.name, der)
		})
	}
}

func manyEntries(n int, now time.Time) []crl.Entry {
	out := make([]crl.Entry, n)
	for i := range out {
		out[i] = crl.Entry{Serial: big.NewInt(int64(i + 1)), RevocationTime: now.Add(-time.Duration(i) * time.Second), Reason: ca.ReasonCessationOfOperation}
	}
	return out
}

func TestGenerateARL(t *testing.T) {
	t.Parallel()
	h := newHierarchy(t, "rsa-2048", "p-256")
	now := time.Now().Add(-time.Minute)
	der, err := crl.GenerateARL(context.Background(), crl.ARLRequest{
		Root: h.root, Signer: h.rootKey, Number: big.NewInt(3), ThisUpdate: now, NextUpdate: now.AddDate(1, 0, 0),
		Revoked: []crl.Entry{{Serial: h.issuing.SerialNumber, RevocationTime: now.Add(-time.Hour), Reason: ca.ReasonCACompromise}},
		URL:     baseURL + "/crl/root.crl",
	})
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	f := writePEM(t, tmp, "arl.pem", "X509 CRL", der)
	rootPEM := writePEM(t, tmp, "root.pem", "CERTIFICATE", h.root.Raw)
	if out, ok := openssl(t, "crl", "-in", f, "-CAfile", rootPEM, "-noout"); !ok || !strings.Contains(out, "verify OK") {
		t.Errorf("openssl crl -verify: %s", out)
	}
	// The issuing CA's CDP names the ARL: openssl finds it revoked.
	chain := writePEM(t, tmp, "chain.pem", "CERTIFICATE", h.root.Raw)
	issuing := writePEM(t, tmp, "issuing.pem", "CERTIFICATE", h.issuing.Raw)
	if out, ok := openssl(t, "verify", "-crl_check", "-CAfile", chain, "-CRLfile", f, issuing); ok || !strings.Contains(out, "certificate revoked") {
		t.Errorf("openssl verify of the revoked issuing CA: %s", out)
	}
	lintCRL(t, "arl", der)
	info, err := crl.Show(der)
	if err != nil || info.Kind != "arl" || len(info.Entries) != 1 || info.Entries[0].Reason != "cACompromise" {
		t.Fatalf("Show: %+v, %v", info, err)
	}
	if _, err := crl.GenerateARL(context.Background(), crl.ARLRequest{Root: h.root, Signer: h.issuingKey, Number: big.NewInt(1), ThisUpdate: now, NextUpdate: now.Add(time.Hour)}); err == nil {
		t.Error("an ARL signed with the wrong key was made")
	}
}

// TestPartitionSize checks the worst case of the default partition size:
// every certificate of a partition revoked with reason and invalidity date.
func TestPartitionSize(t *testing.T) {
	t.Parallel()
	h := newHierarchy(t, "rsa-2048", "rsa-2048")
	der := worstPartition(t, h)
	t.Logf("partition CRL with %d revoked entries (reason + invalidity date): %d bytes", ca.DefaultPartitionSize, len(der))
	if len(der) >= 1<<20 {
		t.Errorf("partition CRL is %d bytes, want under 1 MB", len(der))
	}
}

// worstPartition builds the largest partition CRL the default partition
// size allows: every certificate of it revoked, with reason and invalidity
// date, and a CRL number of six octets.
func worstPartition(tb testing.TB, h *hierarchy) []byte {
	tb.Helper()
	now := time.Now().Truncate(time.Second)
	ents := make([]crl.Entry, ca.DefaultPartitionSize)
	for i := range ents {
		s := new(big.Int).Lsh(big.NewInt(1), 127)
		ents[i] = crl.Entry{Serial: s.Add(s, big.NewInt(int64(i))), RevocationTime: now, Reason: ca.ReasonKeyCompromise, InvalidityDate: now}
	}
	dir, err := crl.PartitionDirName(nil, 1234)
	if err != nil {
		tb.Fatal(err)
	}
	der, err := crl.Create(nil, &crl.Template{Number: big.NewInt(1 << 40), ThisUpdate: now, NextUpdate: now.Add(12 * time.Hour), Entries: ents,
		IssuingDistributionPoint: &crl.DistributionPoint{DirNames: [][]byte{dir}, URIs: []string{baseURL + "/crl/issuing-1/1234.crl"}, OnlyContainsUserCerts: true}},
		h.issuing, h.issuingKey)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

// checkPartitions checks the entries of each partition CRL and its
// critical issuingDistributionPoint, which must name the partition exactly
// as the certificates' CRL distribution points do.
func checkPartitions(t *testing.T, e *env, want map[int][]string, ossl bool) {
	t.Helper()
	for p, want := range want {
		f := fmt.Sprintf("issuing-1/%d.crl", p)
		info, got := entries(t, e.file(t, f))
		if len(got) != len(want) || (len(want) == 1 && got[want[0]] == "") {
			t.Errorf("%s: entries %v, want %v", f, got, want)
		}
		s := info.Scope
		if info.Kind != "partition" || s == nil || !s.Critical || !s.OnlyContainsUserCerts || len(s.Names) != 2 ||
			!strings.HasSuffix(s.Names[0], fmt.Sprintf("CN=CRL%d", p)) || s.Names[1] != fmt.Sprintf("URI:%s/crl/issuing-1/%d.crl", baseURL, p) {
			t.Errorf("%s: kind %s, scope %+v", f, info.Kind, s)
		}
		if !ossl {
			continue
		}
		out, _ := openssl(t, "crl", "-inform", "DER", "-in", filepath.Join(e.dir, f), "-text", "-noout")
		if !contains(out, "X509v3 Issuing Distribution Point: critical", "Only User Certificates", fmt.Sprintf("CN = CRL%d", p)) {
			t.Errorf("%s: openssl shows no critical IDP for partition %d:\n%s", f, p, out)
		}
	}
}
