package cades

import (
	"bytes"
	"encoding/hex"
	"errors"
	"runtime"
	"strings"
	"testing"
)

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestToDER(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string // want "" means an ErrFormat error
	}{
		{"DER unchanged", "30 06 02 01 05 04 01 aa", "30 06 02 01 05 04 01 aa"},
		{"indefinite sequence", "30 80 02 01 05 00 00", "30 03 02 01 05"},
		{"nested indefinite", "30 80 31 80 02 01 01 00 00 00 00", "30 05 31 03 02 01 01"},
		{"indefinite in definite", "30 07 30 80 02 01 01 00 00", "30 05 30 03 02 01 01"},
		{"constructed octet string", "24 80 04 02 aa bb 04 01 cc 00 00", "04 03 aa bb cc"},
		{"nested constructed octet string", "24 09 24 80 04 01 aa 00 00 04 00", "04 01 aa"},
		{"constructed UTF8String", "2c 80 04 01 41 0c 01 42 00 00", "0c 02 41 42"},
		{"non-minimal length", "04 81 02 aa bb", "04 02 aa bb"},
		{"long length", "04 82 00 01 aa", "04 01 aa"},
		{"constructed bit string", "23 80 03 02 00 aa 03 02 04 b0 00 00", "03 03 04 aa b0"},
		{"high tag number", "bf 1f 03 02 01 07", "bf 1f 03 02 01 07"},
		{"eoc in definite", "30 02 00 00", ""},
		{"missing eoc", "30 80 02 01 05", ""},
		{"primitive indefinite", "04 80 aa 00 00", ""},
		{"length past end", "04 05 aa", ""},
		{"five-byte length", "04 85 00 00 00 00 01 aa", ""},
		{"truncated header", "30", ""},
		{"trailing bytes", "02 01 05 00", ""},
		{"bit string unused bits before the end", "23 80 03 02 04 b0 03 02 00 aa 00 00", ""},
		{"bit string segment of another type", "23 80 04 02 00 aa 00 00", ""},
		{"bad high tag", "bf 80 01 00", ""},
		{"high tag below 31", "bf 05 00", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := toDER(unhex(t, tt.in))
			if tt.want == "" {
				if !errors.Is(err, ErrFormat) {
					t.Errorf("toDER(%s) = %x, %v; want ErrFormat", tt.in, got, err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, unhex(t, tt.want)) {
				t.Errorf("toDER(%s) = %x, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestToDERDepth: deep nesting is refused, not followed onto the stack.
func TestToDERDepth(t *testing.T) {
	t.Parallel()
	deep := bytes.Repeat([]byte{0x30, 0x80}, 100000)
	if _, err := toDER(deep); !errors.Is(err, ErrFormat) {
		t.Errorf("deep indefinite nesting: %v", err)
	}
	if _, err := Parse(deep); !errors.Is(err, ErrFormat) {
		t.Errorf("Parse of deep nesting: %v", err)
	}
	ok := append(bytes.Repeat([]byte{0x30, 0x80}, 40), bytes.Repeat([]byte{0, 0}, 40)...)
	if _, err := toDER(ok); err != nil {
		t.Errorf("40 levels: %v", err)
	}
	if _, _, err := readBER(deep, 0); !errors.Is(err, ErrFormat) {
		t.Errorf("readBER of deep nesting: %v", err)
	}
}

// TestToDERMemory: normalising deep indefinite nesting around a large
// value costs about one copy of it, not one per level.
func TestToDERMemory(t *testing.T) {
	size, levels := 8<<20, 40
	var in []byte
	for range levels {
		in = append(in, 0x30, 0x80)
	}
	in = append(in, 0x24, 0x80, 0x04, 0x83, byte(size>>16), byte(size>>8), byte(size))
	in = append(in, make([]byte, size)...)
	in = append(in, 0, 0) // end of the constructed OCTET STRING
	for range levels {
		in = append(in, 0, 0)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	out, err := toDER(in)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < size || out[0] != 0x30 {
		t.Fatalf("output of %d bytes", len(out))
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(2*size) {
		t.Errorf("toDER allocated %d bytes for a %d-byte input", alloc, len(in))
	}
}
