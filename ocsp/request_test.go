package ocsp

import (
	"bytes"
	"crypto"
	"testing"
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
