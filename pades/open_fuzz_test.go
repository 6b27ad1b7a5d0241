package pades

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/oces-pki/oces/pades/testdata/corpus"
)

// FuzzOpenCorpus feeds Open, the reader of every PDF the signing service and the
// validator receive (ISO 32000-1 section 7.5, EN 319 142-1), and every
// reading method of the Document with arbitrary bytes, seeded with the
// corpus files under 40 KB. Open may refuse only with ErrNotPDF,
// ErrEncrypted or ErrMalformed and within a few seconds, and no reading method of a
// document it accepts may panic.
//
//	go test ./pades -run '^$' -fuzz FuzzOpenCorpus -fuzztime 60s
func FuzzOpenCorpus(f *testing.F) {
	for _, file := range corpus.Files {
		data := corpus.Read(f, file.Name)
		if len(data) < 40_000 {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d, err := OpenContext(ctx, data)
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("Open took more than 5s on %d bytes", len(data))
			}
			if !errors.Is(err, ErrNotPDF) && !errors.Is(err, ErrEncrypted) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("Open error %v is not ErrNotPDF, ErrEncrypted or ErrMalformed", err)
			}
			return
		}
		_ = d.Version()
		_ = d.PageCount()
		_ = d.Revisions()
		_ = d.Certification()
		_, _ = d.DSS()
		sigs, err := d.Signatures()
		if err != nil {
			return
		}
		for _, s := range sigs {
			// A /ByteRange is read as written; the signed bytes' reader
			// must refuse one outside the file, not slice past it.
			_, _ = d.VRIKey(s)
			_, _ = io.Copy(io.Discard, s.SignedBytes(data))
		}
	})
}
