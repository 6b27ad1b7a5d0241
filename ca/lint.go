package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"sort"
	"strings"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// LintSources are the zlint sources every certificate must pass without
// errors or warnings before a CA key signs it.
var LintSources = lint.SourceList{lint.RFC5280, lint.RFC5480, lint.RFC5891, lint.RFC8813, lint.EtsiEsi}

// Linter checks a certificate before the CA key signs it.
//
// The CA key lives in the HSM and must sign only what will be issued, so the
// certificate that is linted is a twin: the same TBSCertificate, produced by
// crypto/x509 from the same template but signed by a throwaway in-memory
// P-256 key whose "issuer" has the real issuer's name and key identifier.
// Its signature algorithm fields are then rewritten to the real ones, so the
// linted TBSCertificate is byte for byte the one the HSM will sign; Issue
// checks that equality after signing. An ECDSA signature in memory costs
// microseconds, where a second RSA signature would halve issuance throughput.
type Linter struct {
	registry lint.Registry
	key      *ecdsa.PrivateKey
}

// NewLinter prepares the zlint registry for LintSources.
func NewLinter() (*Linter, error) {
	reg, err := lint.GlobalRegistry().Filter(lint.FilterOptions{IncludeSources: LintSources})
	if err != nil {
		return nil, fmt.Errorf("ca: building lint registry: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ca: generating lint key: %w", err)
	}
	return &Linter{registry: reg, key: key}, nil
}

// LintError lists the lints a certificate failed.
type LintError struct {
	Findings []string // "e_name: details"
}

func (e *LintError) Error() string {
	return "ca: certificate failed linting: " + strings.Join(e.Findings, "; ")
}

func (e *LintError) Unwrap() error { return ErrLint }

// prepare builds the twin of the certificate that template, issuer and pub
// will make, lints it, and returns the TBSCertificate to be signed.
func (l *Linter) prepare(template, issuer *x509.Certificate, pub crypto.PublicKey, sigAlg x509.SignatureAlgorithm) ([]byte, error) {
	lintIssuer := &x509.Certificate{
		RawSubject:            issuer.RawSubject,
		SubjectKeyId:          issuer.SubjectKeyId,
		PublicKey:             l.key.Public(),
		PublicKeyAlgorithm:    x509.ECDSA,
		BasicConstraintsValid: true,
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	twin := *template
	twin.SignatureAlgorithm = x509.ECDSAWithSHA256
	der, err := x509.CreateCertificate(rand.Reader, &twin, lintIssuer, pub, l.key)
	if err != nil {
		return nil, fmt.Errorf("ca: building the certificate to lint: %w", err)
	}
	tbs, lintDER, err := replaceSignatureAlgorithm(der, sigAlg)
	if err != nil {
		return nil, err
	}
	return tbs, l.check(lintDER)
}

// check runs the linter over one DER certificate.
func (l *Linter) check(der []byte) error {
	zc, err := zx509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("ca: parsing the certificate to lint: %w", err)
	}
	res := zlint.LintCertificateEx(zc, l.registry)
	var findings []string
	for name, r := range res.Results {
		if r.Status == lint.Error || r.Status == lint.Fatal || r.Status == lint.Warn {
			f := name
			if r.Details != "" {
				f += ": " + r.Details
			}
			findings = append(findings, f)
		}
	}
	if len(findings) > 0 {
		sort.Strings(findings)
		return &LintError{Findings: findings}
	}
	return nil
}

// replaceSignatureAlgorithm rewrites the signature AlgorithmIdentifier in a
// certificate's TBSCertificate and outer structure, and replaces the
// signature by zeros of the length the real algorithm produces. It returns
// the new TBSCertificate and the whole rewritten certificate.
func replaceSignatureAlgorithm(cert []byte, alg x509.SignatureAlgorithm) (tbs, full []byte, err error) {
	algID, sigLen, err := algorithmIdentifier(alg)
	if err != nil {
		return nil, nil, err
	}
	in := cryptobyte.String(cert)
	var certSeq, tbsSeq cryptobyte.String
	var version, serial, oldAlg cryptobyte.String
	var versionTag cbasn1.Tag
	if !in.ReadASN1(&certSeq, cbasn1.SEQUENCE) ||
		!certSeq.ReadASN1(&tbsSeq, cbasn1.SEQUENCE) ||
		!tbsSeq.ReadAnyASN1Element(&version, &versionTag) ||
		!tbsSeq.ReadASN1Element(&serial, cbasn1.INTEGER) ||
		!tbsSeq.ReadASN1Element(&oldAlg, cbasn1.SEQUENCE) {
		return nil, nil, fmt.Errorf("ca: malformed certificate from crypto/x509")
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(version)
		b.AddBytes(serial)
		b.AddBytes(algID)
		b.AddBytes(tbsSeq) // the rest of the TBSCertificate, unchanged
	})
	tbs, err = b.Bytes()
	if err != nil {
		return nil, nil, fmt.Errorf("ca: re-encoding TBSCertificate: %w", err)
	}
	var c cryptobyte.Builder
	c.AddASN1(cbasn1.SEQUENCE, func(c *cryptobyte.Builder) {
		c.AddBytes(tbs)
		c.AddBytes(algID)
		c.AddASN1BitString(make([]byte, sigLen))
	})
	full, err = c.Bytes()
	if err != nil {
		return nil, nil, fmt.Errorf("ca: re-encoding certificate: %w", err)
	}
	return tbs, full, nil
}

var (
	oidSHA256WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
)

// algorithmIdentifier is the DER AlgorithmIdentifier crypto/x509 writes for
// alg, and a plausible signature length for the lint twin.
func algorithmIdentifier(alg x509.SignatureAlgorithm) ([]byte, int, error) {
	var b cryptobyte.Builder
	var sigLen int
	switch alg {
	case x509.SHA256WithRSA:
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidSHA256WithRSA)
			b.AddASN1NULL()
		})
		sigLen = 384
	case x509.ECDSAWithSHA256, x509.ECDSAWithSHA384:
		oid := oidECDSAWithSHA256
		if alg == x509.ECDSAWithSHA384 {
			oid = oidECDSAWithSHA384
		}
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oid) })
		sigLen = 72
	default:
		return nil, 0, fmt.Errorf("ca: signature algorithm %s is not supported", alg)
	}
	der, err := b.Bytes()
	return der, sigLen, err
}
