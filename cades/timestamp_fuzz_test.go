package cades

import (
	"crypto"
	"errors"
	"testing"
)

// FuzzParseTimeStampToken feeds ParseTimeStampToken, the reader of every
// time-stamp token found in a signature or received from a TSA (RFC 3161
// section 2.4.2, EN 319 122-1 section 5.3), with arbitrary bytes, seeded
// with the tokens of signatures at B-T and above. It may refuse only with
// ErrFormat; for a token it accepts, the TSTInfo's imprint must have a hash
// and a value, and reading the signer's attributes must not panic.
//
//	go test ./cades -run '^$' -fuzz FuzzParseTimeStampToken -fuzztime 60s
func FuzzParseTimeStampToken(f *testing.F) {
	fx := newFixture(f)
	for _, kind := range []string{"rsa", "p256"} {
		lv := levels(f, fx, kind, signB(f, fx, kind, crypto.SHA256, false), crypto.SHA256)
		for _, s := range mustParse(f, lv[LevelBLTA]).Signers {
			for _, tok := range append(append([][]byte(nil), s.SignatureTimeStamps...), s.ArchiveTimeStamps...) {
				f.Add(tok)
			}
		}
	}
	f.Add([]byte{0x30, 0x80, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		sd, info, err := ParseTimeStampToken(der)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("ParseTimeStampToken error %v is not ErrFormat", err)
			}
			return
		}
		if info == nil || len(sd.Signers) != 1 {
			t.Fatalf("accepted a token with TSTInfo %v and %d signers", info, len(sd.Signers))
		}
		exercise(sd)
	})
}
