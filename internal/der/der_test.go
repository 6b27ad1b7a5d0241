package der

import (
	"bytes"
	"encoding/asn1"
	"testing"
)

// Every length class against encoding/asn1's own DER.
func TestAppendTLVMatchesEncodingASN1(t *testing.T) {
	for _, n := range []int{0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffff, 0x1000000} {
		content := bytes.Repeat([]byte{0xab}, n)
		want, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagOctetString, Bytes: content})
		if err != nil {
			t.Fatal(err)
		}
		got := AppendTLV(nil, 0x04, content)
		if !bytes.Equal(got, want) {
			t.Errorf("n=%d: header % x, want % x", n, got[:min(len(got), 6)], want[:min(len(want), 6)])
		}
		if Size(n) != len(want) {
			t.Errorf("n=%d: Size %d, want %d", n, Size(n), len(want))
		}
	}
}
