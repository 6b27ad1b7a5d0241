package ocsp

import (
	"bytes"
	"crypto"
	"encoding/asn1"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

func TestParseRequestOpenSSL(t *testing.T) {
	t.Parallel()
	reqs := opensslRequests(t)
	if reqs == nil {
		t.Skip("openssl not installed")
	}
	tests := []struct {
		name     string
		hash     crypto.Hash
		n        int
		nonce    bool
		serialOK bool
	}{
		{"sha1 no nonce", crypto.SHA1, 1, false, true},
		{"sha1 nonce", crypto.SHA1, 1, true, true},
		{"sha256 nonce", crypto.SHA256, 1, true, true},
		{"two serials", crypto.SHA1, 2, false, true},
		{"sha256 no nonce", crypto.SHA256, 1, false, true},
	}
	for _, tt := range tests {
		req, err := parseRequest(reqs[tt.name])
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		id := req.tbsRequest.requestList[0].reqCert
		if len(req.tbsRequest.requestList) != tt.n || id.hashAlgorithm != tt.hash ||
			(req.tbsRequest.nonce != nil) != tt.nonce {
			t.Fatalf("%s: %d requests, hash %v, nonce %x", tt.name, len(req.tbsRequest.requestList), id.hashAlgorithm, req.tbsRequest.nonce)
		}
		if _, ok := id.serial(); ok != tt.serialOK {
			t.Fatalf("%s: serial ok %v", tt.name, ok)
		}
	}
}

func TestCertIDSerial(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []byte
		ok   bool
		last byte
	}{
		{"small", []byte{0x7f}, true, 0x7f},
		{"leading zero", []byte{0x00, 0x80}, true, 0x80},
		{"negative", []byte{0x80}, false, 0},
		{"zero", []byte{0x00}, false, 0},
		{"128 bits", append([]byte{0x00}, bytes.Repeat([]byte{0xff}, 16)...), true, 0xff},
		{"129 bits", append([]byte{0x01}, bytes.Repeat([]byte{0xff}, 16)...), false, 0},
	}
	for _, tt := range tests {
		id := certID{serialNumber: tt.in}
		s, ok := id.serial()
		if ok != tt.ok || (ok && s[15] != tt.last) {
			t.Errorf("%s: %x %v", tt.name, s, ok)
		}
	}
}

// FuzzParseRequest: the parser never panics, and what it accepts has
// exactly one consistent reading.
func FuzzParseRequest(f *testing.F) {
	for _, der := range opensslRequests(f) {
		f.Add(der)
	}
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{0x30, 0x03, 0x30, 0x01, 0x30})
	f.Fuzz(func(t *testing.T, der []byte) {
		req, err := parseRequest(der)
		if err != nil {
			return
		}
		if len(req.tbsRequest.requestList) == 0 {
			t.Fatal("accepted an empty request list")
		}
		for _, r := range req.tbsRequest.requestList {
			if len(r.reqCert.raw) == 0 || !validInteger(r.reqCert.serialNumber) {
				t.Fatal("accepted a CertID without a valid serial")
			}
			r.reqCert.serial()
		}
	})
}

// withExtensions rebuilds an OCSPRequest from one without extensions,
// adding exts as its requestExtensions or, when single is set, as the
// singleRequestExtensions of its one Request. Each extension is the DER
// of an Extension SEQUENCE.
func withExtensions(tb testing.TB, der []byte, single bool, exts ...[]byte) []byte {
	tb.Helper()
	req, err := parseRequest(der)
	if err != nil || len(req.tbsRequest.requestList) != 1 {
		tb.Fatalf("base request: %v", err)
	}
	addExts := func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			for _, e := range exts {
				b.AddBytes(e)
			}
		})
	}
	out := cryptobyte.NewBuilder(nil)
	out.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // OCSPRequest
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // TBSRequest
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // requestList
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // Request
					b.AddBytes(req.tbsRequest.requestList[0].reqCert.raw)
					if single {
						b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), addExts)
					}
				})
			})
			if !single {
				b.AddASN1(cbasn1.Tag(2).Constructed().ContextSpecific(), addExts)
			}
		})
	})
	return out.BytesOrPanic()
}

// extension encodes an Extension; critical is written out explicitly
// when it is non-nil, as BER allows and some clients do even for FALSE.
func extension(oid asn1.ObjectIdentifier, critical *bool, value []byte) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		if critical != nil {
			b.AddASN1Boolean(*critical)
		}
		b.AddASN1OctetString(value)
	})
	return b.BytesOrPanic()
}

// rawExtension encodes an Extension with flag (any DER) between the OID
// and the value, and rawExtensionAfter one with flag after the value.
func rawExtension(oid asn1.ObjectIdentifier, flag []byte) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		b.AddBytes(flag)
		b.AddASN1OctetString([]byte{0x05, 0x00})
	})
	return b.BytesOrPanic()
}

func rawExtensionAfter(oid asn1.ObjectIdentifier, flag []byte) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		b.AddASN1OctetString([]byte{0x05, 0x00})
		b.AddBytes(flag)
	})
	return b.BytesOrPanic()
}

// TestRequestExtensions: the critical flag of request extensions is the
// universal BOOLEAN of RFC 5280's Extension, DEFAULT FALSE; the nonce is
// read whether or not the flag is written; unknown extensions are ignored
// unless they are critical (RFC 6960 section 4.1.2).
func TestRequestExtensions(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	base := requestFor(t, p, p.issue(t).Serial, crypto.SHA1)
	yes, no := true, false
	nonceValue := []byte{0x04, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	unknown := asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}
	serviceLocator := asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 7}
	tests := []struct {
		name   string
		single bool
		exts   [][]byte
		ok     bool
		nonce  bool
	}{
		{"nonce, no flag", false, [][]byte{extension(oidOCSPNonce, nil, nonceValue)}, true, true},
		{"nonce, critical true", false, [][]byte{extension(oidOCSPNonce, &yes, nonceValue)}, true, true},
		{"nonce, critical false written out", false, [][]byte{extension(oidOCSPNonce, &no, nonceValue)}, true, true},
		{"unknown, critical false written out", false, [][]byte{extension(unknown, &no, []byte{0x05, 0x00})}, true, false},
		{"unknown, no flag", false, [][]byte{extension(unknown, nil, []byte{0x05, 0x00})}, true, false},
		{"unknown, critical true", false, [][]byte{extension(unknown, &yes, []byte{0x05, 0x00})}, false, false},
		{"nonce and unknown, flags written out", false, [][]byte{extension(unknown, &no, []byte{0x05, 0x00}), extension(oidOCSPNonce, &yes, nonceValue)}, true, true},
		{"single: service locator, critical true", true, [][]byte{extension(serviceLocator, &yes, []byte{0x30, 0x00})}, true, false},
		{"single: unknown, critical false written out", true, [][]byte{extension(unknown, &no, []byte{0x05, 0x00})}, true, false},
		{"single: unknown, critical true", true, [][]byte{extension(unknown, &yes, []byte{0x05, 0x00})}, false, false},
		{"two nonces", false, [][]byte{extension(oidOCSPNonce, nil, nonceValue), extension(oidOCSPNonce, &no, nonceValue)}, false, false},
		{"flag not a BOOLEAN", false, [][]byte{rawExtension(unknown, []byte{0x02, 0x01, 0x01})}, false, false},
		{"flag a BOOLEAN inside a BOOLEAN", false, [][]byte{rawExtension(unknown, []byte{0x01, 0x03, 0x01, 0x01, 0xff})}, false, false},
		{"flag not DER", false, [][]byte{rawExtension(unknown, []byte{0x01, 0x01, 0x01})}, false, false},
		{"flag after the value", false, [][]byte{rawExtensionAfter(unknown, []byte{0x01, 0x01, 0xff})}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			der := withExtensions(t, base, tt.single, tt.exts...)
			req, err := parseRequest(der)
			if (err == nil) != tt.ok {
				t.Fatalf("parseRequest: %v, want ok=%v", err, tt.ok)
			}
			if err != nil {
				return
			}
			if got := req.tbsRequest.nonce != nil; got != tt.nonce {
				t.Fatalf("nonce %x, want present=%v", req.tbsRequest.nonce, tt.nonce)
			}
			if tt.nonce && !bytes.Equal(req.tbsRequest.nonce, nonceValue) {
				t.Fatalf("nonce %x, want %x", req.tbsRequest.nonce, nonceValue)
			}
		})
	}
}

// TestRequestVersionAndHash: an explicit version must be v1; the CertID
// hash is recognised by its OID's encoding, another well-formed OID is
// read as no hash, a malformed one refused.
func TestRequestVersionAndHash(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	base := requestFor(t, p, p.issue(t).Serial, crypto.SHA1)
	req, err := parseRequest(base)
	if err != nil {
		t.Fatal(err)
	}
	id := req.tbsRequest.requestList[0].reqCert
	build := func(version []byte, oid []byte) []byte {
		b := cryptobyte.NewBuilder(nil)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // OCSPRequest
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // TBSRequest
				b.AddBytes(version)
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // requestList
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // Request
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // CertID
							b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddBytes(oid) })
							b.AddASN1OctetString(id.issuerNameHash)
							b.AddASN1OctetString(id.issuerKeyHash)
							b.AddASN1(cbasn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes(id.serialNumber) })
						})
					})
				})
			})
		})
		return b.BytesOrPanic()
	}
	oid := func(o asn1.ObjectIdentifier) []byte {
		der, err := asn1.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	v1 := []byte{0xa0, 0x03, 0x02, 0x01, 0x00}
	v2 := []byte{0xa0, 0x03, 0x02, 0x01, 0x01}
	tests := []struct {
		name    string
		version []byte
		oid     []byte
		ok      bool
		hash    crypto.Hash
	}{
		{"sha1", nil, oid(oidSHA1), true, crypto.SHA1},
		{"sha256", nil, oid(oidSHA256), true, crypto.SHA256},
		{"explicit v1", v1, oid(oidSHA256), true, crypto.SHA256},
		{"v2", v2, oid(oidSHA1), false, 0},
		{"version not an INTEGER", []byte{0xa0, 0x02, 0x05, 0x00}, oid(oidSHA1), false, 0},
		{"sha384", nil, oid(asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}), true, 0},
		{"sha1 with one more arc", nil, oid(asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26, 1}), true, 0},
		{"malformed OID", nil, []byte{0x06, 0x02, 0x2b, 0x80}, false, 0},
		{"empty OID", nil, []byte{0x06, 0x00}, false, 0},
		{"not an OID", nil, []byte{0x04, 0x01, 0x2b}, false, 0},
		{"sha1 with NULL", nil, append(oid(oidSHA1), 0x05, 0x00), true, crypto.SHA1},
		{"sha1 with other parameters", nil, append(oid(oidSHA1), 0x02, 0x01, 0x00), false, 0},
	}
	for _, tt := range tests {
		req, err := parseRequest(build(tt.version, tt.oid))
		if (err == nil) != tt.ok {
			t.Errorf("%s: %v, want ok=%v", tt.name, err, tt.ok)
			continue
		}
		if err == nil && req.tbsRequest.requestList[0].reqCert.hashAlgorithm != tt.hash {
			t.Errorf("%s: hash %v, want %v", tt.name, req.tbsRequest.requestList[0].reqCert.hashAlgorithm, tt.hash)
		}
	}
}
