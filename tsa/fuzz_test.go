package tsa

import (
	"context"
	"encoding/asn1"
	"math/big"
	"os"
	"path/filepath"
	"testing"
)

// seedRequests are real `openssl ts -query` outputs made by testdata/gen.sh.
func seedRequests(tb testing.TB) map[string][]byte {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "requests", "*.tsq"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no seed requests in testdata/requests (run testdata/gen.sh): %v", err)
	}
	out := make(map[string][]byte, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

func TestOpenSSLSeedRequests(t *testing.T) {
	t.Parallel()
	seeds := seedRequests(t)
	want := map[string]FailureInfo{
		"sha256-cert.tsq":           FailNone,
		"sha384-nonce.tsq":          FailNone,
		"sha512-no-nonce.tsq":       FailNone,
		"sha256-policy.tsq":         FailNone,
		"sha256-unknown-policy.tsq": FailUnacceptedPolicy,
		"sha1.tsq":                  FailBadAlg,
		"md5.tsq":                   FailBadAlg,
	}
	p := newTestPKI(t, "p256")
	a := newTestAuthority(t, p, nil)
	for name, der := range seeds {
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("no expectation for %s", name)
			}
			resp := a.Respond(context.Background(), der)
			if w != FailNone {
				checkRejection(t, resp, w)
				return
			}
			tok, err := ParseResponse(resp)
			if err != nil {
				t.Fatal(err)
			}
			if len(tok.Certificates) == 0 {
				tok.Certificates = append(tok.Certificates, p.tsa, p.issuing)
			}
			if err := tok.Verify(p.roots, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// FuzzParseRequest checks that Respond never panics and always answers with
// a well-formed TimeStampResp: a token that verifies, or a rejection with
// exactly one failInfo bit.
//
//	go test ./tsa -run '^$' -fuzz FuzzParseRequest -fuzztime 60s
func FuzzParseRequest(f *testing.F) {
	for _, der := range seedRequests(f) {
		f.Add(der)
	}
	f.Add(encodeReq(f, reqFields{nonce: big.NewInt(-1), certReq: true, params: asn1.NullRawValue}))
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x80, 0x00, 0x00})
	p := newTestPKI(f, "p256")
	a := newTestAuthority(f, p, nil)
	f.Fuzz(func(t *testing.T, der []byte) {
		resp := a.Respond(context.Background(), der)
		var r timeStampResp
		if rest, err := asn1.Unmarshal(resp, &r); err != nil || len(rest) != 0 {
			t.Fatalf("not a TimeStampResp: %v", err)
		}
		switch Status(r.Status.Status) {
		case StatusGranted:
			tok, err := ParseResponse(resp)
			if err != nil {
				t.Fatalf("granted response does not parse: %v", err)
			}
			tok.Certificates = append(tok.Certificates, p.tsa, p.issuing)
			if err := tok.Verify(p.roots, nil); err != nil {
				t.Fatalf("granted token does not verify: %v", err)
			}
		case StatusRejection:
			fi := failureFromBits(r.Status.FailInfo)
			if fi == FailNone || r.Status.FailInfo.BitLength != int(fi)+1 || len(r.TimeStampToken.FullBytes) != 0 {
				t.Fatalf("bad rejection %+v", r.Status)
			}
		default:
			t.Fatalf("status %d", r.Status.Status)
		}
	})
}
