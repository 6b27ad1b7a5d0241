package validate_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/oces-pki/oces/cades"
	"github.com/oces-pki/oces/internal/catest"
	"github.com/oces-pki/oces/validate"
)

// leafOf issues a signing certificate for key under issuing, with no
// status source (so that no network is involved).
func leafOf(t *testing.T, key crypto.Signer, issuing *x509.Certificate, issuingKey crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{Country: []string{"DK"}, Organization: []string{"Firma A/S"}, CommonName: "Firma A/S", SerialNumber: "CVR:12345678-UID:1"},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuing, key.Public(), issuingKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCryptoAndValidity covers the subindications of the cryptographic
// constraints, the signature value and the signing certificate's validity.
func TestCryptoAndValidity(t *testing.T) {
	rootKey, issuingKey := catest.Key(t, "p-256"), catest.Key(t, "p-384")
	root, issuing := catest.Hierarchy(t, rootKey, issuingKey, "http://127.0.0.1:1")
	// The issuing CA is an anchor too: its CRL URL leads nowhere here.
	v, err := validate.New(validate.Config{TrustAnchors: []*x509.Certificate{root, issuing}})
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("Aftale nr. 7")
	sign := func(t *testing.T, key crypto.Signer, cert *x509.Certificate, opts cades.SignOptions) []byte {
		opts.Certificates = []*x509.Certificate{cert, issuing}
		p7s, err := cades.Sign(context.Background(), key, bytes.NewReader(content), opts)
		if err != nil {
			t.Fatal(err)
		}
		return p7s
	}
	good := catest.Key(t, "rsa-2048")
	goodCert := leafOf(t, good, issuing, issuingKey)
	weak := catest.Key(t, "rsa-1024")
	weakCert := leafOf(t, weak, issuing, issuingKey)
	valid := sign(t, good, goodCert, cades.SignOptions{SigningTime: time.Now()})
	badSig := bytes.Clone(valid)
	sd, err := cades.Parse(valid)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(badSig, sd.Signers[0].Signature)
	badSig[i+10] ^= 0xff

	for _, c := range []struct {
		name string
		cms  []byte
		ind  validate.Indication
		sub  validate.SubIndication
	}{
		{"valid", valid, validate.TotalPassed, ""},
		{"signature value changed", badSig, validate.TotalFailed, validate.SigCryptoFailed},
		{"RSA-1024 key", sign(t, weak, weakCert, cades.SignOptions{}), validate.Indeterminate, validate.CryptoConstraintsFailure},
		{"claimed before notBefore", sign(t, good, goodCert, cades.SignOptions{SigningTime: goodCert.NotBefore.Add(-24 * time.Hour)}), validate.TotalFailed, validate.NotYetValid},
		{"claimed after notAfter", sign(t, good, goodCert, cades.SignOptions{SigningTime: goodCert.NotAfter.Add(24 * time.Hour)}), validate.TotalFailed, validate.Expired},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := v.ValidateCMS(context.Background(), c.cms, content)
			if err != nil {
				t.Fatal(err)
			}
			expect(t, r, "signature", c.ind, c.sub)
		})
	}
}
