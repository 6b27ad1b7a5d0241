package crl_test

import (
	"context"
	"crypto/x509"
	"encoding/asn1"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/crl"
)

// TestDeltaBaseSurvivesRestart: a revocation between a full run and a
// restart is in the first delta CRL after the restart, relative to the
// same base as before it.
func TestDeltaBaseSurvivesRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, newHierarchy(t, "p-256", "p-256"), 10, crl.Config{})
	a := e.issue(t)
	e.issue(t)
	if err := e.pub.Generate(ctx, "issuing-1"); err != nil {
		t.Fatal(err)
	}
	first, err := crl.Show(e.file(t, "issuing-1.crl"))
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	if _, err := e.ca.Revoke(ctx, a.Serial, ca.ReasonKeyCompromise, time.Time{}, audit.System); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	// Restart: a new store handle, CA and publisher on the same file.
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	e.open(t, 10, crl.Config{})
	if err := e.pub.Generate(ctx, "issuing-1"); err != nil {
		t.Fatal(err)
	}
	delta, err := crl.Show(e.file(t, "issuing-1/delta.crl"))
	if err != nil {
		t.Fatal(err)
	}
	if delta.BaseNumber == nil || delta.BaseNumber.Cmp(first.Number) != 0 {
		t.Fatalf("delta after restart is relative to %v, want the full CRL before it, %v", delta.BaseNumber, first.Number)
	}
	if len(delta.Entries) != 1 || !strings.EqualFold(delta.Entries[0].Serial, strings.TrimLeft(a.Serial.String(), "0")) {
		t.Fatalf("delta after restart lists %+v, want the certificate revoked before it (%s)", delta.Entries, a.Serial)
	}
}

// TestExpiredLeaveCRL: a revoked certificate leaves the full, partition
// and delta CRLs once it has expired, unless ExpiredCertsOnCRL keeps it
// (and then the CRLs say so with the expiredCertsOnCRL extension).
func TestExpiredLeaveCRL(t *testing.T) {
	t.Parallel()
	oidExpiredCertsOnCRL := asn1.ObjectIdentifier{2, 5, 29, 60}
	h := newHierarchy(t, "p-256", "p-256")
	for _, keep := range []bool{false, true} {
		ctx := context.Background()
		e := newEnv(t, h, 10, crl.Config{ExpiredCertsOnCRL: keep})
		c := e.issue(t)
		if _, err := e.ca.Revoke(ctx, c.Serial, ca.ReasonKeyCompromise, time.Time{}, audit.System); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Second)
		if err := e.pub.Generate(ctx, "issuing-1"); err != nil {
			t.Fatal(err)
		}
		e.clock.Set(c.NotAfter.Add(time.Hour))
		if err := e.pub.Generate(ctx, "issuing-1"); err != nil {
			t.Fatal(err)
		}
		want := 0
		if keep {
			want = 1
		}
		for _, name := range []string{"issuing-1.crl", "issuing-1/0.crl", "issuing-1/delta.crl"} {
			der := e.file(t, name)
			rl, err := x509.ParseRevocationList(der)
			if err != nil {
				t.Fatal(err)
			}
			if len(rl.RevokedCertificateEntries) != want {
				t.Errorf("keep=%v: %s lists %d entries after the certificate expired, want %d", keep, name, len(rl.RevokedCertificateEntries), want)
			}
			has := false
			for _, x := range rl.Extensions {
				has = has || x.Id.Equal(oidExpiredCertsOnCRL)
			}
			if has != keep {
				t.Errorf("keep=%v: %s has expiredCertsOnCRL: %v", keep, name, has)
			}
			lintCRL(t, name, der)
		}
	}
}

// TestIssueARL: the ARL's number is kept beside it and increases, both
// files are replaced whole, and the handler serves a new ARL at once.
func TestIssueARL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHierarchy(t, "p-256", "p-256")
	dir := t.TempDir()
	path := filepath.Join(dir, "root.crl")
	issue := func(want int64) {
		t.Helper()
		now := time.Now().Add(-time.Minute)
		der, n, err := crl.IssueARL(ctx, path, crl.ARLRequest{Root: h.root, Signer: h.rootKey,
			ThisUpdate: now, NextUpdate: now.AddDate(1, 0, 0), URL: baseURL + "/crl/root.crl"})
		if err != nil {
			t.Fatal(err)
		}
		if n.Cmp(big.NewInt(want)) != 0 {
			t.Fatalf("ARL number %v, want %d", n, want)
		}
		if err := crl.VerifySignature(der, h.root); err != nil {
			t.Fatal(err)
		}
	}
	issue(1)
	handler, err := crl.NewARLHandler(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	served := func() *big.Int {
		t.Helper()
		resp, err := http.Get(srv.URL + "/crl/root.crl")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		der, _ := io.ReadAll(resp.Body)
		info, err := crl.Show(der)
		if err != nil {
			t.Fatalf("served ARL: %v", err)
		}
		return info.Number
	}
	if n := served(); n.Int64() != 1 {
		t.Fatalf("served ARL number %v, want 1", n)
	}
	issue(2)
	if n := served(); n.Int64() != 2 {
		t.Fatalf("after a new ARL, the handler serves number %v, want 2 without a restart", n)
	}
	// A broken file over it is refused; the last good ARL stays served.
	if err := os.WriteFile(path, []byte("not a CRL"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n := served(); n.Int64() != 2 {
		t.Fatalf("after a broken file, the handler serves %v, want 2", n)
	}
	if data, err := os.ReadFile(path + ".number"); err != nil || strings.TrimSpace(string(data)) != "2" {
		t.Fatalf("number file: %q, %v", data, err)
	}
	entries, _ := os.ReadDir(dir)
	for _, de := range entries {
		if strings.Contains(de.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", de.Name())
		}
	}
}
