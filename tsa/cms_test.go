package tsa

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"io"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/digitorus/pkcs7"
)

// TestTokenEncodingUnchanged checks the direct encoder of cms.go against
// the encoding the Authority produced before it: TSTInfo through
// encoding/asn1, SignedData through digitorus/pkcs7, TimeStampResp through
// encoding/asn1. Both are given the same signature (memoSigner signs each
// digest once with the real key), so the responses must be equal byte for
// byte.
func TestTokenEncodingUnchanged(t *testing.T) {
	t.Parallel()
	d512 := sha512.Sum512([]byte("x"))
	y2051 := time.Date(2051, 3, 4, 5, 6, 7, 890123456, time.UTC)
	tests := []struct {
		name string
		kind string
		edit func(*Config)
		req  reqFields
		now  time.Time
	}{
		{"rsa certReq nonce", "rsa", nil, reqFields{nonce: big.NewInt(0x5eed), certReq: true}, testNow},
		{"rsa no certs no nonce", "rsa", nil, reqFields{}, testNow},
		{"p256 certReq", "p256", nil, reqFields{nonce: big.NewInt(1), certReq: true}, testNow},
		{"p384 sha512 imprint", "p384", nil, reqFields{hashOID: oidSHA512, digest: d512[:], certReq: true}, testNow},
		{"zero nonce", "p256", nil, reqFields{nonce: big.NewInt(0)}, testNow},
		{"negative nonce", "p256", nil, reqFields{nonce: big.NewInt(-129)}, testNow},
		{"nonce high bit", "p256", nil, reqFields{nonce: new(big.Int).Lsh(big.NewInt(0xff), 8*20)}, testNow},
		{"long nonce", "p256", nil, reqFields{nonce: new(big.Int).Lsh(big.NewInt(1), 8*40)}, testNow},
		{"second policy", "p256", nil, reqFields{policy: testPolicy2}, testNow},
		{"qualified", "p256", func(c *Config) { c.Qualified = true }, reqFields{certReq: true}, testNow},
		{"millisecond accuracy", "p256", func(c *Config) { c.Accuracy = 1500 * time.Microsecond }, reqFields{}, testNow},
		{"microsecond accuracy", "p256", func(c *Config) { c.Accuracy = 250 * time.Microsecond }, reqFields{}, testNow},
		{"long accuracy", "p256", func(c *Config) { c.Accuracy = 90 * time.Second }, reqFields{}, testNow},
		{"whole second clock", "p256", func(c *Config) { c.Accuracy = time.Millisecond }, reqFields{}, testNow.Truncate(time.Second)},
		{"after 2049", "p256", nil, reqFields{}, y2051},
		{"after 2049 fraction", "p256", func(c *Config) { c.Accuracy = time.Microsecond }, reqFields{}, y2051},
		{"no chain", "p256", func(c *Config) { c.Chain = nil }, reqFields{certReq: true}, testNow},
		{"two in chain", "p256", func(c *Config) { c.Chain = append(c.Chain, newTestPKI(t, "p256").root) }, reqFields{certReq: true}, testNow},
		{"large serial", "p256", func(c *Config) {
			c.Serials = fixedSerial{new(big.Int).Lsh(big.NewInt(1), 159)}
		}, reqFields{}, testNow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newTestPKI(t, tt.kind)
			memo := &memoSigner{Signer: p.tsaKey, sigs: map[string][]byte{}}
			serials := &recordSerials{next: NewBlockSerials(&memCounter{}, "tsa", 16)}
			a := newTestAuthority(t, p, func(c *Config) {
				c.Signer = memo
				c.Serials = serials
				c.Clock = fixedClock(tt.now)
				if tt.edit != nil {
					tt.edit(c)
				}
				if fs, ok := c.Serials.(fixedSerial); ok {
					serials.next, c.Serials = fs, serials
				}
			})
			der := encodeReq(t, tt.req)
			got := a.Respond(context.Background(), der)
			req, rej := a.parseRequest(der)
			if rej != nil {
				t.Fatal(rej.text)
			}
			want := legacyResponse(t, a, req, serials.last, tt.now)
			if !bytes.Equal(got, want) {
				i := 0
				for i < min(len(got), len(want)) && got[i] == want[i] {
					i++
				}
				t.Fatalf("encodings differ from byte %d of %d/%d\n got %x\nwant %x", i, len(got), len(want), got[i:], want[i:])
			}
			tok, err := ParseResponse(got)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.req.certReq {
				tok.Certificates = append(tok.Certificates, p.tsa)
			}
			if tt.now.Before(p.tsa.NotAfter) { // Verify checks the chain at genTime
				if err := tok.Verify(p.roots, x509NewPool(p.issuing)); err != nil {
					t.Fatal(err)
				}
			}
			var ci contentInfo
			var sd signedData
			if _, err := asn1.Unmarshal(tok.Raw, &ci); err != nil {
				t.Fatal(err)
			}
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
				t.Fatal(err)
			}
			if tt.req.certReq != (len(sd.Certificates.FullBytes) != 0) {
				t.Errorf("certReq %v, certificates field %x (RFC 3161 §2.4.1)", tt.req.certReq, sd.Certificates.FullBytes)
			}
		})
	}
}

// legacyResponse is the Authority's encoding before cms.go, kept to
// compare against, with one correction: digitorus/pkcs7 wrote an empty
// certificates field when certReq was false, where RFC 3161 §2.4.1 says
// the field MUST NOT be present; cms.go leaves it out, so it is removed
// here.
func legacyResponse(t *testing.T, a *Authority, req *request, serial *big.Int, now time.Time) []byte {
	t.Helper()
	content, err := asn1.Marshal(tstInfo{
		Version:        1,
		Policy:         a.cfg.Policies[req.policy],
		MessageImprint: req.imprint,
		SerialNumber:   serial,
		GenTime:        asn1.RawValue{FullBytes: formatGeneralizedTime(now, a.genTimeD)},
		Accuracy:       newAccuracy(a.cfg.Accuracy),
		Nonce:          req.nonce,
		TSA:            a.tsaName,
		Extensions:     a.exts,
	})
	if err != nil {
		t.Fatal(err)
	}
	sd, err := pkcs7.NewSignedData(content)
	if err != nil {
		t.Fatal(err)
	}
	digestOID, _ := oidFromHash(a.hash)
	sd.SetDigestAlgorithm(digestOID)
	sd.SetContentType(oidTSTInfo)
	sd.GetSignedData().Version = 3
	signingTime, err := asn1.Marshal(now.UTC().Truncate(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	conf := pkcs7.SignerInfoConfig{
		ExtraSignedAttributes: []pkcs7.Attribute{
			{Type: oidSigningTime, Value: asn1.RawValue{FullBytes: signingTime}},
			{Type: oidSigningCertificateV2, Value: asn1.RawValue{FullBytes: a.certV2}},
		},
		SkipCertificates: !req.certReq,
	}
	if err := sd.AddSigner(a.cfg.Certificate, a.cfg.Signer, conf); err != nil {
		t.Fatal(err)
	}
	if req.certReq {
		for _, c := range a.cfg.Chain {
			sd.AddCertificate(c)
		}
	}
	token, err := sd.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if !req.certReq {
		token = dropEmptyCertificates(t, token)
	}
	resp, err := asn1.Marshal(timeStampResp{
		Status:         pkiStatusInfo{Status: int(StatusGranted)},
		TimeStampToken: asn1.RawValue{FullBytes: token},
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// dropEmptyCertificates re-encodes a ContentInfo's SignedData without its
// empty certificates [0] field.
func dropEmptyCertificates(t *testing.T, token []byte) []byte {
	t.Helper()
	var ci contentInfo
	var sd struct {
		Version     int
		Digests     asn1.RawValue
		Encap       asn1.RawValue
		Certs       asn1.RawValue `asn1:"optional,tag:0"`
		SignerInfos asn1.RawValue
	}
	if _, err := asn1.Unmarshal(token, &ci); err != nil {
		t.Fatal(err)
	}
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sd.Certs.FullBytes, []byte{0xa0, 0}) {
		t.Fatalf("legacy encoding: certificates field %x, want the empty one", sd.Certs.FullBytes)
	}
	sd.Certs = asn1.RawValue{}
	inner, err := asn1.Marshal(sd)
	if err != nil {
		t.Fatal(err)
	}
	out, err := asn1.Marshal(struct {
		Type    asn1.ObjectIdentifier
		Content asn1.RawValue
	}{ci.ContentType, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// memoSigner signs each digest once with the real key and gives the same
// signature when asked again, so that two encoders can be compared.
type memoSigner struct {
	crypto.Signer
	mu   sync.Mutex
	sigs map[string][]byte
}

func (m *memoSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if sig, ok := m.sigs[string(digest)]; ok {
		return sig, nil
	}
	sig, err := m.Signer.Sign(rand, digest, opts)
	if err == nil {
		m.sigs[string(digest)] = sig
	}
	return sig, err
}

// recordSerials remembers the last serial it handed out.
type recordSerials struct {
	next SerialSource
	last *big.Int
}

func (r *recordSerials) NextSerial(ctx context.Context) (*big.Int, error) {
	s, err := r.next.NextSerial(ctx)
	r.last = s
	return s, err
}

// fixedSerial always hands out the same serial.
type fixedSerial struct{ n *big.Int }

func (f fixedSerial) NextSerial(context.Context) (*big.Int, error) { return f.n, nil }

func x509NewPool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func TestAppendInteger(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"0", "1", "127", "128", "255", "256", "-1", "-128", "-129",
		"340282366920938463463374607431768211455", "115792089237316195423570985008687907853269984665640564039457584007913129639936"} {
		n, _ := new(big.Int).SetString(v, 10)
		want, err := asn1.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendInteger(nil, n); !bytes.Equal(got, want) {
			t.Errorf("%s: got %x, want %x", v, got, want)
		}
	}
}

func TestAppendSigningTime(t *testing.T) {
	t.Parallel()
	for _, tm := range []time.Time{
		time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 12, 1, 23, 59, 59, 999999999, time.UTC),
		time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 6, 1, 1, 2, 3, 0, time.FixedZone("CEST", 2*3600)),
	} {
		want, err := asn1.Marshal(tm.UTC().Truncate(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if got := appendSigningTime(nil, tm); !bytes.Equal(got, want) {
			t.Errorf("%v: got %x, want %x", tm, got, want)
		}
	}
}
