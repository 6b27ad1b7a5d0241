package ocsp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/softhsmtest"
)

func TestKeyURI(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, base string
		gen        int
		want       string
	}{
		{"first generation", "pkcs11:token=t;object=ocsp?pin-source=/p", 1, "pkcs11:token=t;object=ocsp?pin-source=/p"},
		{"second", "pkcs11:token=t;object=ocsp?pin-source=/p", 2, "pkcs11:token=t;object=ocsp.2?pin-source=/p"},
		{"module path kept, id dropped", "pkcs11:module-path=/usr/lib/softhsm/libsofthsm2.so;token=t;id=%01%02;object=o", 3,
			"pkcs11:module-path=/usr/lib/softhsm/libsofthsm2.so;token=t;object=o.3"},
		{"escaped label", "pkcs11:token=t;object=ocsp%20key", 2, "pkcs11:token=t;object=ocsp%20key.2"},
		{"no label", "pkcs11:token=t;id=%01?pin-source=/p", 2, "pkcs11:token=t;object=ocsp-responder-issuing-1.2?pin-source=/p"},
	} {
		if got := keyURI(tc.base, "issuing-1", tc.gen); got != tc.want {
			t.Errorf("%s: keyURI = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// switchAuditor is the store's audit chain, or a refusal while off is set
// (a full disk, say), to show that no rotation is made unrecorded.
type switchAuditor struct {
	Auditor
	off atomic.Bool
}

func (a *switchAuditor) AppendAudit(ctx context.Context, events ...audit.Event) error {
	if a.off.Load() {
		return errors.New("store: audit chain unavailable (test)")
	}
	return a.Auditor.AppendAudit(ctx, events...)
}

// signerOf is the serial and public key of the responder certificate in a
// response, after checking the response's signature with it and that the
// CA issued it.
func signerOf(tb testing.TB, resp *xocsp.Response) (string, crypto.PublicKey) {
	tb.Helper()
	if resp.Certificate == nil {
		tb.Fatal("the response carries no responder certificate")
	}
	return resp.Certificate.SerialNumber.Text(16), resp.Certificate.PublicKey
}

// auditActions lists the actions recorded from seq on.
func auditActions(tb testing.TB, p *testPKI, from uint64) []audit.Record {
	tb.Helper()
	var out []audit.Record
	err := p.db.AuditRecords(context.Background(), from, func(_ uint64, data []byte) error {
		var rec audit.Record
		if err := rec.UnmarshalBinary(data); err != nil {
			return err
		}
		out = append(out, rec)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func actionsOf(recs []audit.Record) string {
	var s []string
	for _, r := range recs {
		s = append(s, r.Action)
	}
	return strings.Join(s, " ")
}

func auditHead(tb testing.TB, p *testPKI) uint64 {
	tb.Helper()
	h, err := p.db.AuditHead(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return h.Seq
}

// TestRevokedResponderRotates: revoking the responder certificate for
// keyCompromise switches the responder to a new key and certificate before
// the revocation call returns; nothing signed with the old key is served
// again; a sweep signs everything again; all of it is in the audit chain;
// a restart keeps the new key; a suspension made by another process (a
// second CA on the same store, whose changes this responder does not
// hear) is found by the check Run makes.
func TestRevokedResponderRotates(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	leaf := p.issue(t)
	keys := &memKeys{}
	aud := &switchAuditor{Auditor: p.db}
	r := newResponder(t, p, keys, func(c *Config) { c.Audit = aud })
	ctx := context.Background()
	if err := r.Presign(ctx); err != nil {
		t.Fatal(err)
	}
	h := r.Handler()
	oldSerial, oldKey := signerOf(t, query(t, h, p, leaf.Serial, crypto.SHA1))
	old := r.ResponderCertificate("issuing-1")
	oldCA, err := ca.SerialFromBig(old.SerialNumber)
	if err != nil {
		t.Fatal(err)
	}
	seq := auditHead(t, p)
	officer := audit.Actor{Subject: "CN=Test Officer"}
	if _, err := p.ca.Revoke(ctx, oldCA, ca.ReasonKeyCompromise, time.Time{}, officer); err != nil {
		t.Fatal(err)
	}
	// 1. At once, before any sweep: a new key and certificate, for SHA-1
	//    and SHA-256 CertIDs (the pre-signed responses are withdrawn).
	for _, hash := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		resp := query(t, h, p, leaf.Serial, hash)
		serial, key := signerOf(t, resp)
		if serial == oldSerial || samePublicKey(key, oldKey) {
			t.Fatalf("%v: still signed with the revoked responder certificate %s", hash, serial)
		}
		if resp.Status != xocsp.Good {
			t.Fatalf("%v: status %d", hash, resp.Status)
		}
	}
	if keys.generated != 2 {
		t.Fatalf("%d responder keys generated, want 2", keys.generated)
	}
	if _, err := keys.Signer(ctx, "pkcs11:token=t;object=ocsp-issuing-1.2"); err != nil {
		t.Fatalf("the new key is not under the next label: %v", err)
	}
	// The revoked responder certificate itself reads revoked.
	if resp := query(t, h, p, oldCA, crypto.SHA1); resp.Status != xocsp.Revoked || resp.RevocationReason != xocsp.KeyCompromise {
		t.Fatalf("the revoked responder certificate: status %d reason %d", resp.Status, resp.RevocationReason)
	}
	// 2. The sweep, and the audit chain.
	if err := r.Presign(ctx); err != nil {
		t.Fatal(err)
	}
	newSerial, _ := signerOf(t, query(t, h, p, leaf.Serial, crypto.SHA1))
	recs := auditActions(t, p, seq+1)
	want := "cert.revoke ocsp.responder.retire ocsp.responder.rotate ca.sign.before ca.sign.after cert.issue ocsp.responder.resign"
	if got := actionsOf(recs); got != want {
		t.Fatalf("audit chain after the revocation:\n got %s\nwant %s", got, want)
	}
	if rot := recs[2]; rot.Details["retired_key"] != "ocsp-issuing-1" || rot.Details["retired_certificate"] != oldCA.String() {
		t.Errorf("rotation record: %+v", rot)
	}
	if res := recs[6]; !strings.HasSuffix(res.Details["certificate"], newSerial) || res.Details["key"] != "ocsp-issuing-1.2" {
		t.Errorf("re-signing record: %+v (new certificate %s)", res, newSerial)
	}
	if _, err := audit.Verify(ctx, p.db, nil); err != nil {
		t.Errorf("audit.Verify: %v", err)
	}
	// 3. A restart keeps the new key and certificate.
	r2 := newResponder(t, p, keys, func(c *Config) { c.Audit = aud })
	if got := r2.ResponderCertificate("issuing-1").SerialNumber.Text(16); got != newSerial || keys.generated != 2 {
		t.Fatalf("after a restart: certificate %s (want %s), %d keys generated", got, newSerial, keys.generated)
	}
	// 4. Another process suspends the new certificate; with the audit
	//    chain down the key is retired, queries get tryLater, and no key
	//    is made; once it is back, Run's next round rotates.
	other, err := ca.New(ctx, ca.Config{Issuers: p.ca.Issuers(), BaseURL: "http://pki.example.dk",
		Certificates: p.db, Registry: p.db, Hasher: hmacHasher("test registry key"), Clock: p.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := ca.SerialFromBig(r2.ResponderCertificate("issuing-1").SerialNumber)
	if _, err := other.Suspend(ctx, cur, officer); err != nil {
		t.Fatal(err)
	}
	h2 := r2.Handler()
	if serial, _ := signerOf(t, query(t, h2, p, leaf.Serial, crypto.SHA1)); serial != newSerial {
		t.Fatalf("unexpected rotation before the check: %s", serial)
	}
	aud.off.Store(true)
	if err := r2.checkResponders(ctx); err == nil {
		t.Fatal("rotated without an audit record")
	}
	if got := postRaw(t, h2, requestFor(t, p, leaf.Serial, crypto.SHA1)); !bytes.Equal(got, errorResponse(statusTryLater)) {
		t.Fatalf("with the key retired and no successor: % x, want tryLater", got)
	}
	if keys.generated != 2 {
		t.Fatalf("a key was made without an audit record")
	}
	aud.off.Store(false)
	if err := r2.renewDue(ctx); err != nil {
		t.Fatal(err)
	}
	third, _ := signerOf(t, query(t, h2, p, leaf.Serial, crypto.SHA1))
	if third == newSerial || keys.generated != 3 {
		t.Fatalf("after the audit chain is back: certificate %s, %d keys", third, keys.generated)
	}
}

// TestRotationWithSoftHSM: the new key is made in a real token under the
// next label, and openssl accepts the responses it signs.
func TestRotationWithSoftHSM(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	tok := softhsmtest.New(t)
	h := hsm.New(nil)
	t.Cleanup(func() { h.Close() })
	ip := newInteropPKI(t, hsmKeys{h}, func(c *Config) {
		c.Issuers[0].ResponderKey = tok.KeyURI("ocsp-issuing-1")
		c.Audit = nil
	})
	ctx := context.Background()
	old := ip.r.ResponderCertificate("issuing-1")
	s, _ := ca.SerialFromBig(old.SerialNumber)
	start := time.Now()
	if _, err := ip.p.ca.Revoke(ctx, s, ca.ReasonKeyCompromise, time.Time{}, audit.System); err != nil {
		t.Fatal(err)
	}
	t.Logf("revocation with the key rotation (P-256 in SoftHSM, a new certificate): %s", time.Since(start).Round(time.Millisecond))
	if _, err := h.Signer(ctx, tok.KeyURI("ocsp-issuing-1.2")); err != nil {
		t.Fatalf("no key ocsp-issuing-1.2 in the token: %v", err)
	}
	cur := ip.r.ResponderCertificate("issuing-1")
	if cur.SerialNumber.Cmp(old.SerialNumber) == 0 {
		t.Fatal("the responder certificate did not change")
	}
	writePEM(t, filepath.Join(ip.dir, "old-responder.pem"), old)
	ip.check(t, openssl, []interopCase{
		{"good after rotation", []string{"ocsp", "-issuer", "issuer.pem", "-cert", "good.pem", "-url", ip.srv.URL + "/ocsp",
			"-CAfile", "root.pem", "-no_nonce"},
			[]string{"Response verify OK", "good.pem: good"}, nil},
		{"the revoked responder certificate", []string{"ocsp", "-issuer", "issuer.pem", "-cert", "old-responder.pem",
			"-url", ip.srv.URL + "/ocsp", "-CAfile", "root.pem", "-no_nonce"},
			[]string{"Response verify OK", "old-responder.pem: revoked", "Reason: keyCompromise"}, nil},
	})
	// The responses of the old key are gone from the cache: the bytes
	// served for a pre-signed serial are signed by the new certificate.
	der := postRaw(t, ip.r.Handler(), requestFor(t, ip.p, mustSerialOf(t, ip.dir, "revoked.pem"), crypto.SHA1))
	if err := os.WriteFile(filepath.Join(ip.dir, "resp.der"), der, 0o600); err != nil {
		t.Fatal(err)
	}
	resp, err := xocsp.ParseResponse(der, ip.p.issuing)
	if err != nil || resp.Certificate == nil || !bytes.Equal(resp.Certificate.Raw, cur.Raw) {
		t.Fatalf("pre-signed serial after rotation: %v", err)
	}
}

func mustSerialOf(tb testing.TB, dir, name string) ca.Serial {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		tb.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		tb.Fatalf("%s: no PEM block", name)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := ca.SerialFromBig(c.SerialNumber)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestRotationUnderLoad: with queries in flight throughout, no query that
// starts after the revocation returns is answered with the revoked key.
func TestRotationUnderLoad(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	var leaves []ca.Serial
	for range 20 {
		leaves = append(leaves, p.issue(t).Serial)
	}
	r := newResponder(t, p, nil, func(c *Config) { c.Audit = p.db })
	ctx := context.Background()
	if err := r.Presign(ctx); err != nil {
		t.Fatal(err)
	}
	h := r.Handler()
	old := r.ResponderCertificate("issuing-1")
	var reqs [][]byte
	for _, l := range leaves {
		reqs = append(reqs, requestFor(t, p, l, crypto.SHA1))
	}
	var revoked, stop atomic.Bool
	var stale, after atomic.Int64
	done := make(chan struct{})
	for w := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := w; !stop.Load(); i++ {
				began := revoked.Load()
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/ocsp", bytes.NewReader(reqs[i%len(reqs)])))
				der := rec.Body.Bytes()
				resp, err := xocsp.ParseResponse(der, p.issuing)
				if err != nil {
					if !bytes.Equal(der, errorResponse(statusTryLater)) {
						t.Errorf("response: %v", err)
					}
					continue
				}
				if began {
					after.Add(1)
					if bytes.Equal(resp.Certificate.Raw, old.Raw) {
						stale.Add(1)
					}
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	s, _ := ca.SerialFromBig(old.SerialNumber)
	if _, err := p.ca.Revoke(ctx, s, ca.ReasonKeyCompromise, time.Time{}, audit.System); err != nil {
		t.Fatal(err)
	}
	revoked.Store(true)
	if err := r.Presign(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	stop.Store(true)
	for range 4 {
		<-done
	}
	if after.Load() == 0 {
		t.Fatal("no query ran after the revocation")
	}
	if n := stale.Load(); n > 0 {
		t.Fatalf("%d of %d queries after the revocation were answered with the revoked key", n, after.Load())
	}
}

// TestOlderCertificateRetiresKey: after a renewal the key has two
// certificates; revoking the older one, from another process (a second
// CA on the same store), retires the key too, found by Run's check.
func TestOlderCertificateRetiresKey(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	keys := &memKeys{}
	r := newResponder(t, p, keys, func(c *Config) { c.Audit = p.db })
	ctx := context.Background()
	first := r.ResponderCertificate("issuing-1")
	p.clock.advance(49 * time.Hour) // less than half of four days remains
	if err := r.renewDue(ctx); err != nil {
		t.Fatal(err)
	}
	renewed := r.ResponderCertificate("issuing-1")
	if renewed.Equal(first) || keys.generated != 1 {
		t.Fatalf("renewal: same certificate %v, %d keys", renewed.Equal(first), keys.generated)
	}
	other, err := ca.New(ctx, ca.Config{Issuers: p.ca.Issuers(), BaseURL: "http://pki.example.dk",
		Certificates: p.db, Registry: p.db, Hasher: hmacHasher("test registry key"), Clock: p.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := ca.SerialFromBig(first.SerialNumber)
	if _, err := other.Revoke(ctx, s, ca.ReasonKeyCompromise, time.Time{}, audit.System); err != nil {
		t.Fatal(err)
	}
	if err := r.checkResponders(ctx); err != nil {
		t.Fatal(err)
	}
	now := r.ResponderCertificate("issuing-1")
	if keys.generated != 2 || samePublicKey(now.PublicKey, renewed.PublicKey) {
		t.Fatalf("the key of a revoked certificate is still in use (%d keys generated)", keys.generated)
	}
}
