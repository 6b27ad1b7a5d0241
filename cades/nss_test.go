package cades

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNSSSignedWeRead: NSS's cmsutil writes BER (indefinite lengths); we
// parse and verify it, raise it to B-LTA, and both openssl and NSS still
// verify the signature.
func TestNSSSignedWeRead(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := newOpenSSL(t, f)
	cmsutil, certutil, pk12util := tool(t, "cmsutil"), tool(t, "certutil"), tool(t, "pk12util")
	run := func(bin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = e.dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	db := filepath.Join(e.dir, "nssdb")
	if err := os.Mkdir(db, 0o700); err != nil {
		t.Fatal(err)
	}
	e.run(t, "pkcs12", "-export", "-in", "p256.pem", "-inkey", "p256.key", "-certfile", "issuing.pem",
		"-out", "signer.p12", "-passout", "pass:pw", "-name", "signer")
	run(certutil, "-N", "-d", db, "--empty-password")
	run(pk12util, "-i", "signer.p12", "-d", db, "-W", "pw")
	run(certutil, "-A", "-d", db, "-n", "root", "-t", "CT,C,C", "-a", "-i", "root.pem")
	run(cmsutil, "-S", "-N", "signer", "-d", db, "-i", "data", "-o", "nss.p7s", "-T", "-G", "-H", "SHA256")
	raw, err := os.ReadFile(filepath.Join(e.dir, "nss.p7s"))
	if err != nil {
		t.Fatal(err)
	}
	if norm, _ := toDER(raw); bytes.Equal(norm, raw) {
		t.Fatal("cmsutil output is DER; this test wants BER")
	}
	sd := mustParse(t, raw)
	checkForeign(t, sd, f.signers["p256"].cert, crypto.SHA256, x509.ECDSAWithSHA256, false, false)
	if sd.Signers[0].SigningTime.IsZero() {
		t.Error("signing time from cmsutil -G not read")
	}
	lta := raiseToLTA(t, f, raw, "p256", bytes.NewReader(testContent))
	writeFile(t, e.dir, "nss-lta.p7s", lta)
	if out := e.run(t, "cms", "-verify", "-binary", "-content", "data", "-inform", "DER", "-in", "nss-lta.p7s",
		"-CAfile", "chain.pem", "-out", os.DevNull); !strings.Contains(out, "Verification successful") {
		t.Errorf("openssl cms -verify of the raised NSS signature: %s", out)
	}
	// NSS's decoder takes only CertificateLists in SignedData.crls, not the
	// RFC 5940 OCSP entries (it fails with SEC_ERROR_BAD_DER), so NSS gets a
	// B-LTA whose revocation data is a CRL.
	ctx := context.Background()
	bt, err := AddSignatureTimeStamp(ctx, raw, f.ts, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	blt, err := AddValidationData(bt, ValidationData{Certificates: []*x509.Certificate{f.root, f.tsaCert}, CRLs: [][]byte{f.crl(t)}})
	if err != nil {
		t.Fatal(err)
	}
	crlLTA, err := AddArchiveTimeStamp(ctx, blt, bytes.NewReader(testContent), f.ts, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, e.dir, "nss-lta-crl.p7s", crlLTA)
	out := run(cmsutil, "-D", "-d", db, "-i", "nss-lta-crl.p7s", "-c", "data", "-n", "-h", "1")
	if !strings.Contains(out, "signer0.status=GoodSignature") {
		t.Errorf("cmsutil -D of the raised signature: %s", out)
	}
	writeFile(t, e.dir, "other-data", []byte("tampered"))
	if out, err := exec.Command(cmsutil, "-D", "-d", db, "-i", filepath.Join(e.dir, "nss-lta-crl.p7s"), "-c", filepath.Join(e.dir, "other-data"), "-n", "-h", "1").CombinedOutput(); err == nil && strings.Contains(string(out), "status=GoodSignature") {
		t.Errorf("cmsutil accepted other content: %s", out)
	}
}
