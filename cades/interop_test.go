package cades

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"os"
	"strings"
	"testing"

	"github.com/digitorus/pkcs7"

	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/softhsmtest"
)

// TestDigitorusPKCS7 reads what digitorus/pkcs7, an independent CMS
// encoder, signs, and lets it verify what we make.
func TestDigitorusPKCS7(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, kind := range []string{"rsa", "p256"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := f.signers[kind]
			p, err := pkcs7.NewSignedData(testContent)
			if err != nil {
				t.Fatal(err)
			}
			p.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
			if err := p.AddSignerChain(s.cert, s.key, []*x509.Certificate{f.issuing}, pkcs7.SignerInfoConfig{}); err != nil {
				t.Fatal(err)
			}
			p.Detach()
			der, err := p.Finish()
			if err != nil {
				t.Fatal(err)
			}
			sd := mustParse(t, der)
			alg := map[string]x509.SignatureAlgorithm{"rsa": x509.SHA256WithRSA, "p256": x509.ECDSAWithSHA256}[kind]
			checkForeign(t, sd, s.cert, crypto.SHA256, alg, false, false)

			// digitorus verifies our B-LTA output. It cannot read RFC 5940
			// OCSP entries in crls (its SignedData wants CertificateLists
			// there), so the revocation data here is a CRL.
			ctx := context.Background()
			bt, err := AddSignatureTimeStamp(ctx, signB(t, f, kind, crypto.SHA256, false), f.ts, crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			blt, err := AddValidationData(bt, ValidationData{Certificates: []*x509.Certificate{f.root, f.tsaCert}, CRLs: [][]byte{f.crl(t)}})
			if err != nil {
				t.Fatal(err)
			}
			lta, err := AddArchiveTimeStamp(ctx, blt, bytes.NewReader(testContent), f.ts, crypto.SHA384)
			if err != nil {
				t.Fatal(err)
			}
			if l := mustParse(t, lta).Level(); l != LevelBLTA {
				t.Fatalf("Level = %v", l)
			}
			got, err := pkcs7.Parse(lta)
			if err != nil {
				t.Fatalf("digitorus Parse: %v", err)
			}
			got.Content = testContent
			if err := got.Verify(); err != nil {
				t.Errorf("digitorus Verify of our B-LTA: %v", err)
			}
		})
	}
}

// TestHSMKeys signs through PKCS#11 (SoftHSM via the hsm package) with
// RSA-PSS and ECDSA, raises to B-LTA and, where openssl is installed, has
// it verify the result.
func TestHSMKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := softhsmtest.New(t)
	h := hsm.New(nil)
	t.Cleanup(func() { h.Close() })
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		alg  hsm.KeyAlgorithm
		pss  bool
		hash crypto.Hash
		want x509.SignatureAlgorithm
	}{
		{"rsa-pss", hsm.RSA2048, true, crypto.SHA256, x509.SHA256WithRSAPSS},
		{"rsa-pkcs1", hsm.RSA2048, false, crypto.SHA512, x509.SHA512WithRSA},
		{"p256", hsm.ECP256, false, crypto.SHA256, x509.ECDSAWithSHA256},
		{"p384", hsm.ECP384, false, crypto.SHA384, x509.ECDSAWithSHA384},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, err := h.GenerateKey(ctx, tok.KeyURI("sig-"+tc.name), tc.alg)
			if err != nil {
				t.Fatal(err)
			}
			cert := f.issue(t, key.Public(), "OCES HSM signer "+tc.name, x509.KeyUsageContentCommitment, nil)
			der, err := Sign(ctx, key, bytes.NewReader(testContent), SignOptions{Hash: tc.hash, PSS: tc.pss, Certificates: []*x509.Certificate{cert, f.issuing}})
			if err != nil {
				t.Fatalf("Sign with the HSM key: %v", err)
			}
			sd := mustParse(t, der)
			if s := sd.Signers[0]; s.SignatureAlgorithm != tc.want || s.VerifySignature(nil) != nil || s.CheckSigningCertificate(nil) != nil {
				t.Fatalf("HSM signature: algorithm %v, verify %v", s.SignatureAlgorithm, s.VerifySignature(nil))
			}
			lta, err := AddArchiveTimeStamp(ctx, mustLT(t, f, der, cert), bytes.NewReader(testContent), f.ts, tc.hash)
			if err != nil {
				t.Fatal(err)
			}
			e := newOpenSSL(t, f)
			writeFile(t, e.dir, "hsm.p7s", lta)
			if out := e.run(t, "cms", "-verify", "-binary", "-content", "data", "-inform", "DER", "-in", "hsm.p7s", "-CAfile", "chain.pem", "-out", os.DevNull); !strings.Contains(out, "Verification successful") {
				t.Errorf("openssl cms -verify of the HSM-signed B-LTA: %s", out)
			}
		})
	}
}

func mustLT(t *testing.T, f *fixture, bb []byte, cert *x509.Certificate) []byte {
	t.Helper()
	bt, err := AddSignatureTimeStamp(context.Background(), bb, f.ts, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	lt, err := AddValidationData(bt, ValidationData{Certificates: []*x509.Certificate{f.root, f.tsaCert}, OCSPResponses: [][]byte{f.ocspResponse(t, cert)}})
	if err != nil {
		t.Fatal(err)
	}
	return lt
}
