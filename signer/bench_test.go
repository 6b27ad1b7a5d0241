package signer_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/oces-pki/oces/cades"
	pdfcorpus "github.com/oces-pki/oces/pades/testdata/corpus"
	"github.com/oces-pki/oces/revocation"
	"github.com/oces-pki/oces/signer"
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

// BenchmarkPAdESLarge signs 1 MB and 20 MB PDFs at B-T and B-LTA in
// process, next to a baseline doing only what such a signature cannot
// avoid, in the same run: SHA-256 of the file (twice for B-LTA: the
// document time-stamp covers the whole file again), one copy of it, the
// same HSM signature, and the same TSA and OCSP/CRL round trips. Neither
// side caches status answers. (make bench also measures whole `oces sign`
// processes, with peak RSS, in signer/bench.)
func BenchmarkPAdESLarge(b *testing.B) {
	p, seal, _ := benchFixture(b)
	fetcher := revocation.New(revocation.Config{MaxAge: -1})
	svc, err := signer.New(signer.Config{
		TSA:        &signer.TSAClient{URL: p.TSAURL, Roots: p.Roots(), Revocation: fetcher},
		Revocation: fetcher, Audit: p.Store,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	client := &http.Client{Timeout: 10 * time.Second}
	for _, mb := range []int{1, 20} {
		pdf := pdfcorpus.BigBytes(mb)
		for _, level := range []cades.Level{cades.LevelBT, cades.LevelBLTA} {
			b.Run(fmt.Sprintf("%dMB/%s/sign", mb, level), func(b *testing.B) {
				b.SetBytes(int64(len(pdf)))
				for b.Loop() {
					if _, err := svc.SignPDF(ctx, benchRequest(seal, level), pdf); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("%dMB/%s/baseline", mb, level), func(b *testing.B) {
				b.SetBytes(int64(len(pdf)))
				for b.Loop() {
					f := revocation.New(revocation.Config{MaxAge: -1})
					if _, err := f.Chain(ctx, seal.Chain); err != nil {
						b.Fatal(err)
					}
					sum := sha256.Sum256(pdf)
					out := make([]byte, len(pdf), len(pdf)+64<<10)
					copy(out, pdf)
					if _, err := seal.Key.Sign(rand.Reader, sum[:], crypto.SHA256); err != nil {
						b.Fatal(err)
					}
					tok, err := tsa.Query(ctx, client, p.TSAURL, sum[:], crypto.SHA256, tsa.QueryOptions{})
					if err != nil {
						b.Fatal(err)
					}
					if level == cades.LevelBLTA {
						leaf, err := tok.SignerCertificate()
						if err != nil {
							b.Fatal(err)
						}
						if _, err := f.Chain(ctx, []*x509.Certificate{leaf, p.Issuing, p.Root}); err != nil {
							b.Fatal(err)
						}
						again := sha256.Sum256(out)
						if _, err := tsa.Query(ctx, client, p.TSAURL, again[:], crypto.SHA256, tsa.QueryOptions{}); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}
