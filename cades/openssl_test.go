package cades

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// opensslEnv is a directory with the test PKI as PEM files and a runner.
type opensslEnv struct {
	dir string
	bin string
}

func newOpenSSL(t *testing.T, f *fixture) *opensslEnv {
	t.Helper()
	e := &opensslEnv{dir: t.TempDir(), bin: tool(t, "openssl")}
	writePEM(t, filepath.Join(e.dir, "root.pem"), "CERTIFICATE", f.root.Raw)
	writePEM(t, filepath.Join(e.dir, "chain.pem"), "CERTIFICATE", f.root.Raw, f.issuing.Raw)
	writePEM(t, filepath.Join(e.dir, "tsa-chain.pem"), "CERTIFICATE", f.tsaCert.Raw, f.issuing.Raw)
	writePEM(t, filepath.Join(e.dir, "issuing.pem"), "CERTIFICATE", f.issuing.Raw)
	writeFile(t, e.dir, "data", testContent)
	for kind, s := range f.signers {
		writePEM(t, filepath.Join(e.dir, kind+".pem"), "CERTIFICATE", s.cert.Raw)
		key, err := x509.MarshalPKCS8PrivateKey(s.key)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, filepath.Join(e.dir, kind+".key"), "PRIVATE KEY", key)
	}
	return e
}

// run runs openssl in the directory and returns its combined output; a
// non-zero exit fails the test.
func (e *opensslEnv) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := e.try(args...)
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (e *opensslEnv) try(args ...string) (string, error) {
	cmd := exec.Command(e.bin, args...)
	cmd.Dir = e.dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestOpenSSLVerifiesOurLevels: `openssl cms -verify` accepts our B-B,
// B-T, B-LT and B-LTA outputs for every key kind and hash, `openssl cms
// -cmsout -print` shows the attributes of each level, and `openssl ts
// -verify` accepts the signature-time-stamp over the signature value and
// the archive time-stamp over the imprint we recompute.
func TestOpenSSLVerifiesOurLevels(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := newOpenSSL(t, f)
	for _, tc := range signCases {
		t.Run(caseName(tc.kind, tc.pss, tc.hash), func(t *testing.T) {
			t.Parallel()
			lv := levels(t, f, tc.kind, signB(t, f, tc.kind, tc.hash, tc.pss), tc.hash)
			name := strings.NewReplacer("/", "-", ".", "").Replace(caseName(tc.kind, tc.pss, tc.hash))
			for l := LevelBB; l <= LevelBLTA; l++ {
				file := name + "-" + l.String() + ".p7s"
				writeFile(t, e.dir, file, lv[l])
				out := e.run(t, "cms", "-verify", "-binary", "-content", "data", "-inform", "DER", "-in", file,
					"-CAfile", "chain.pem", "-out", os.DevNull)
				if !strings.Contains(out, "Verification successful") {
					t.Errorf("%v: openssl cms -verify: %s", l, out)
				}
				checkPrint(t, l, e.run(t, "cms", "-cmsout", "-print", "-inform", "DER", "-in", file), tc.pss)
			}
			sd := mustParse(t, lv[LevelBLTA])
			s := sd.Signers[0]
			// The signature-time-stamp, against the signature value and its digest.
			writeFile(t, e.dir, name+"-sig.bin", s.Signature)
			writeFile(t, e.dir, name+"-sigtst.der", s.SignatureTimeStamps[0])
			imprint, _ := s.SignatureTimeStampImprint(tc.hash)
			for _, by := range [][]string{{"-data", name + "-sig.bin"}, {"-digest", hex.EncodeToString(imprint)}} {
				out := e.run(t, append([]string{"ts", "-verify", "-token_in", "-in", name + "-sigtst.der", "-CAfile", "root.pem",
					"-untrusted", "tsa-chain.pem"}, by...)...)
				if !strings.Contains(out, "Verification: OK") {
					t.Errorf("openssl ts -verify %s: %s", by[0], out)
				}
			}
			// The archive time-stamp with our hash index added to it still
			// verifies, over the imprint ArchiveTimeStampImprint computes.
			ats, _, err := sd.ArchiveTimeStampImprint(s, 0, bytes.NewReader(testContent))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, e.dir, name+"-ats.der", s.ArchiveTimeStamps[0])
			out := e.run(t, "ts", "-verify", "-token_in", "-in", name+"-ats.der", "-CAfile", "root.pem",
				"-untrusted", "tsa-chain.pem", "-digest", hex.EncodeToString(ats))
			if !strings.Contains(out, "Verification: OK") {
				t.Errorf("openssl ts -verify of the archive time-stamp: %s", out)
			}
			ats[0] ^= 1
			if out, err := e.try("ts", "-verify", "-token_in", "-in", name+"-ats.der", "-CAfile", "root.pem",
				"-untrusted", "tsa-chain.pem", "-digest", hex.EncodeToString(ats)); err == nil {
				t.Errorf("openssl ts -verify accepted a wrong imprint: %s", out)
			}
		})
	}
}

// checkPrint looks in `openssl cms -cmsout -print` for what level l puts in.
func checkPrint(t *testing.T, l Level, out string, pss bool) {
	t.Helper()
	want := []string{"contentType", "messageDigest", "signingTime", "id-smime-aa-signingCertificateV2", "eContent: <ABSENT>"}
	if pss {
		want = append(want, "rsassaPss", "mgf1")
	}
	if l >= LevelBT {
		want = append(want, "id-smime-aa-timeStampToken")
	}
	if l >= LevelBLT {
		want = append(want, "crls:", "1.3.6.1.5.5.7.16.2", "OCES PKI Test Issuing CA 1")
	}
	if l >= LevelBLTA {
		want = append(want, "0.4.0.1733.2.4")
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%v: openssl cms -print lacks %q", l, w)
		}
	}
	if l < LevelBLTA && strings.Contains(out, "0.4.0.1733.2.4") {
		t.Errorf("%v: archive time-stamp present", l)
	}
}

// TestOpenSSLSignedWeRead: what `openssl cms -sign` makes (plain, -cades,
// PSS, attached, streamed BER) we parse and verify, and after we raise it
// to B-T and B-LTA openssl still verifies it.
func TestOpenSSLSignedWeRead(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := newOpenSSL(t, f)
	tests := []struct {
		name     string
		kind     string
		args     []string
		hash     crypto.Hash
		alg      x509.SignatureAlgorithm
		cades    bool
		attached bool
		ber      bool
	}{
		{"rsa", "rsa", nil, crypto.SHA256, x509.SHA256WithRSA, false, false, false},
		{"rsa cades sha384", "rsa", []string{"-cades", "-md", "sha384"}, crypto.SHA384, x509.SHA384WithRSA, true, false, false},
		{"rsa pss cades", "rsa", []string{"-cades", "-keyopt", "rsa_padding_mode:pss"}, crypto.SHA256, x509.SHA256WithRSAPSS, true, false, false},
		{"p256 cades sha512", "p256", []string{"-cades", "-md", "sha512"}, crypto.SHA512, x509.ECDSAWithSHA512, true, false, false},
		{"p384 attached", "p384", []string{"-cades", "-nodetach"}, crypto.SHA256, x509.ECDSAWithSHA256, true, true, false},
		{"p256 streamed BER attached", "p256", []string{"-cades", "-nodetach", "-stream"}, crypto.SHA256, x509.ECDSAWithSHA256, true, true, true},
		{"rsa streamed BER", "rsa", []string{"-stream", "-md", "sha512"}, crypto.SHA512, x509.SHA512WithRSA, false, true, true}, // -stream attaches the content
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := strings.ReplaceAll(tt.name, " ", "-") + ".p7s"
			e.run(t, append([]string{"cms", "-sign", "-binary", "-outform", "DER", "-in", "data", "-signer", tt.kind + ".pem",
				"-inkey", tt.kind + ".key", "-certfile", "issuing.pem", "-out", file}, tt.args...)...)
			raw, err := os.ReadFile(filepath.Join(e.dir, file))
			if err != nil {
				t.Fatal(err)
			}
			if norm, _ := toDER(raw); bytes.Equal(norm, raw) == tt.ber {
				t.Fatalf("openssl output is BER = %v, expected %v", !bytes.Equal(norm, raw), tt.ber)
			}
			sd := mustParse(t, raw)
			checkForeign(t, sd, f.signers[tt.kind].cert, tt.hash, tt.alg, tt.cades, tt.attached)
			// Raise it and let openssl check that its signature survived.
			content := bytes.NewReader(testContent)
			lta := raiseToLTA(t, f, raw, tt.kind, content)
			writeFile(t, e.dir, "lta-"+file, lta)
			args := []string{"cms", "-verify", "-binary", "-inform", "DER", "-in", "lta-" + file, "-CAfile", "chain.pem", "-out", os.DevNull}
			if !tt.attached {
				args = append(args, "-content", "data")
			}
			if out := e.run(t, args...); !strings.Contains(out, "Verification successful") {
				t.Errorf("openssl cms -verify after raising: %s", out)
			}
			up := mustParse(t, lta)
			if !bytes.Equal(up.Signers[0].RawSignedAttributes, sd.Signers[0].RawSignedAttributes) {
				t.Error("signed attributes changed")
			}
			if want := map[bool]Level{true: LevelBLTA, false: LevelNone}[tt.cades]; up.Level() != want {
				t.Errorf("Level after raising = %v, want %v", up.Level(), want)
			}
			if err := up.CheckArchiveTimeStamp(up.Signers[0], 0, bytes.NewReader(testContent)); err != nil {
				t.Errorf("CheckArchiveTimeStamp: %v", err)
			}
		})
	}
}

func checkForeign(t *testing.T, sd *SignedData, cert *x509.Certificate, h crypto.Hash, alg x509.SignatureAlgorithm, cades, attached bool) {
	t.Helper()
	if len(sd.Signers) != 1 {
		t.Fatalf("%d signers", len(sd.Signers))
	}
	s := sd.Signers[0]
	if s.Certificate == nil || !s.Certificate.Equal(cert) {
		t.Fatal("signer certificate not found")
	}
	if s.Hash != h || s.SignatureAlgorithm != alg {
		t.Errorf("algorithms %v %v, want %v %v", s.Hash, s.SignatureAlgorithm, h, alg)
	}
	if err := s.VerifySignature(nil); err != nil {
		t.Errorf("VerifySignature: %v", err)
	}
	if attached != bytes.Equal(sd.Content, testContent) {
		t.Errorf("content attached = %v, want %v", sd.Content != nil, attached)
	}
	if err := s.CheckMessageDigest(bytes.NewReader(testContent)); err != nil {
		t.Errorf("CheckMessageDigest: %v", err)
	}
	err := s.CheckSigningCertificate(nil)
	if cades && err != nil {
		t.Errorf("CheckSigningCertificate: %v", err)
	}
	if !cades && err == nil {
		t.Error("CheckSigningCertificate passed without the attribute")
	}
	want := LevelNone
	if cades {
		want = LevelBB
	}
	if sd.Level() != want {
		t.Errorf("Level = %v, want %v", sd.Level(), want)
	}
}

func raiseToLTA(t *testing.T, f *fixture, cms []byte, kind string, content *bytes.Reader) []byte {
	t.Helper()
	ctx := context.Background()
	bt, err := AddSignatureTimeStamp(ctx, cms, f.ts, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	blt, err := AddValidationData(bt, f.validationData(t, f.signers[kind]))
	if err != nil {
		t.Fatal(err)
	}
	lta, err := AddArchiveTimeStamp(ctx, blt, content, f.ts, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return lta
}

// TestOpenSSLPEMChainFile guards the fixture: openssl must reject our
// signature against an unrelated CA, so the verifications above mean
// something.
func TestOpenSSLRejectsWrongCA(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := newOpenSSL(t, f)
	other := f.signers["p384"].cert // not a CA
	writeFile(t, e.dir, "other.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.Raw}))
	writeFile(t, e.dir, "bb.p7s", signB(t, f, "p256", crypto.SHA256, false))
	if out, err := e.try("cms", "-verify", "-binary", "-content", "data", "-inform", "DER", "-in", "bb.p7s", "-CAfile", "other.pem", "-out", os.DevNull); err == nil {
		t.Errorf("openssl verified against an unrelated CA: %s", out)
	}
	writeFile(t, e.dir, "bad-data", []byte("tampered"))
	if out, err := e.try("cms", "-verify", "-binary", "-content", "bad-data", "-inform", "DER", "-in", "bb.p7s", "-CAfile", "chain.pem", "-out", os.DevNull); err == nil {
		t.Errorf("openssl verified other content: %s", out)
	}
}
