package tsa

import (
	"context"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"testing"
)

// FuzzParseResponse feeds ParseResponse, the client's reader of a
// TimeStampResp from the network (RFC 3161 section 2.4.2), with arbitrary
// bytes, seeded with granted and rejected answers of a real authority. A
// refusal must be ErrMalformed or a *RejectionError; a token it parses must
// survive Verify and SignerCertificate without a panic, and Verify may
// succeed only for a token whose TSTInfo echoes a message imprint.
//
//	go test ./tsa -run '^$' -fuzz FuzzParseResponse -fuzztime 60s
func FuzzParseResponse(f *testing.F) {
	p := newTestPKI(f, "p256")
	a := newTestAuthority(f, p, nil)
	for _, der := range seedRequests(f) {
		f.Add(a.Respond(context.Background(), der))
	}
	digest := sha256.Sum256([]byte("fuzz"))
	f.Add(a.Respond(context.Background(), encodeReq(f, reqFields{digest: digest[:], certReq: true, params: asn1.NullRawValue})))
	f.Add([]byte{0x30, 0x03, 0x30, 0x01, 0x02})
	f.Fuzz(func(t *testing.T, der []byte) {
		tok, err := ParseResponse(der)
		if err != nil {
			var rej *RejectionError
			if !errors.Is(err, ErrMalformed) && !errors.As(err, &rej) {
				t.Fatalf("ParseResponse error %v is neither ErrMalformed nor a rejection", err)
			}
			return
		}
		_, _ = tok.SignerCertificate()
		if err := tok.Verify(p.roots, nil); err == nil && len(tok.HashedMessage) == 0 {
			t.Fatal("a token without a message imprint verified")
		}
	})
}
