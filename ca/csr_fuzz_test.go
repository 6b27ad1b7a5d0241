package ca_test

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"

	"github.com/oces-pki/oces/ca"
)

// FuzzParseCSR feeds ParseCSR, the parser of every PKCS#10 request (RFC
// 2986) the API receives, with arbitrary bytes, seeded with requests for
// each key the policy accepts and refuses, in DER and PEM. It may refuse
// only with ErrInvalidRequest; a request it accepts must have a key the
// policy allows and a signature that verifies, and its DER must parse to
// the same request again.
//
//	go test ./ca -run '^$' -fuzz FuzzParseCSR -fuzztime 60s
func FuzzParseCSR(f *testing.F) {
	for _, name := range []string{"p-256", "p-384", "rsa-2048", "p-224", "rsa-1024"} {
		der := csr(f, testKey(f, name))
		f.Add(der)
		f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
		f.Add(pem.EncodeToMemory(&pem.Block{Type: "NEW CERTIFICATE REQUEST", Bytes: der[:len(der)/2]}))
	}
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x80, 0x30, 0x80, 0x00, 0x00})
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := ca.ParseCSR(data)
		if err != nil {
			if !errors.Is(err, ca.ErrInvalidRequest) {
				t.Fatalf("ParseCSR error %v does not wrap ErrInvalidRequest", err)
			}
			if req != nil {
				t.Fatal("ParseCSR returned a request with its error")
			}
			return
		}
		if err := ca.CheckPublicKey(req.PublicKey); err != nil {
			t.Fatalf("accepted a request whose key the policy refuses: %v", err)
		}
		if err := req.CheckSignature(); err != nil {
			t.Fatalf("accepted a request whose signature does not verify: %v", err)
		}
		again, err := x509.ParseCertificateRequest(req.Raw)
		if err != nil || !bytes.Equal(again.RawTBSCertificateRequest, req.RawTBSCertificateRequest) {
			t.Fatalf("the accepted request's DER does not parse to itself: %v", err)
		}
	})
}
