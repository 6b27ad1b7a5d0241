package ca

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"sort"
	"strings"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3/lint"
)

// LintSources are the zlint sources every certificate must pass without
// errors or warnings before a CA key signs it.
var LintSources = lint.SourceList{lint.RFC5280, lint.RFC5480, lint.RFC5891, lint.RFC8813, lint.EtsiEsi}

// Linter checks a certificate before the CA key signs it.
//
// The CA key lives in the HSM and must sign only what will be issued, so
// the TBSCertificate is made and linted first, and signed only after that.
// crypto/x509 encodes it: CreateCertificate runs with the real template,
// issuer certificate and subject key, but with a tbsCapture in place of the
// CA key, which keeps the encoded TBSCertificate crypto/x509 hands it and
// signs nothing. The linted certificate is that TBSCertificate with a zero
// signature of the real length; Issue has the HSM sign the very same bytes
// (see signCertificate), so what is linted is byte for byte what is signed.
type Linter struct {
	lints  []*lint.CertificateLint
	config lint.Configuration
}

// NewLinter prepares the zlint registry for LintSources.
func NewLinter() (*Linter, error) {
	reg, err := lint.GlobalRegistry().Filter(lint.FilterOptions{IncludeSources: LintSources})
	if err != nil {
		return nil, fmt.Errorf("ca: building lint registry: %w", err)
	}
	// Every certificate lint of the sources runs on every certificate, as
	// zlint.LintCertificateEx runs them, without the sorted list of names
	// and the map of results it builds each time.
	return &Linter{lints: reg.CertificateLints().Lints(), config: reg.GetConfiguration()}, nil
}

// LintError lists the lints a certificate failed.
type LintError struct {
	Findings []string // "e_name: details"
}

func (e *LintError) Error() string {
	return "ca: certificate failed linting: " + strings.Join(e.Findings, "; ")
}

func (e *LintError) Unwrap() error { return ErrLint }

// prepare encodes the TBSCertificate that template, issuer and pub make
// when signed with sigAlg by the key of issuer.PublicKey, lints it, and
// returns it to be signed.
func (l *Linter) prepare(template, issuer *x509.Certificate, pub crypto.PublicKey, sigAlg x509.SignatureAlgorithm) ([]byte, error) {
	tbs, lintDER, err := encodeForLint(template, issuer, pub, sigAlg)
	if err != nil {
		return nil, err
	}
	return tbs, l.check(lintDER)
}

// encodeForLint returns the TBSCertificate of prepare and the certificate
// check lints: that TBSCertificate with a zero signature.
func encodeForLint(template, issuer *x509.Certificate, pub crypto.PublicKey, sigAlg x509.SignatureAlgorithm) (tbs, lintDER []byte, err error) {
	if tbs, err = encodeTBS(template, issuer, pub, sigAlg); err != nil {
		return nil, nil, err
	}
	if lintDER, err = unsignedCertificate(tbs, issuer.PublicKey); err != nil {
		return nil, nil, err
	}
	return tbs, lintDER, nil
}

// check runs the linter over one DER certificate.
func (l *Linter) check(der []byte) error {
	zc, err := zx509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("ca: parsing the certificate to lint: %w", err)
	}
	var findings []string
	for _, lt := range l.lints {
		r := lt.Execute(zc, l.config)
		if r.Status == lint.Error || r.Status == lint.Fatal || r.Status == lint.Warn {
			f := lt.Name
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
