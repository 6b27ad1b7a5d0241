package signer_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/oces-pki/oces/cades"
	pdfcorpus "github.com/oces-pki/oces/pades/testdata/corpus"
	"github.com/oces-pki/oces/tsa"
)

// BenchmarkPAdES100K signs a 100 KB PDF at B-T in process, next to its
// baseline: the same HSM signature and the same TSA round trip.
func BenchmarkPAdES100K(b *testing.B) {
	p, seal, svc := benchFixture(b)
	pdf := pdfcorpus.SizedBytes(100 << 10)
	ctx := context.Background()
	req := benchRequest(seal, cades.LevelBT)
	b.Run("sign", func(b *testing.B) {
		b.SetBytes(int64(len(pdf)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := svc.SignPDF(ctx, req, pdf); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("baseline", func(b *testing.B) {
		client := &http.Client{Timeout: 10 * time.Second}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				sum := sha256.Sum256(pdf)
				if _, err := seal.Key.Sign(rand.Reader, sum[:], crypto.SHA256); err != nil {
					b.Error(err)
					return
				}
				if _, err := tsa.Query(ctx, client, p.TSAURL, sum[:], crypto.SHA256, tsa.QueryOptions{}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkPAdESLarge signs 1 MB and 20 MB PDFs at B-T and B-LTA in process
// (make bench measures whole processes, with peak RSS, in signer/bench).
func BenchmarkPAdESLarge(b *testing.B) {
	_, seal, svc := benchFixture(b)
	ctx := context.Background()
	for _, mb := range []int{1, 20} {
		pdf := pdfcorpus.BigBytes(mb)
		for _, level := range []cades.Level{cades.LevelBT, cades.LevelBLTA} {
			b.Run(fmt.Sprintf("%dMB/%s", mb, level), func(b *testing.B) {
				b.SetBytes(int64(len(pdf)))
				for b.Loop() {
					if _, err := svc.SignPDF(ctx, benchRequest(seal, level), pdf); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
