package csc_test

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oces-pki/oces/cades"
	"github.com/oces-pki/oces/citizen"
	"github.com/oces-pki/oces/internal/pdfcheck"
	"github.com/oces-pki/oces/internal/pkitest"
	"github.com/oces-pki/oces/revocation"
	"github.com/oces-pki/oces/signer"
)

// withRSAPool gives the fixture's citizens RSA-3072 one-time keys from a
// pool of real session keys in the PKI's token.
func (f *fixture) withRSAPool(t *testing.T) {
	t.Helper()
	p := f.pki
	pool, err := citizen.NewKeyPool(citizen.PoolConfig{Size: 1, Wait: 30 * time.Second,
		New: func(ctx context.Context) (citizen.OneTimeKey, error) {
			return p.HSM.GenerateSessionRSAKey(ctx, p.Token.TokenURI())
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pool.Close() })
	fetcher := revocation.New(revocation.Config{MaxAge: -1})
	sg, err := signer.New(signer.Config{TSA: &signer.TSAClient{URL: p.TSAURL, Roots: p.Roots(), Revocation: fetcher}, Revocation: fetcher, Audit: p.Store})
	if err != nil {
		t.Fatal(err)
	}
	err = f.svc.SetSigning(citizen.Signing{Signer: sg, CA: p.CA, RSAKeys: pool,
		NewKey: func(ctx context.Context) (citizen.OneTimeKey, error) {
			return p.HSM.GenerateSessionKey(ctx, p.Token.TokenURI())
		}})
	if err != nil {
		t.Fatal(err)
	}
}

// authorizeDoc confirms a document's SHA-256 for credential cred.
func (f *fixture) authorizeDoc(t *testing.T, c *specClient, cred string, doc []byte) string {
	t.Helper()
	digest := sha256.Sum256(doc)
	info := c.post("credentials/info", map[string]any{"credentialID": cred}, 200)
	label := info["OTP"].(map[string]any)["label"].(string)
	key := label[strings.LastIndex(label, " ")+1:]
	return c.post("credentials/authorize", map[string]any{"credentialID": cred, "numSignatures": 1,
		"hashes": []string{base64.StdEncoding.EncodeToString(digest[:])}, "PIN": password, "OTP": f.code(t, key)}, 200)["SAD"].(string)
}

// TestSignDocRSA asks for an RSA-3072 one-time signature through the CSC
// credential qes-rsa:<user> with RSASSA-PSS as signAlgo; openssl cms
// verifies it. Without a pool the credential does not exist.
func TestSignDocRSA(t *testing.T) {
	f := newFixture(t)
	c := &specClient{t: t, base: f.server.URL, http: f.server.Client()}
	c.oauth2(clientID, clientSecret)
	rsaCred := "qes-rsa:" + userID
	list := func() []any {
		return c.post("credentials/list", map[string]any{"userID": userID}, 200)["credentialIDs"].([]any)
	}
	if slices.Contains(list(), any(rsaCred)) {
		t.Fatal("the RSA credential is listed without a pool")
	}
	c.post("credentials/info", map[string]any{"credentialID": rsaCred}, 400)

	f.withRSAPool(t)
	if !slices.Contains(list(), any(rsaCred)) {
		t.Fatalf("credentials/list: %v", list())
	}
	info := c.post("credentials/info", map[string]any{"credentialID": rsaCred}, 200)
	if k := info["key"].(map[string]any); k["len"] != float64(3072) || !slices.Contains(k["algo"].([]any), any("1.2.840.113549.1.1.10")) {
		t.Fatalf("credentials/info key: %v", k)
	}

	doc := []byte("Lejekontrakt for Nørregade 12, 2. th.\n")
	signDoc := func(cred, sad, signAlgo string, status int) map[string]any {
		return c.post("signatures/signDoc", map[string]any{"credentialID": cred, "signatureQualifier": "eu_eidas_qes", "SAD": sad,
			"documents": []map[string]any{{"document": base64.StdEncoding.EncodeToString(doc), "signature_format": "C",
				"conformance_level": "Ades-B-LTA", "signAlgo": signAlgo}}}, status)
	}
	// signAlgo must go with the credential's key.
	if e := signDoc(rsaCred, "unused", "1.2.840.10045.4.3.2", 400); e["error"] != "invalid_request" {
		t.Fatalf("ECDSA on the RSA credential: %v", e)
	}
	if e := signDoc("qes:"+userID, "unused", "1.2.840.113549.1.1.10", 400); !strings.Contains(e["error_description"].(string), "qes-rsa:") {
		t.Fatalf("RSA on the P-256 credential: %v", e)
	}

	out := signDoc(rsaCred, f.authorizeDoc(t, c, rsaCred, doc), "1.2.840.113549.1.1.10", 200)
	p7s, _ := base64.StdEncoding.DecodeString(out["SignatureObject"].([]any)[0].(string))
	sd, err := cades.Parse(p7s)
	if err != nil {
		t.Fatal(err)
	}
	si := sd.Signers[0]
	if si.SignatureAlgorithm != x509.SHA256WithRSAPSS {
		t.Fatalf("signature algorithm %v, want RSASSA-PSS with SHA-256", si.SignatureAlgorithm)
	}
	if pub, ok := si.Certificate.PublicKey.(*rsa.PublicKey); !ok || pub.N.BitLen() != 3072 {
		t.Fatalf("signer's key %T", si.Certificate.PublicKey)
	}
	caFile := pkitest.WriteChain(t, t.TempDir(), "ca.pem", f.pki.Root, f.pki.Issuing)
	pdfcheck.OpenSSLCMSVerify(t, doc, p7s, caFile)
}
