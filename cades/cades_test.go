package cades

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

func TestParseLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Level
		err  bool
	}{
		{"B-B", LevelBB, false}, {"b-t", LevelBT, false}, {"B-LT", LevelBLT, false}, {"b-lta", LevelBLTA, false},
		{" CAdES-BASELINE-LTA ", LevelBLTA, false}, {"lt", LevelBLT, false}, {"B_LTA", LevelBLTA, false},
		{"", 0, true}, {"B-X", 0, true}, {"B-BB", 0, true}, {"A", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseLevel(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.err)
		}
		if err != nil && !bytes.Contains([]byte(err.Error()), []byte("B-B, B-T, B-LT, B-LTA")) {
			t.Errorf("ParseLevel(%q) error %q does not name the accepted values", tt.in, err)
		}
		if err == nil {
			if back, _ := ParseLevel(got.String()); back != got {
				t.Errorf("String/ParseLevel round trip of %v gave %v", got, back)
			}
		}
	}
	if LevelNone.String() != "none" || Level(9).String() != "Level(9)" {
		t.Errorf("String of out-of-range levels: %q %q", LevelNone, Level(9))
	}
}

var signCases = []struct {
	kind string
	pss  bool
	hash crypto.Hash
	alg  x509.SignatureAlgorithm
}{
	{"rsa", false, crypto.SHA256, x509.SHA256WithRSA},
	{"rsa", false, crypto.SHA384, x509.SHA384WithRSA},
	{"rsa", false, crypto.SHA512, x509.SHA512WithRSA},
	{"rsa", true, crypto.SHA256, x509.SHA256WithRSAPSS},
	{"rsa", true, crypto.SHA384, x509.SHA384WithRSAPSS},
	{"rsa", true, crypto.SHA512, x509.SHA512WithRSAPSS},
	{"p256", false, crypto.SHA256, x509.ECDSAWithSHA256},
	{"p256", false, crypto.SHA384, x509.ECDSAWithSHA384},
	{"p384", false, crypto.SHA384, x509.ECDSAWithSHA384},
	{"p384", false, crypto.SHA512, x509.ECDSAWithSHA512},
}

func caseName(kind string, pss bool, h crypto.Hash) string {
	if pss {
		kind += "-pss"
	}
	return fmt.Sprintf("%s/%v", kind, h)
}

func TestSignDigestRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tc := range signCases {
		t.Run(caseName(tc.kind, tc.pss, tc.hash), func(t *testing.T) {
			t.Parallel()
			before := time.Now().Truncate(time.Second)
			der := signB(t, f, tc.kind, tc.hash, tc.pss)
			if norm, err := toDER(der); err != nil || !bytes.Equal(norm, der) {
				t.Fatalf("output is not DER: %v", err)
			}
			sd := mustParse(t, der)
			if !sd.ContentType.Equal(oidData) || sd.Content != nil || len(sd.Signers) != 1 || len(sd.Certificates) != 2 {
				t.Fatalf("structure: content type %v, content %v, %d signers, %d certificates", sd.ContentType, sd.Content != nil, len(sd.Signers), len(sd.Certificates))
			}
			s := sd.Signers[0]
			if s.Hash != tc.hash || s.SignatureAlgorithm != tc.alg {
				t.Errorf("algorithms %v %v, want %v %v", s.Hash, s.SignatureAlgorithm, tc.hash, tc.alg)
			}
			if s.Certificate == nil || !s.Certificate.Equal(f.signers[tc.kind].cert) {
				t.Fatal("signer certificate not found by sid")
			}
			if err := s.VerifySignature(nil); err != nil {
				t.Errorf("VerifySignature: %v", err)
			}
			if err := s.CheckMessageDigest(bytes.NewReader(testContent)); err != nil {
				t.Errorf("CheckMessageDigest: %v", err)
			}
			if err := s.CheckMessageDigest(bytes.NewReader([]byte("other"))); !errors.Is(err, ErrDigestMismatch) {
				t.Errorf("CheckMessageDigest(other content) = %v, want ErrDigestMismatch", err)
			}
			if err := s.CheckSigningCertificate(nil); err != nil {
				t.Errorf("CheckSigningCertificate: %v", err)
			}
			if err := s.CheckSigningCertificate(f.issuing); !errors.Is(err, ErrSigningCertificate) {
				t.Errorf("CheckSigningCertificate(other cert) = %v, want ErrSigningCertificate", err)
			}
			if err := s.VerifySignature(f.signers["p384"].cert); tc.kind != "p384" && err == nil {
				t.Error("VerifySignature with another key succeeded")
			}
			if len(s.SigningCertificateV2) != 1 || s.SigningCertificateV2[0].Hash != tc.hash || s.SigningCertificateV2[0].IssuerSerial == nil {
				t.Errorf("signing-certificate-v2: %+v", s.SigningCertificateV2)
			}
			if s.SigningTime.Before(before) || s.SigningTime.After(time.Now()) {
				t.Errorf("signing time %v", s.SigningTime)
			}
			if got := sd.Level(); got != LevelBB {
				t.Errorf("Level = %v, want B-B", got)
			}
		})
	}
}

// TestSignedAttributesEncoding pins the fields RFC 5035 and EN 319 122-1
// fix: the ESSCertIDv2 hashAlgorithm is omitted for SHA-256 only, no
// signing-time without SigningTime, content type as asked.
func TestSignedAttributesEncoding(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.signers["p256"]
	ctx := context.Background()
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384} {
		der, err := SignDigest(ctx, s.key, hashOf(h, testContent), SignOptions{Hash: h, Certificates: []*x509.Certificate{s.cert}, ContentType: oidTSTInfo})
		if err != nil {
			t.Fatal(err)
		}
		sd := mustParse(t, der)
		si := sd.Signers[0]
		if !si.SigningTime.IsZero() {
			t.Error("signing-time present without SigningTime")
		}
		if !sd.ContentType.Equal(oidTSTInfo) || !si.ContentType.Equal(oidTSTInfo) || sd.version != 3 {
			t.Errorf("content type %v / %v, version %d", sd.ContentType, si.ContentType, sd.version)
		}
		val, _ := singleValue(si.SignedAttributes, oidSigningCertificateV2)
		// SEQUENCE { SEQUENCE OF { ESSCertIDv2 { [AlgorithmIdentifier] OCTET STRING ...
		in := cryptobyte.String(val)
		var scv2, certs, id cryptobyte.String
		if !in.ReadASN1(&scv2, cbasn1.SEQUENCE) || !scv2.ReadASN1(&certs, cbasn1.SEQUENCE) || !certs.ReadASN1(&id, cbasn1.SEQUENCE) {
			t.Fatal("bad SigningCertificateV2")
		}
		hasAlg := id.PeekASN1Tag(cbasn1.SEQUENCE)
		if hasAlg != (h != crypto.SHA256) {
			t.Errorf("%v: ESSCertIDv2 hashAlgorithm present = %v", h, hasAlg)
		}
	}
}

func TestSignDigestErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.signers["rsa"]
	ec := f.signers["p256"]
	d := sha256Of(testContent)
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name   string
		ctx    context.Context
		key    crypto.Signer
		digest []byte
		opts   SignOptions
		want   error
	}{
		{"no certificates", ctx, s.key, d, SignOptions{}, nil},
		{"short digest", ctx, s.key, d[:31], SignOptions{Certificates: []*x509.Certificate{s.cert}}, nil},
		{"sha1", ctx, s.key, d[:20], SignOptions{Hash: crypto.SHA1, Certificates: []*x509.Certificate{s.cert}}, ErrUnsupported},
		{"pss with ecdsa", ctx, ec.key, d, SignOptions{PSS: true, Certificates: []*x509.Certificate{ec.cert}}, ErrUnsupported},
		{"key does not match certificate", ctx, ec.key, d, SignOptions{Certificates: []*x509.Certificate{f.signers["p384"].cert}}, ErrSignatureInvalid},
		{"rsa key, ecdsa certificate", ctx, s.key, d, SignOptions{Certificates: []*x509.Certificate{ec.cert}}, nil},
		{"canceled", canceled, s.key, d, SignOptions{Certificates: []*x509.Certificate{s.cert}}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := SignDigest(tt.ctx, tt.key, tt.digest, tt.opts)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("SignDigest = %v, want error %v", err, tt.want)
			}
		})
	}
}

// TestLevelsAndArchiveRenewal goes B-B → B-T → B-LT → B-LTA → renewal and
// checks what each step adds and that nothing signed moves.
func TestLevelsAndArchiveRenewal(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for _, tc := range []struct {
		kind string
		pss  bool
		hash crypto.Hash
	}{{"rsa", true, crypto.SHA256}, {"p384", false, crypto.SHA384}, {"p256", false, crypto.SHA512}} {
		t.Run(caseName(tc.kind, tc.pss, tc.hash), func(t *testing.T) {
			t.Parallel()
			lv := levels(t, f, tc.kind, signB(t, f, tc.kind, tc.hash, tc.pss), tc.hash)
			base := mustParse(t, lv[LevelBB]).Signers[0]
			for l := LevelBB; l <= LevelBLTA; l++ {
				sd := mustParse(t, lv[l])
				if got := sd.Level(); got != l {
					t.Errorf("Level of the %v output = %v", l, got)
				}
				s := sd.Signers[0]
				if !bytes.Equal(s.RawSignedAttributes, base.RawSignedAttributes) || !bytes.Equal(s.Signature, base.Signature) {
					t.Errorf("%v: signed attributes or signature changed", l)
				}
				if err := s.VerifySignature(nil); err != nil {
					t.Errorf("%v: VerifySignature: %v", l, err)
				}
			}
			// B-T: the token is over the signature value.
			bt := mustParse(t, lv[LevelBT]).Signers[0]
			_, info, err := ParseTimeStampToken(bt.SignatureTimeStamps[0])
			if err != nil {
				t.Fatal(err)
			}
			want, _ := bt.SignatureTimeStampImprint(tc.hash)
			if info.Hash != tc.hash || !bytes.Equal(info.HashedMessage, want) {
				t.Error("signature time-stamp imprint is not the hash of the signature value")
			}
			// B-LT: SignerInfo byte for byte as in B-T; data deduplicated.
			blt := mustParse(t, lv[LevelBLT])
			if !bytes.Equal(blt.Signers[0].der, bt.der) || len(blt.OCSPResponses) != 2 || len(blt.CRLs) != 1 || len(blt.Certificates) != 4 || blt.version != 5 {
				t.Errorf("B-LT: signer unchanged %v, %d OCSP, %d CRLs, %d certificates, version %d",
					bytes.Equal(blt.Signers[0].der, bt.der), len(blt.OCSPResponses), len(blt.CRLs), len(blt.Certificates), blt.version)
			}
			again, err := AddValidationData(lv[LevelBLT], f.validationData(t, f.signers[tc.kind]))
			if err != nil {
				t.Fatal(err)
			}
			if sd := mustParse(t, again); len(sd.OCSPResponses) != 4 || len(sd.Certificates) != 4 || len(sd.CRLs) != 2 {
				t.Errorf("second AddValidationData: %d OCSP (new ones), %d certificates (no duplicates), %d CRLs", len(sd.OCSPResponses), len(sd.Certificates), len(sd.CRLs))
			}
			// B-LTA, then validation data for the archive TSA, then renewal.
			ltaSD := mustParse(t, lv[LevelBLTA])
			if err := ltaSD.CheckArchiveTimeStamp(ltaSD.Signers[0], 0, bytes.NewReader(testContent)); err != nil {
				t.Fatalf("CheckArchiveTimeStamp: %v", err)
			}
			withVD, err := AddValidationData(lv[LevelBLTA], ValidationData{OCSPResponses: [][]byte{f.ocspResponse(t, f.tsaCert)}, CRLs: [][]byte{f.crl(t)}})
			if err != nil {
				t.Fatal(err)
			}
			renewed, err := AddArchiveTimeStamp(ctx, withVD, bytes.NewReader(testContent), f.ts, crypto.SHA512)
			if err != nil {
				t.Fatal(err)
			}
			sd := mustParse(t, renewed)
			s := sd.Signers[0]
			if len(s.ArchiveTimeStamps) != 2 {
				t.Fatalf("%d archive time-stamps after renewal", len(s.ArchiveTimeStamps))
			}
			if !bytes.Equal(s.ArchiveTimeStamps[0], ltaSD.Signers[0].ArchiveTimeStamps[0]) {
				t.Error("ArchiveTimeStamps[0] is not the first time-stamp")
			}
			for i := range s.ArchiveTimeStamps {
				if err := sd.CheckArchiveTimeStamp(s, i, bytes.NewReader(testContent)); err != nil {
					t.Errorf("CheckArchiveTimeStamp(%d) after renewal: %v", i, err)
				}
				if err := sd.CheckArchiveTimeStamp(s, i, bytes.NewReader([]byte("not the content"))); !errors.Is(err, ErrDigestMismatch) {
					t.Errorf("CheckArchiveTimeStamp(%d, wrong content) = %v, want ErrDigestMismatch", i, err)
				}
			}
			// The renewal's index covers the first token.
			tok, _, _ := ParseTimeStampToken(s.ArchiveTimeStamps[1])
			idx, _ := singleValue(tok.Signers[0].UnsignedAttributes, oidATSHashIndexV3)
			x, err := parseHashIndex(idx)
			if err != nil {
				t.Fatal(err)
			}
			first := hashOf(crypto.SHA512, append(mustOID(oidArchiveTimeStampV3), s.ArchiveTimeStamps[0]...))
			if x.hash != crypto.SHA512 || !containsBytes(x.attrs, first) || len(x.crls) != 5 {
				t.Errorf("renewal index: hash %v, covers first ATS %v, %d crls", x.hash, containsBytes(x.attrs, first), len(x.crls))
			}
			if !containsDigestAlg(sd, crypto.SHA512) {
				t.Error("SHA-512 not added to digestAlgorithms")
			}
		})
	}
}

func mustOID(oid []int) []byte {
	b := attributeDER(oid, []byte{5, 0})
	// attributeDER gives SEQUENCE { OID, SET {...} }: take the OID.
	return b[2 : 2+2+int(b[3])]
}

func containsBytes(list [][]byte, b []byte) bool {
	for _, l := range list {
		if bytes.Equal(l, b) {
			return true
		}
	}
	return false
}

func containsDigestAlg(sd *SignedData, h crypto.Hash) bool {
	for _, d := range sd.digestAlgs {
		if a, err := parseAlgorithmIdentifier(d); err == nil && hashFromOID(a.oid) == h {
			return true
		}
	}
	return false
}

// TestArchiveTimeStampTampering changes what an ATSv3 covers and checks
// that ArchiveTimeStampImprint notices.
func TestArchiveTimeStampTampering(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	lv := levels(t, f, "p256", signB(t, f, "p256", crypto.SHA256, false), crypto.SHA256)
	tamper := func(edit func(sd *SignedData)) *SignedData {
		sd := mustParse(t, lv[LevelBLTA])
		edit(sd)
		out, err := sd.encode()
		if err != nil {
			t.Fatal(err)
		}
		return mustParse(t, out)
	}
	tests := []struct {
		name string
		edit func(sd *SignedData)
		want error
	}{
		{"untouched", func(*SignedData) {}, nil},
		{"crl removed", func(sd *SignedData) { sd.crls = sd.crls[1:] }, ErrHashIndex},
		{"certificate removed", func(sd *SignedData) { sd.RawCertificates = sd.RawCertificates[1:] }, ErrHashIndex},
		{"signature time-stamp removed", func(sd *SignedData) {
			s := sd.Signers[0]
			var keep [][]byte
			for i, a := range s.UnsignedAttributes {
				if !a.Type.Equal(oidSignatureTimeStamp) {
					keep = append(keep, s.unsigned[i])
				}
			}
			s.unsigned, s.der = keep, nil
		}, ErrHashIndex},
		{"certificate added later (allowed, §5.5.2)", func(sd *SignedData) {
			sd.RawCertificates = append(sd.RawCertificates, f.signers["p384"].cert.Raw)
		}, nil},
		{"signature changed", func(sd *SignedData) {
			s := sd.Signers[0]
			s.Signature = append([]byte{}, s.Signature...)
			s.Signature[len(s.Signature)-1] ^= 1
			s.der = nil
		}, ErrDigestMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sd := tamper(tt.edit)
			err := sd.CheckArchiveTimeStamp(sd.Signers[0], 0, bytes.NewReader(testContent))
			if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("CheckArchiveTimeStamp = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestAddArchiveTimeStampErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	bb := signB(t, f, "p256", crypto.SHA256, false)
	if _, err := AddArchiveTimeStamp(ctx, bb, nil, f.ts, crypto.SHA256); err == nil {
		t.Error("detached signature without content accepted")
	}
	if _, err := AddArchiveTimeStamp(ctx, bb, bytes.NewReader([]byte("other")), f.ts, crypto.SHA256); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("wrong content: %v, want ErrDigestMismatch", err)
	}
	if _, err := AddSignatureTimeStamp(ctx, bb, f.ts, crypto.MD5); !errors.Is(err, ErrUnsupported) {
		t.Errorf("MD5 imprint: %v, want ErrUnsupported", err)
	}
	if _, err := AddSignatureTimeStamp(ctx, bb, wrongImprint{f.ts}, crypto.SHA256); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("token over another imprint: %v, want ErrDigestMismatch", err)
	}
	if _, err := AddSignatureTimeStamp(ctx, bb, nil, crypto.SHA256); err == nil {
		t.Error("nil Timestamper accepted")
	}
}

// wrongImprint asks the real TSA for a token over another digest, as a
// confused or hostile TSA might return.
type wrongImprint struct{ ts Timestamper }

func (w wrongImprint) Timestamp(ctx context.Context, digest []byte, h crypto.Hash) ([]byte, error) {
	other := append([]byte{}, digest...)
	other[0] ^= 0xff
	return w.ts.Timestamp(ctx, other, h)
}

// TestArchiveRenewalSameGenTime: with a TSA whose clock stands still (or
// one-second genTime on a fast renewal) the renewal still sorts second,
// because its index covers the first token.
func TestArchiveRenewalSameGenTime(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	now := time.Now().Add(-time.Minute).Truncate(time.Second)
	frozen := f.newTSA(t, func() time.Time { return now })
	ctx := context.Background()
	lt := levels(t, f, "p256", signB(t, f, "p256", crypto.SHA256, false), crypto.SHA256)[LevelBLT]
	out := lt
	var firsts [][]byte
	for range 3 {
		var err error
		if out, err = AddArchiveTimeStamp(ctx, out, bytes.NewReader(testContent), frozen, crypto.SHA256); err != nil {
			t.Fatal(err)
		}
		s := mustParse(t, out).Signers[0]
		firsts = append(firsts, s.ArchiveTimeStamps[len(s.ArchiveTimeStamps)-1])
	}
	sd := mustParse(t, out)
	s := sd.Signers[0]
	// DER sorting tends to put the shorter, older tokens first anyway: read
	// the attributes in reverse order to see the ordering at work.
	slices.Reverse(s.UnsignedAttributes)
	s.ArchiveTimeStamps, s.SignatureTimeStamps = nil, nil
	s.interpretUnsigned()
	for i := range firsts {
		if !bytes.Equal(s.ArchiveTimeStamps[i], firsts[i]) {
			t.Errorf("ArchiveTimeStamps[%d] is not time-stamp number %d", i, i+1)
		}
		if err := sd.CheckArchiveTimeStamp(s, i, bytes.NewReader(testContent)); err != nil {
			t.Errorf("CheckArchiveTimeStamp(%d): %v", i, err)
		}
	}
}
