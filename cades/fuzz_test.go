package cades

import (
	"bytes"
	"crypto"
	"errors"
	"testing"
)

// FuzzParse feeds Parse, every reading function and a re-encoding with
// arbitrary input, seeded with real outputs at each level (RSA-PSS and
// ECDSA) and BER forms. Parse may only fail with ErrFormat; what it accepts
// must survive AddValidationData with its signed octets intact.
func FuzzParse(f *testing.F) {
	fx := newFixture(f)
	for _, kind := range []string{"rsa", "p256"} {
		for _, der := range levels(f, fx, kind, signB(f, fx, kind, crypto.SHA256, kind == "rsa"), crypto.SHA256) {
			f.Add(der)
		}
	}
	f.Add(unhex(f, "30 80 06 09 2a 86 48 86 f7 0d 01 07 02 a0 80 30 80 02 01 01 31 00 30 80 06 09 2a 86 48 86 f7 0d 01 07 01 00 00 31 00 00 00 00 00 00 00"))
	f.Add(unhex(f, "24 80 04 02 aa bb 04 01 cc 00 00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sd, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("Parse error %v is not ErrFormat", err)
			}
			return
		}
		exercise(sd)
		out, err := AddValidationData(data, ValidationData{})
		if err != nil {
			if !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrFormat) {
				t.Fatalf("AddValidationData: %v", err)
			}
			return
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse of our own re-encoding: %v", err)
		}
		if len(back.Signers) != len(sd.Signers) {
			t.Fatalf("%d signers became %d", len(sd.Signers), len(back.Signers))
		}
		for _, s := range sd.Signers {
			found := false
			for _, b := range back.Signers {
				found = found || (bytes.Equal(s.RawSignedAttributes, b.RawSignedAttributes) && bytes.Equal(s.Signature, b.Signature))
			}
			if !found {
				t.Fatal("signed attributes or signature changed in re-encoding")
			}
		}
	})
}
