package cades

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"testing"

	"github.com/oces-pki/oces/internal/catest"
)

// BenchmarkSignDigest measures a B-B SignDigest (signed attributes, the
// signature, the encoding and the verification read-back) next to the raw
// key.Sign of the same digest, for the in-memory keys the CA tests use.
func BenchmarkSignDigest(b *testing.B) {
	f := newFixture(b)
	for _, name := range []string{"p-256", "rsa-3072"} {
		key := catest.Key(b, name)
		cert := f.issue(b, key.Public(), "OCES bench "+name, x509.KeyUsageContentCommitment, nil)
		digest := sha256Of(testContent)
		opts := SignOptions{Certificates: []*x509.Certificate{cert, f.issuing}}
		b.Run(name+"/SignDigest", func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				if _, err := SignDigest(ctx, key, digest, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/raw", func(b *testing.B) {
			for b.Loop() {
				if _, err := key.Sign(rand.Reader, digest, crypto.SHA256); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
