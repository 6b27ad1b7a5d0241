package pades

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

// fuzzSeeds are small files of the shapes Open must read, signed and not.
func fuzzSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	var seeds [][]byte
	for _, s := range []pdfSpec{
		{}, {Version: "1.3", NoID: true, NoEOL: true}, {Pages: 3, Tree: true, Inherit: true},
		{Form: true, AnnotsRef: true}, {Hybrid: true, Form: true, Info: true}, {CRLF: true, Rotate: 90},
	} {
		seeds = append(seeds, genPDF(tb, s))
	}
	dummy := func(context.Context, []byte) ([]byte, error) { return []byte{0x30, 0x03, 1, 2, 3}, nil }
	d := mustOpen(tb, seeds[3])
	var signed, dss bytes.Buffer
	if err := d.Sign(context.Background(), &signed, SignatureOptions{ContentsSize: 64, DocMDP: 2, SigningTime: fixedTime,
		Appearance: &Appearance{Page: 1, Rect: [4]float64{10, 10, 200, 60}, Lines: []string{"x"}}}, dummy); err != nil {
		tb.Fatal(err)
	}
	if err := mustOpen(tb, signed.Bytes()).AddDSS(&dss, DSS{Certs: [][]byte{{0x30, 0}}, OCSPs: [][]byte{{0x30, 1, 0}},
		VRI: map[string]VRI{"0123456789ABCDEF0123456789ABCDEF01234567": {CRLs: [][]byte{{0x30, 2, 0, 0}}, TU: fixedTime}}}); err != nil {
		tb.Fatal(err)
	}
	var ts bytes.Buffer
	if err := mustOpen(tb, dss.Bytes()).AddDocTimeStamp(context.Background(), &ts, TimeStampOptions{ContentsSize: 64}, dummy); err != nil {
		tb.Fatal(err)
	}
	return append(seeds, signed.Bytes(), dss.Bytes(), ts.Bytes(), appendInfoUpdate(tb, seeds[0]))
}

// FuzzOpen feeds Open hostile files: it, Signatures, DSS and the writers
// must return, with a Document or a package error, never panic or hang.
func FuzzOpen(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d, err := OpenContext(ctx, data)
		if err != nil {
			if !errors.Is(err, ErrNotPDF) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrEncrypted) && ctx.Err() == nil {
				t.Fatalf("Open: an error of no kind: %v", err)
			}
			return
		}
		d.Version()
		d.PageCount()
		d.Revisions()
		d.Certification()
		sigs, err := d.Signatures()
		if err == nil {
			for _, s := range sigs {
				io.Copy(io.Discard, s.SignedBytes(data))
				d.VRIKey(s)
			}
		}
		d.DSS()
		dummy := func(context.Context, []byte) ([]byte, error) { return []byte{0x30, 0}, nil }
		d.Sign(ctx, io.Discard, SignatureOptions{ContentsSize: 16, SigningTime: fixedTime}, dummy)
		d.AddDSS(io.Discard, DSS{Certs: [][]byte{{0x30, 0}}})
	})
}
