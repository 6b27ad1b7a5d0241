package tsa

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
)

func TestNewValidation(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t, "p256")
	other := newTestPKI(t, "p384")
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no signer", func(c *Config) { c.Signer = nil }, "Config.Signer"},
		{"no certificate", func(c *Config) { c.Certificate = nil }, "Config.Certificate is required"},
		{"no serials", func(c *Config) { c.Serials = nil }, "Config.Serials"},
		{"no policies", func(c *Config) { c.Policies = nil }, "Config.Policies"},
		{"bad policy", func(c *Config) { c.Policies = []asn1.ObjectIdentifier{{1}} }, "Config.Policies[0]"},
		{"negative accuracy", func(c *Config) { c.Accuracy = -time.Second }, "Config.Accuracy"},
		{"negative size", func(c *Config) { c.MaxRequestBytes = -1 }, "Config.MaxRequestBytes"},
		{"key mismatch", func(c *Config) { c.Signer = other.tsaKey }, "public key of Config.Signer"},
		{"wrong chain", func(c *Config) { c.Chain = []*x509.Certificate{p.root} }, "Config.Chain[0]"},
		{"unsupported key", func(c *Config) {
			c.Signer = edKey
			c.Certificate = mustCert(t, tsaTemplate(t, true, oidKPTime), nil, edKey.Public(), edKey)
			c.Chain = nil
		}, "unsupported key type"},
		{"eku not critical", func(c *Config) {
			c.Certificate = mustCert(t, tsaTemplate(t, false, oidKPTime), nil, p.tsaKey.Public(), p.tsaKey)
			c.Chain = nil
		}, "must be critical"},
		{"extra eku", func(c *Config) {
			c.Certificate = mustCert(t, tsaTemplate(t, true, oidKPTime, asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 4}),
				nil, p.tsaKey.Public(), p.tsaKey)
			c.Chain = nil
		}, "id-kp-timeStamping only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{
				Signer: p.tsaKey, Certificate: p.tsa, Chain: []*x509.Certificate{p.issuing},
				Policies: []asn1.ObjectIdentifier{testPolicy}, Serials: NewBlockSerials(&memCounter{}, "t", 0),
			}
			tt.edit(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "tsa: ") {
				t.Fatalf("New() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestRespondGranted(t *testing.T) {
	t.Parallel()
	d256 := sha256.Sum256([]byte("data"))
	d384 := sha512.Sum384([]byte("data"))
	d512 := sha512.Sum512([]byte("data"))
	imprints := []struct {
		oid    asn1.ObjectIdentifier
		hash   crypto.Hash
		digest []byte
	}{
		{oidSHA256, crypto.SHA256, d256[:]},
		{oidSHA384, crypto.SHA384, d384[:]},
		{oidSHA512, crypto.SHA512, d512[:]},
	}
	for _, kind := range []string{"p256", "p384", "rsa"} {
		for _, im := range imprints {
			for _, certReq := range []bool{true, false} {
				name := kind + "/" + im.hash.String() + "/certReq=" + map[bool]string{true: "true", false: "false"}[certReq]
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					p := newTestPKI(t, kind)
					a := newTestAuthority(t, p, nil)
					nonce := new(big.Int).Lsh(big.NewInt(0x1234567), 70)
					der := encodeReq(t, reqFields{hashOID: im.oid, digest: im.digest, nonce: nonce, certReq: certReq,
						params: asn1.NullRawValue})
					resp := a.Respond(context.Background(), der)
					tok, err := ParseResponse(resp)
					if err != nil {
						t.Fatalf("ParseResponse: %v", err)
					}
					checkToken(t, p, tok, im.hash, im.digest, nonce, certReq)
					crossCheckDigitorus(t, resp, certReq)
				})
			}
		}
	}
}

// checkToken checks every TSTInfo field and the signed attributes.
func checkToken(t *testing.T, p *testPKI, tok *Token, hash crypto.Hash, digest []byte, nonce *big.Int, certReq bool) {
	t.Helper()
	if !tok.Policy.Equal(testPolicy) {
		t.Errorf("policy = %v, want default %v", tok.Policy, testPolicy)
	}
	if tok.HashAlgorithm != hash || !bytes.Equal(tok.HashedMessage, digest) {
		t.Errorf("imprint = %v %x", tok.HashAlgorithm, tok.HashedMessage)
	}
	if tok.SerialNumber == nil || tok.SerialNumber.Sign() <= 0 {
		t.Errorf("serial = %v, want positive", tok.SerialNumber)
	}
	if want := testNow.Truncate(time.Second); !tok.GenTime.Equal(want) {
		t.Errorf("genTime = %v, want %v", tok.GenTime, want)
	}
	if tok.Accuracy != time.Second || tok.Ordering || tok.Qualified {
		t.Errorf("accuracy, ordering, qualified = %v %v %v", tok.Accuracy, tok.Ordering, tok.Qualified)
	}
	if tok.Nonce == nil || tok.Nonce.Cmp(nonce) != 0 {
		t.Errorf("nonce = %v, want %v", tok.Nonce, nonce)
	}
	if !bytes.Contains(tok.TSAName, p.tsa.RawSubject) {
		t.Errorf("tsa name does not carry the TSA subject")
	}
	if wantCerts := map[bool]int{true: 2, false: 0}[certReq]; len(tok.Certificates) != wantCerts {
		t.Errorf("token has %d certificates, want %d", len(tok.Certificates), wantCerts)
	}
	attrs, err := tok.signedAttributes()
	if err != nil {
		t.Fatal(err)
	}
	for _, oid := range []asn1.ObjectIdentifier{oidContentType, oidMessageDigest, oidSigningTime, oidSigningCertificateV2} {
		if _, ok := attrs[oid.String()]; !ok {
			t.Errorf("signed attribute %v missing", oid)
		}
	}
	var sc signingCertificateV2
	if _, err := asn1.Unmarshal(attrs[oidSigningCertificateV2.String()], &sc); err != nil || len(sc.Certs) != 1 {
		t.Fatalf("signing-certificate-v2: %v", err)
	}
	if id := sc.Certs[0]; len(id.HashAlgorithm.Algorithm) != 0 || len(id.CertHash) != 32 ||
		id.IssuerSerial.SerialNumber.Cmp(p.tsa.SerialNumber) != 0 {
		t.Errorf("ESSCertIDv2 = %+v, want SHA-256 (default) hash and issuerSerial", id)
	}
	if !certReq {
		if err := tok.Verify(p.roots, nil); !errors.Is(err, ErrNoSignerCertificate) {
			t.Errorf("Verify without certificates = %v, want ErrNoSignerCertificate", err)
		}
		tok.Certificates = append(tok.Certificates, p.tsa)
		pool := x509.NewCertPool()
		pool.AddCert(p.issuing)
		if err := tok.Verify(p.roots, pool); err != nil {
			t.Errorf("Verify with TSA certificate added: %v", err)
		}
		return
	}
	if err := tok.Verify(p.roots, nil); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

// crossCheckDigitorus parses the response with digitorus/timestamp, an
// independent implementation, which also checks the signature when the
// token carries certificates.
func crossCheckDigitorus(t *testing.T, resp []byte, certReq bool) {
	t.Helper()
	ts, err := timestamp.ParseResponse(resp)
	if err != nil {
		t.Fatalf("digitorus ParseResponse: %v", err)
	}
	if !ts.Policy.Equal(testPolicy) || ts.Accuracy != time.Second || ts.AddTSACertificate != certReq {
		t.Errorf("digitorus sees policy %v accuracy %v certs %v", ts.Policy, ts.Accuracy, ts.AddTSACertificate)
	}
}

func TestRespondRejections(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t, "p256")
	good := encodeReq(t, reqFields{})
	d := sha256.Sum256([]byte("x"))
	ext := pkix.Extension{Id: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: []byte{5, 0}}
	tests := []struct {
		name string
		der  []byte
		edit func(*Config)
		want FailureInfo
	}{
		{"empty", nil, nil, FailBadDataFormat},
		{"garbage", []byte("GET / HTTP/1.1\r\n\r\n"), nil, FailBadDataFormat},
		{"truncated", good[:len(good)-3], nil, FailBadDataFormat},
		{"trailing data", append(bytes.Clone(good), 0x05, 0x00), nil, FailBadDataFormat},
		{"version 2", encodeReq(t, reqFields{version: 2}), nil, FailBadDataFormat},
		{"SHA-1", encodeReq(t, reqFields{hashOID: asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}, digest: d[:20]}), nil, FailBadAlg},
		{"MD5", encodeReq(t, reqFields{hashOID: asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5}, digest: d[:16]}), nil, FailBadAlg},
		{"SHA3-256", encodeReq(t, reqFields{hashOID: asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 8}}), nil, FailBadAlg},
		{"hash params not NULL", encodeReq(t, reqFields{params: asn1.RawValue{Tag: asn1.TagInteger, Bytes: []byte{1}}}), nil, FailBadAlg},
		{"short digest", encodeReq(t, reqFields{digest: d[:31]}), nil, FailBadDataFormat},
		{"long digest", encodeReq(t, reqFields{digest: append(d[:], 0)}), nil, FailBadDataFormat},
		{"SHA-512 with SHA-256 length", encodeReq(t, reqFields{hashOID: oidSHA512}), nil, FailBadDataFormat},
		{"unknown policy", encodeReq(t, reqFields{policy: asn1.ObjectIdentifier{1, 2, 3}}), nil, FailUnacceptedPolicy},
		{"extension", encodeReq(t, reqFields{extensions: []pkix.Extension{ext}}), nil, FailUnacceptedExtension},
		{"critical extension", encodeReq(t, reqFields{extensions: []pkix.Extension{{Id: ext.Id, Critical: true, Value: ext.Value}}}),
			nil, FailUnacceptedExtension},
		{"serials down", good, func(c *Config) {
			c.Serials = NewBlockSerials(&memCounter{fail: errors.New("disk full")}, "tsa", 4)
		}, FailSystemFailure},
		{"clock down", good, func(c *Config) { c.Clock = func() time.Time { return time.Time{} } }, FailTimeNotAvailable},
		{"signer fails", good, func(c *Config) { c.Signer = failingSigner{c.Signer, false} }, FailSystemFailure},
		{"signer panics", good, func(c *Config) { c.Signer = failingSigner{c.Signer, true} }, FailSystemFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newTestAuthority(t, p, tt.edit)
			resp := a.Respond(context.Background(), tt.der)
			checkRejection(t, resp, tt.want)
		})
	}
}

func checkRejection(t *testing.T, resp []byte, want FailureInfo) {
	t.Helper()
	var r timeStampResp
	if rest, err := asn1.Unmarshal(resp, &r); err != nil || len(rest) != 0 {
		t.Fatalf("response is not a TimeStampResp: %v", err)
	}
	if r.Status.Status != int(StatusRejection) || len(r.TimeStampToken.FullBytes) != 0 {
		t.Fatalf("status = %d with token %v, want rejection without token", r.Status.Status, len(r.TimeStampToken.FullBytes) != 0)
	}
	if r.Status.FailInfo.BitLength != int(want)+1 || r.Status.FailInfo.At(int(want)) != 1 {
		t.Errorf("failInfo = %+v, want only bit %d (%v), DER-minimal", r.Status.FailInfo, want, want)
	}
	_, err := ParseResponse(resp)
	var rej *RejectionError
	if !errors.As(err, &rej) || rej.FailInfo != want || rej.Text == "" {
		t.Errorf("ParseResponse error = %v, want RejectionError %v with text", err, want)
	}
}

// failingSigner is a crypto.Signer whose Sign fails or panics.
type failingSigner struct {
	crypto.Signer
	panics bool
}

func (f failingSigner) Sign(_ io.Reader, _ []byte, _ crypto.SignerOpts) ([]byte, error) {
	if f.panics {
		panic("hsm gone")
	}
	return nil, errors.New("hsm gone")
}

func TestSystemFailureFallback(t *testing.T) {
	t.Parallel()
	var r timeStampResp
	if _, err := asn1.Unmarshal(systemFailureResponse, &r); err != nil {
		t.Fatal(err)
	}
	if r.Status.Status != 2 || failureFromBits(r.Status.FailInfo) != FailSystemFailure ||
		r.Status.FailInfo.BitLength != int(FailSystemFailure)+1 {
		t.Fatalf("fallback = %+v", r.Status)
	}
}

func TestRequestedPolicyAndQualified(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t, "p256")
	a := newTestAuthority(t, p, func(c *Config) { c.Qualified = true })
	resp := a.Respond(context.Background(), encodeReq(t, reqFields{policy: testPolicy2, certReq: true}))
	tok, err := ParseResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	if !tok.Policy.Equal(testPolicy2) || !tok.Qualified || tok.Nonce != nil {
		t.Fatalf("policy %v qualified %v nonce %v", tok.Policy, tok.Qualified, tok.Nonce)
	}
	if err := tok.Verify(p.roots, nil); err != nil {
		t.Fatal(err)
	}
	ts, err := timestamp.ParseResponse(resp)
	if err != nil || !ts.Qualified {
		t.Fatalf("digitorus: %v qualified=%v", err, ts != nil && ts.Qualified)
	}
}

func TestSubSecondAccuracy(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t, "p256")
	tests := []struct {
		accuracy time.Duration
		genTime  time.Time
	}{
		{1500 * time.Millisecond, testNow.Truncate(time.Second)},
		{250 * time.Millisecond, testNow.Truncate(time.Millisecond)},
		{100 * time.Microsecond, testNow.Truncate(time.Microsecond)},
		{1500 * time.Nanosecond, testNow.Truncate(time.Microsecond)},
	}
	for _, tt := range tests {
		t.Run(tt.accuracy.String(), func(t *testing.T) {
			t.Parallel()
			a := newTestAuthority(t, p, func(c *Config) { c.Accuracy = tt.accuracy })
			tok, err := ParseResponse(a.Respond(context.Background(), encodeReq(t, reqFields{certReq: true})))
			if err != nil {
				t.Fatal(err)
			}
			wantAcc := (tt.accuracy + time.Microsecond - 1).Truncate(time.Microsecond)
			if !tok.GenTime.Equal(tt.genTime) || tok.Accuracy != wantAcc {
				t.Errorf("genTime %v accuracy %v, want %v %v", tok.GenTime, tok.Accuracy, tt.genTime, wantAcc)
			}
			if err := tok.Verify(p.roots, nil); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestGeneralizedTimeDER(t *testing.T) {
	t.Parallel()
	tm := time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.UTC)
	tests := []struct {
		digits int
		want   string
	}{
		{0, "20260102030405Z"},
		{3, "20260102030405.12Z"},
		{6, "20260102030405.12Z"},
	}
	for _, tt := range tests {
		got := formatGeneralizedTime(tm, tt.digits)
		if string(got[2:]) != tt.want {
			t.Errorf("digits %d: %s, want %s", tt.digits, got[2:], tt.want)
		}
	}
	for _, bad := range []string{"20260102030405.10Z", "20260102030405.Z", "20260102030405", "2026010203040Z", "20260102030405+0100"} {
		if _, err := parseGeneralizedTime(asn1.RawValue{Tag: asn1.TagGeneralizedTime, Bytes: []byte(bad)}); err == nil {
			t.Errorf("parseGeneralizedTime(%q) accepted", bad)
		}
	}
}
