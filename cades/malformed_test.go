package cades

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// TestParseTruncated: every prefix of a real B-LT signature is refused
// with ErrFormat.
func TestParseTruncated(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	lt := levels(t, f, "p256", signB(t, f, "p256", crypto.SHA256, false), crypto.SHA256)[LevelBLT]
	for n := 0; n < len(lt); n++ {
		if _, err := Parse(lt[:n]); !errors.Is(err, ErrFormat) {
			t.Fatalf("Parse of the first %d of %d bytes: %v", n, len(lt), err)
		}
	}
	if _, err := Parse(append(lt, 0)); !errors.Is(err, ErrFormat) {
		t.Errorf("trailing byte: %v", err)
	}
}

// TestParseBitFlips flips every byte of a B-T signature: Parse either
// refuses it with ErrFormat or gives a structure whose checks return
// errors instead of panicking, and a flip in the signed octets is caught.
func TestParseBitFlips(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	bt := levels(t, f, "rsa", signB(t, f, "rsa", crypto.SHA256, true), crypto.SHA256)[LevelBT]
	orig := mustParse(t, bt).Signers[0]
	signedAt := bytes.Index(bt, orig.RawSignedAttributes[1:])
	for i := range bt {
		m := append([]byte{}, bt...)
		m[i] ^= 0x41
		sd, err := Parse(m)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("flip at %d: error %v is not ErrFormat", i, err)
			}
			continue
		}
		exercise(sd)
		if i > signedAt && i < signedAt+len(orig.RawSignedAttributes)-1 && len(sd.Signers) == 1 {
			if sd.Signers[0].VerifySignature(orig.Certificate) == nil {
				t.Fatalf("flip at %d inside the signed attributes still verifies", i)
			}
		}
	}
}

// exercise calls every reading function on sd.
func exercise(sd *SignedData) {
	_ = sd.Level()
	for _, s := range sd.Signers {
		_ = s.VerifySignature(nil)
		_ = s.CheckSigningCertificate(nil)
		_ = s.CheckMessageDigest(bytes.NewReader(testContent))
		_, _ = s.SignatureTimeStampImprint(crypto.SHA256)
		for i := range s.ArchiveTimeStamps {
			_, _, _ = sd.ArchiveTimeStampImprint(s, i, bytes.NewReader(testContent))
		}
		for _, tok := range s.SignatureTimeStamps {
			_, _, _ = ParseTimeStampToken(tok)
		}
	}
}

// rebuild re-encodes a parsed B-B signature after edit changes its signed
// attributes (given and returned as DER Attributes) or other fields.
func rebuild(t *testing.T, der []byte, edit func(sd *SignedData, attrs [][]byte) [][]byte) []byte {
	t.Helper()
	sd := mustParse(t, der)
	s := sd.Signers[0]
	var attrs [][]byte
	for _, a := range s.SignedAttributes {
		attrs = append(attrs, attributeDER(a.Type, a.RawValues...))
	}
	attrs = edit(sd, attrs)
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
		for _, a := range attrs {
			b.AddBytes(a)
		}
	})
	s.RawSignedAttributes, s.der = b.BytesOrPanic(), nil
	out, err := sd.encode()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func without(attrs [][]byte, oid []int) [][]byte {
	var out [][]byte
	for _, a := range attrs {
		if !bytes.Contains(a[:16], mustOID(oid)) {
			out = append(out, a)
		}
	}
	return out
}

func TestMalformedStructures(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	bb := signB(t, f, "p256", crypto.SHA256, false)
	algID := func(oid []int, params ...byte) []byte {
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
			b.AddBytes(params)
		})
		return b.BytesOrPanic()
	}
	tests := []struct {
		name     string
		der      func() []byte
		parseErr error                   // from Parse
		check    func(*SignedData) error // run when Parse succeeds
		want     error
	}{
		{"not a ContentInfo", func() []byte { return unhex(t, "30 03 02 01 05") }, ErrFormat, nil, nil},
		{"id-data ContentInfo", func() []byte { return unhex(t, "30 0f 06 09 2a 86 48 86 f7 0d 01 07 01 a0 02 04 00") }, ErrFormat, nil, nil},
		{"no message-digest", func() []byte {
			return rebuild(t, bb, func(_ *SignedData, a [][]byte) [][]byte { return without(a, oidMessageDigest) })
		}, ErrFormat, nil, nil},
		{"no content-type", func() []byte {
			return rebuild(t, bb, func(_ *SignedData, a [][]byte) [][]byte { return without(a, oidContentType) })
		}, ErrFormat, nil, nil},
		{"two content-type attributes", func() []byte {
			return rebuild(t, bb, func(_ *SignedData, a [][]byte) [][]byte {
				return append(a, attributeDER(oidContentType, mustOID(oidTSTInfo)))
			})
		}, ErrFormat, nil, nil},
		{"message-digest with two values", func() []byte {
			return rebuild(t, bb, func(_ *SignedData, a [][]byte) [][]byte {
				return append(without(a, oidMessageDigest), attributeDER(oidMessageDigest, unhex(t, "04 01 01"), unhex(t, "04 01 02")))
			})
		}, ErrFormat, nil, nil},
		{"bad signing-time", func() []byte {
			return rebuild(t, bb, func(_ *SignedData, a [][]byte) [][]byte {
				return append(without(a, oidSigningTime), attributeDER(oidSigningTime, unhex(t, "17 03 39 39 39")))
			})
		}, ErrFormat, nil, nil},
		{"bad signing-certificate-v2", func() []byte {
			return rebuild(t, bb, func(_ *SignedData, a [][]byte) [][]byte {
				return append(without(a, oidSigningCertificateV2), attributeDER(oidSigningCertificateV2, unhex(t, "30 03 02 01 05")))
			})
		}, nil, func(sd *SignedData) error { return sd.Signers[0].CheckSigningCertificate(nil) }, ErrSigningCertificate},
		{"no signing-certificate", func() []byte {
			return rebuild(t, bb, func(_ *SignedData, a [][]byte) [][]byte { return without(a, oidSigningCertificateV2) })
		}, nil, func(sd *SignedData) error {
			if sd.Level() != LevelNone {
				return errors.New("level without signing-certificate-v2")
			}
			return sd.Signers[0].CheckSigningCertificate(nil)
		}, ErrSigningCertificate},
		{"signed attribute changed", func() []byte {
			return rebuild(t, bb, func(_ *SignedData, a [][]byte) [][]byte {
				return append(without(a, oidSigningTime), attributeDER(oidSigningTime, encodeTime(f.root.NotBefore)))
			})
		}, nil, func(sd *SignedData) error { return sd.Signers[0].VerifySignature(nil) }, ErrSignatureInvalid},
		{"ed25519 signature algorithm", func() []byte {
			return rebuild(t, bb, func(sd *SignedData, a [][]byte) [][]byte {
				sd.Signers[0].sigAlgDER = algID([]int{1, 3, 101, 112})
				return a
			})
		}, nil, func(sd *SignedData) error { return sd.Signers[0].VerifySignature(nil) }, ErrUnsupported},
		{"md5 digest algorithm", func() []byte {
			return rebuild(t, bb, func(sd *SignedData, a [][]byte) [][]byte {
				sd.Signers[0].digestAlgDER = algID([]int{1, 2, 840, 113549, 2, 5})
				return a
			})
		}, nil, func(sd *SignedData) error { return sd.Signers[0].VerifySignature(nil) }, ErrUnsupported},
		{"hash of signature algorithm differs", func() []byte {
			return rebuild(t, bb, func(sd *SignedData, a [][]byte) [][]byte {
				sd.Signers[0].sigAlgDER = algID(oidECDSAWithSHA384)
				return a
			})
		}, nil, func(sd *SignedData) error { return sd.Signers[0].VerifySignature(nil) }, ErrUnsupported},
		{"pss trailer field 2", func() []byte {
			return rebuild(t, bb, func(sd *SignedData, a [][]byte) [][]byte {
				sd.Signers[0].sigAlgDER = algID(oidRSAPSS, unhex(t, "30 05 a3 03 02 01 02")...)
				return a
			})
		}, nil, func(sd *SignedData) error { return sd.Signers[0].VerifySignature(nil) }, ErrFormat},
		{"pss without parameters", func() []byte {
			return rebuild(t, bb, func(sd *SignedData, a [][]byte) [][]byte {
				sd.Signers[0].sigAlgDER = algID(oidRSAPSS)
				return a
			})
		}, nil, func(sd *SignedData) error { return sd.Signers[0].VerifySignature(nil) }, ErrFormat},
		{"signer certificate missing", func() []byte {
			return rebuild(t, bb, func(sd *SignedData, a [][]byte) [][]byte {
				sd.RawCertificates = sd.RawCertificates[:0]
				return a
			})
		}, nil, func(sd *SignedData) error { return sd.Signers[0].VerifySignature(nil) }, ErrNoCertificate},
		{"content-type differs from eContentType", func() []byte {
			return rebuild(t, bb, func(sd *SignedData, a [][]byte) [][]byte {
				sd.ContentType = oidTSTInfo
				return a
			})
		}, ErrFormat, nil, nil},
		{"bad sid", func() []byte {
			return rebuild(t, bb, func(sd *SignedData, a [][]byte) [][]byte {
				sd.Signers[0].sid = unhex(t, "02 01 05")
				return a
			})
		}, ErrFormat, nil, nil},
		{"unparseable certificate kept raw", func() []byte {
			return rebuild(t, bb, func(sd *SignedData, a [][]byte) [][]byte {
				sd.RawCertificates = append(sd.RawCertificates, unhex(t, "30 03 02 01 05"))
				return a
			})
		}, nil, func(sd *SignedData) error {
			if len(sd.RawCertificates) != 3 || len(sd.Certificates) != 2 {
				return errors.New("unparseable certificate not kept apart")
			}
			return nil
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sd, err := Parse(tt.der())
			if tt.parseErr != nil {
				if !errors.Is(err, tt.parseErr) {
					t.Fatalf("Parse = %v, want %v", err, tt.parseErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			err = tt.check(sd)
			if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("check = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestArchiveTimeStampWithoutIndex: a token without ats-hash-index-v3 is
// ErrHashIndex, not a wrong imprint.
func TestArchiveTimeStampWithoutIndex(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	lta := levels(t, f, "p256", signB(t, f, "p256", crypto.SHA256, false), crypto.SHA256)[LevelBLTA]
	sd := mustParse(t, lta)
	s := sd.Signers[0]
	tok, _, err := ParseTimeStampToken(s.ArchiveTimeStamps[0])
	if err != nil {
		t.Fatal(err)
	}
	tok.Signers[0].unsigned, tok.Signers[0].UnsignedAttributes, tok.Signers[0].der = nil, nil, nil
	bare, err := tok.encode()
	if err != nil {
		t.Fatal(err)
	}
	s.ArchiveTimeStamps[0] = bare
	if _, _, err := sd.ArchiveTimeStampImprint(s, 0, bytes.NewReader(testContent)); !errors.Is(err, ErrHashIndex) {
		t.Errorf("ArchiveTimeStampImprint = %v, want ErrHashIndex", err)
	}
	if _, _, err := sd.ArchiveTimeStampImprint(s, 1, nil); err == nil {
		t.Error("index out of range accepted")
	}
}

// TestAugmentRefusesATSv2: EN 319 122-1 §5.5.3 keeps SignedData.certificates
// and crls as they are once an ATSv2 or earlier is present.
func TestAugmentRefusesATSv2(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sd := mustParse(t, signB(t, f, "p256", crypto.SHA256, false))
	sd.Signers[0].addUnsigned(oidArchiveTimeStampV2, unhex(t, "30 00"))
	der, err := sd.encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AddValidationData(der, ValidationData{CRLs: [][]byte{f.crl(t)}}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("AddValidationData = %v, want ErrUnsupported", err)
	}
	if _, err := AddSignatureTimeStamp(context.Background(), der, f.ts, crypto.SHA256); !errors.Is(err, ErrUnsupported) {
		t.Errorf("AddSignatureTimeStamp = %v, want ErrUnsupported", err)
	}
	if _, err := AddArchiveTimeStamp(context.Background(), der, bytes.NewReader(testContent), f.ts, crypto.SHA256); !errors.Is(err, ErrUnsupported) {
		t.Errorf("AddArchiveTimeStamp = %v, want ErrUnsupported", err)
	}
}
