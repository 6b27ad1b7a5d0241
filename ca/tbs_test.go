package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"
	"time"
)

// TestSignCertificateIsCreateCertificate: a certificate made in two steps
// (encodeTBS, then signCertificate) is the one x509.CreateCertificate
// makes of the same template with the same key: byte for byte for RSA,
// whose PKCS#1 v1.5 signatures are deterministic; the same
// TBSCertificate, with a signature that verifies, for ECDSA.
func TestSignCertificateIsCreateCertificate(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		key       crypto.Signer
		identical bool
	}{
		{"RSA", rsaKey, true},
		{"ECDSA P-384", ecKey, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			issuer, sigAlg := testIssuer(t, tc.key)
			tmpl := testLeafTemplate(sigAlg)
			tbs, err := encodeTBS(tmpl, issuer, leafKey.Public(), sigAlg)
			if err != nil {
				t.Fatal(err)
			}
			der, err := signCertificate(rand.Reader, tc.key, issuer.PublicKey, sigAlg, tbs)
			if err != nil {
				t.Fatal(err)
			}
			want, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, leafKey.Public(), tc.key)
			if err != nil {
				t.Fatal(err)
			}
			if tc.identical && !bytes.Equal(der, want) {
				t.Fatal("the certificate differs from x509.CreateCertificate's")
			}
			got, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := x509.ParseCertificate(want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.RawTBSCertificate, tbs) || !bytes.Equal(ref.RawTBSCertificate, tbs) {
				t.Fatal("the TBSCertificate differs from x509.CreateCertificate's")
			}
			if err := got.CheckSignatureFrom(issuer); err != nil {
				t.Fatalf("signature: %v", err)
			}
		})
	}
}

// TestSignCertificateRefusesBadSignatures: a signer that fails, or returns
// a signature that does not verify, gives an error and no certificate.
func TestSignCertificateRefusesBadSignatures(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	flipLast := func(sig []byte) []byte { sig[len(sig)-1] ^= 1; return sig }
	for _, tc := range []struct {
		name   string
		key    crypto.Signer
		signer crypto.Signer
		want   string
	}{
		{"RSA bit flipped", rsaKey, faultySigner{rsaKey, flipLast, nil}, "does not verify"},
		{"RSA short", rsaKey, faultySigner{rsaKey, func(s []byte) []byte { return s[1:] }, nil}, "does not verify"},
		{"RSA other key", rsaKey, faultySigner{other, nil, nil}, "does not verify"},
		{"RSA zero", rsaKey, faultySigner{rsaKey, func(s []byte) []byte { return make([]byte, len(s)) }, nil}, "does not verify"},
		{"RSA modulus", rsaKey, faultySigner{rsaKey, func(s []byte) []byte { return rsaKey.N.FillBytes(s) }, nil}, "out of range"},
		{"ECDSA bit flipped", ecKey, faultySigner{ecKey, flipLast, nil}, "does not verify"},
		{"signer fails", rsaKey, faultySigner{rsaKey, nil, errors.New("token removed")}, "token removed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			issuer, sigAlg := testIssuer(t, tc.key)
			tbs, err := encodeTBS(testLeafTemplate(sigAlg), issuer, ecKey.Public(), sigAlg)
			if err != nil {
				t.Fatal(err)
			}
			der, err := signCertificate(rand.Reader, tc.signer, issuer.PublicKey, sigAlg, tbs)
			if err == nil || !strings.Contains(err.Error(), tc.want) || der != nil {
				t.Fatalf("signCertificate = %d bytes, %v; want an error with %q", len(der), err, tc.want)
			}
		})
	}
}

// TestVerifyPKCS1v15 checks the RSA check against crypto/rsa on good
// signatures over both digests and on a signature over another digest.
func TestVerifyPKCS1v15(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384} {
		d := h.New()
		d.Write([]byte("tbs"))
		digest := d.Sum(nil)
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, h, digest)
		if err != nil {
			t.Fatal(err)
		}
		if err := verifyPKCS1v15(&key.PublicKey, h, digest, sig); err != nil {
			t.Errorf("%v: a good signature: %v", h, err)
		}
		digest[0] ^= 1
		if err := verifyPKCS1v15(&key.PublicKey, h, digest, sig); err == nil {
			t.Errorf("%v: a signature over another digest verified", h)
		}
	}
	sum := sha256.Sum256([]byte("tbs"))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyPKCS1v15(&key.PublicKey, crypto.SHA384, sum[:], sig); err == nil {
		t.Error("a SHA-256 digest verified as SHA-384")
	}
}

// TestEncodeTBSSignsNothing: the key is never asked to sign while the
// TBSCertificate is made.
func TestEncodeTBSSignsNothing(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	issuer, sigAlg := testIssuer(t, key)
	capture := &tbsCapture{pub: issuer.PublicKey}
	if _, err := x509.CreateCertificate(rand.Reader, testLeafTemplate(sigAlg), issuer, key.Public(), capture); !errors.Is(err, errCaptured) {
		t.Fatalf("CreateCertificate with the capture: %v, want errCaptured", err)
	}
	if sig, err := capture.Sign(rand.Reader, make([]byte, 32), crypto.SHA256); sig != nil || err == nil {
		t.Fatal("the capture signed a digest")
	}
	if _, err := tbsSignatureAlgorithm(capture.tbs); err != nil {
		t.Fatalf("captured TBSCertificate: %v", err)
	}
}

// faultySigner is a real key whose signatures are changed by mangle, or
// which fails with err.
type faultySigner struct {
	crypto.Signer
	mangle func([]byte) []byte
	err    error
}

func (f faultySigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if f.err != nil {
		return nil, f.err
	}
	sig, err := f.Signer.Sign(r, digest, opts)
	if err == nil && f.mangle != nil {
		sig = f.mangle(sig)
	}
	return sig, err
}

// testIssuer is a self-signed CA certificate of key.
func testIssuer(tb testing.TB, key crypto.Signer) (*x509.Certificate, x509.SignatureAlgorithm) {
	tb.Helper()
	sigAlg, err := signatureAlgorithm(key.Public())
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{Country: []string{"DK"}, CommonName: "Test CA"},
		NotBefore: time.Unix(1.7e9, 0), NotAfter: time.Unix(2e9, 0),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
		SubjectKeyId: []byte{1, 2, 3, 4},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return cert, sigAlg
}

func testLeafTemplate(sigAlg x509.SignatureAlgorithm) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: big.NewInt(0x1234567890), Subject: pkix.Name{Country: []string{"DK"}, CommonName: "Leaf"},
		NotBefore: time.Unix(1.8e9, 0), NotAfter: time.Unix(1.9e9, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
		OCSPServer: []string{"http://pki.example.dk/ocsp"}, SignatureAlgorithm: sigAlg,
	}
}
