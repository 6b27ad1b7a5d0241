package pdfcheck

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// OpenSSLCMSVerify runs `openssl cms -verify -binary -inform DER -in p7s
// -content content -CAfile caFile` on a detached CMS SignedData (RFC 5652
// §5) and fails tb unless openssl says "Verification successful": the
// signer's signature, the message digest over content, and the signer's
// chain to caFile (with openssl's default purpose, smimesign).
func OpenSSLCMSVerify(tb testing.TB, content, p7s []byte, caFile string) {
	tb.Helper()
	if err := OpenSSLCMSVerifyErr(tb, content, p7s, caFile); err != nil {
		tb.Fatal(err)
	}
}

// OpenSSLCMSVerifyErr is OpenSSLCMSVerify returning openssl's refusal as
// an error; extra are further flags, e.g. "-purpose", "any" or
// "-untrusted", "chain.pem".
func OpenSSLCMSVerifyErr(tb testing.TB, content, p7s []byte, caFile string, extra ...string) error {
	tb.Helper()
	bin := lookPath(tb, "openssl")
	args := []string{"cms", "-verify", "-binary", "-inform", "DER",
		"-in", writeTemp(tb, "sig.p7s", p7s), "-content", writeTemp(tb, "content.bin", content),
		"-CAfile", caFile, "-out", writeTemp(tb, "out.bin", nil)}
	r := run(tb, nil, bin, append(args, extra...)...)
	if r.code != 0 || !strings.Contains(r.combined(), "Verification successful") {
		return fmt.Errorf("pdfcheck: openssl cms -verify: exit status %d: %s", r.code, strings.TrimSpace(r.combined()))
	}
	return nil
}

// OpenSSLTSVerify runs `openssl ts -verify -data data -in token -token_in
// -CAfile caFile [-untrusted untrusted]` on an RFC 3161 TimeStampToken and
// fails tb unless openssl says "Verification: OK": the TSA's signature, the
// message imprint of data, the ESS signing certificate, the timeStamping
// EKU and the chain to caFile. untrusted, if not empty, is a PEM file of
// intermediate (or TSA) certificates the token does not carry.
func OpenSSLTSVerify(tb testing.TB, data, token []byte, caFile, untrusted string) {
	tb.Helper()
	if err := OpenSSLTSVerifyErr(tb, data, token, caFile, untrusted); err != nil {
		tb.Fatal(err)
	}
}

// OpenSSLTSVerifyErr is OpenSSLTSVerify returning openssl's refusal as an
// error.
func OpenSSLTSVerifyErr(tb testing.TB, data, token []byte, caFile, untrusted string) error {
	tb.Helper()
	bin := lookPath(tb, "openssl")
	args := []string{"ts", "-verify", "-data", writeTemp(tb, "data.bin", data),
		"-in", writeTemp(tb, "token.der", token), "-token_in", "-CAfile", caFile}
	if untrusted != "" {
		args = append(args, "-untrusted", untrusted)
	}
	r := run(tb, nil, bin, args...)
	if r.code != 0 || !strings.Contains(r.combined(), "Verification: OK") {
		return fmt.Errorf("pdfcheck: openssl ts -verify: exit status %d: %s", r.code, strings.TrimSpace(r.combined()))
	}
	return nil
}

// SignedParts splits a signed PDF at a signature's /ByteRange [a b c d]
// (ISO 32000-1 clause 12.8.1): the signed bytes (file[a:a+b] followed by
// file[c:c+d]) and the DER value of /Contents, the hex string in the gap
// decoded and cut to the length its outer tag states (dropping the zero
// padding), ready for OpenSSLCMSVerify or OpenSSLTSVerify.
func SignedParts(file []byte, byteRange []int64) (signed, der []byte, err error) {
	if len(byteRange) != 4 {
		return nil, nil, fmt.Errorf("pdfcheck: ByteRange has %d numbers, want 4", len(byteRange))
	}
	a, b, c, d := byteRange[0], byteRange[1], byteRange[2], byteRange[3]
	n := int64(len(file))
	if a != 0 || b <= 0 || c < a+b+2 || d < 0 || c+d > n {
		return nil, nil, fmt.Errorf("pdfcheck: ByteRange %v does not fit a file of %d bytes", byteRange, n)
	}
	gap := file[b:c]
	if gap[0] != '<' || gap[len(gap)-1] != '>' {
		return nil, nil, errors.New("pdfcheck: the ByteRange gap is not a hex string")
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(gap[1 : len(gap)-1])))
	if err != nil {
		return nil, nil, fmt.Errorf("pdfcheck: /Contents: %w", err)
	}
	if der, err = derPrefix(raw); err != nil {
		return nil, nil, err
	}
	signed = append(append(make([]byte, 0, b+d), file[:b]...), file[c:c+d]...)
	return signed, der, nil
}

// derPrefix returns the BER element at the start of b: DER, or BER with
// indefinite lengths as NSS (pdfsig) writes them.
func derPrefix(b []byte) ([]byte, error) {
	n, err := berLen(b, 0)
	if err != nil {
		return nil, fmt.Errorf("pdfcheck: /Contents: %w", err)
	}
	return b[:n], nil
}

// berLen is the length of the BER element at the start of b (X.690
// clause 8.1), nested at most 32 deep.
func berLen(b []byte, depth int) (int, error) {
	if depth > 32 {
		return 0, errors.New("BER nested too deep")
	}
	i := 1
	if len(b) > 0 && b[0]&0x1f == 0x1f {
		for i < len(b) && b[i]&0x80 != 0 {
			i++
		}
		i++
	}
	if i >= len(b) {
		return 0, errors.New("BER element truncated")
	}
	l := int(b[i])
	i++
	switch {
	case l == 0x80:
		if b[0]&0x20 == 0 {
			return 0, errors.New("indefinite length on a primitive BER element")
		}
		for {
			if i+2 > len(b) {
				return 0, errors.New("BER element without end-of-contents")
			}
			if b[i] == 0 && b[i+1] == 0 {
				return i + 2, nil
			}
			n, err := berLen(b[i:], depth+1)
			if err != nil {
				return 0, err
			}
			i += n
		}
	case l&0x80 != 0:
		k := l & 0x7f
		if k > 4 || i+k > len(b) {
			return 0, errors.New("BER length too long")
		}
		l = 0
		for _, x := range b[i : i+k] {
			l = l<<8 | int(x)
		}
		i += k
	}
	if l > len(b)-i {
		return 0, fmt.Errorf("BER element claims %d bytes, %d left", l, len(b)-i)
	}
	return i + l, nil
}
