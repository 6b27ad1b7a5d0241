package validate_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/oces-pki/oces/cades"
	"github.com/oces-pki/oces/pades"
	"github.com/oces-pki/oces/pades/testdata/corpus"
	"github.com/oces-pki/oces/tsa"
	"github.com/oces-pki/oces/validate"
)

// BenchmarkValidatePDF1MB validates a 1 MB PAdES B-LTA file with its
// revocation data embedded, offline, and reports next to it the baseline
// measured in the same run: hashing the signed ranges of the file and
// verifying the same signatures with crypto/x509 (the signer's, the
// signature time-stamp's, the document time-stamp's, the chains' and the
// embedded OCSP responses' and CRLs'), which a validation cannot avoid.
func BenchmarkValidatePDF1MB(b *testing.B) {
	f := newFixture(b)
	pdf := f.signPDF(b, f.seal, cades.LevelBLTA, corpus.SizedBytes(1_000_000))
	v, err := validate.New(validate.Config{TrustAnchors: []*x509.Certificate{f.pki.Root}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	r, err := v.ValidatePDF(ctx, pdf)
	if err != nil || !r.Passed() {
		b.Fatalf("the benchmark file does not pass: %v %+v", err, r)
	}
	base := newBaseline(b, pdf, f.pki.Root)
	b.SetBytes(int64(len(pdf)))
	b.ResetTimer()
	// Validation and baseline alternate, so that both see the same load
	// of a shared machine; CPU time (getrusage, GC included) is reported
	// too, as wall time on a loaded machine is noisy.
	var validating, hashing, validatingCPU, hashingCPU time.Duration
	for i := 0; i < b.N; i++ {
		t0, c0 := time.Now(), cpuTime()
		if _, err := v.ValidatePDF(ctx, pdf); err != nil {
			b.Fatal(err)
		}
		t1, c1 := time.Now(), cpuTime()
		base.run(b)
		validating, hashing = validating+t1.Sub(t0), hashing+time.Since(t1)
		validatingCPU, hashingCPU = validatingCPU+c1-c0, hashingCPU+cpuTime()-c1
	}
	b.ReportMetric(float64(b.N)/validating.Seconds(), "validations/s")
	b.ReportMetric(float64(b.N)/hashing.Seconds(), "baseline/s")
	b.ReportMetric(100*hashing.Seconds()/validating.Seconds(), "pct-of-baseline")
	b.ReportMetric(100*hashingCPU.Seconds()/validatingCPU.Seconds(), "pct-of-baseline-cpu")
}

// cpuTime is the process's user and system time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// baseline is the unavoidable work of one validation.
type baseline struct {
	pdf    []byte
	ranges [][]int64
	sigs   []check // signatures over bytes, with the key that made them
}

type check struct {
	cert *x509.Certificate
	alg  x509.SignatureAlgorithm
	data []byte
	sig  []byte
}

func newBaseline(b *testing.B, pdf []byte, root *x509.Certificate) *baseline {
	doc, err := pades.Open(pdf)
	if err != nil {
		b.Fatal(err)
	}
	sigs, err := doc.Signatures()
	if err != nil {
		b.Fatal(err)
	}
	dss, err := doc.DSS()
	if err != nil || dss == nil {
		b.Fatalf("no DSS: %v", err)
	}
	bl := &baseline{pdf: pdf}
	var pool []*x509.Certificate
	for _, der := range dss.Certs {
		if c, err := x509.ParseCertificate(der); err == nil {
			pool = append(pool, c)
		}
	}
	issuerOf := func(c *x509.Certificate) *x509.Certificate {
		for _, p := range append(pool, root) {
			if c.CheckSignatureFrom(p) == nil && p != c {
				return p
			}
		}
		return nil
	}
	addChain := func(leaf *x509.Certificate) {
		for c := leaf; c != nil && c != root; {
			is := issuerOf(c)
			if is == nil {
				return
			}
			bl.sigs = append(bl.sigs, check{is, c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature})
			c = is
		}
	}
	addToken := func(der []byte) {
		tok, err := tsa.ParseToken(der)
		if err != nil {
			b.Fatal(err)
		}
		sd, _, err := cades.ParseTimeStampToken(der)
		if err != nil {
			b.Fatal(err)
		}
		cert, _ := tok.SignerCertificate()
		si := sd.Signers[0]
		bl.sigs = append(bl.sigs, check{cert, si.SignatureAlgorithm, si.RawSignedAttributes, si.Signature})
		addChain(cert)
	}
	for _, s := range sigs {
		bl.ranges = append(bl.ranges, s.ByteRange)
		if s.Type == "DocTimeStamp" {
			addToken(s.Contents)
			continue
		}
		sd, err := cades.Parse(s.Contents)
		if err != nil {
			b.Fatal(err)
		}
		si := sd.Signers[0]
		bl.sigs = append(bl.sigs, check{si.Certificate, si.SignatureAlgorithm, si.RawSignedAttributes, si.Signature})
		addChain(si.Certificate)
		for _, tok := range si.SignatureTimeStamps {
			addToken(tok)
		}
	}
	for _, der := range dss.OCSPs {
		resp, err := ocsp.ParseResponse(der, nil)
		if err != nil {
			b.Fatal(err)
		}
		signer := resp.Certificate
		if signer == nil {
			for _, c := range pool {
				if resp.CheckSignatureFrom(c) == nil {
					signer = c
				}
			}
		}
		bl.sigs = append(bl.sigs, check{signer, resp.SignatureAlgorithm, resp.TBSResponseData, resp.Signature})
	}
	for _, der := range dss.CRLs {
		list, err := x509.ParseRevocationList(der)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range append(pool, root) {
			if list.CheckSignatureFrom(c) == nil {
				bl.sigs = append(bl.sigs, check{c, list.SignatureAlgorithm, list.RawTBSRevocationList, list.Signature})
			}
		}
	}
	return bl
}

func (bl *baseline) run(b *testing.B) {
	for _, br := range bl.ranges {
		h := sha256.New()
		for i := 0; i+1 < len(br); i += 2 {
			h.Write(bl.pdf[br[i] : br[i]+br[i+1]])
		}
		_ = h.Sum(nil)
	}
	for _, c := range bl.sigs {
		if err := c.cert.CheckSignature(c.alg, c.data, c.sig); err != nil {
			b.Fatalf("baseline: %v", err)
		}
	}
}
