package signer

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/oces-pki/oces/cades"
	"github.com/oces-pki/oces/revocation"
	"github.com/oces-pki/oces/tsa"
)

// evidence is validation data being gathered: certificates, OCSP
// responses and CRLs, each once (EN 319 102-1 clause 5.6.2.3 names what a
// verifier needs; EN 319 142-1 clause 5.4.2 and EN 319 122-1 clause 5.5 say
// where it goes).
type evidence struct {
	certs []*x509.Certificate
	ocsps [][]byte
	crls  [][]byte
}

func (e *evidence) addCert(c *x509.Certificate) {
	for _, have := range e.certs {
		if bytes.Equal(have.Raw, c.Raw) {
			return
		}
	}
	e.certs = append(e.certs, c)
}

func appendOnce(list [][]byte, b []byte) [][]byte {
	for _, have := range list {
		if bytes.Equal(have, b) {
			return list
		}
	}
	return append(list, b)
}

func (e *evidence) addResult(r *revocation.Result) {
	e.addCert(r.Certificate)
	e.addCert(r.Issuer)
	for _, c := range r.Responder {
		e.addCert(c)
	}
	if r.OCSP != nil {
		e.ocsps = appendOnce(e.ocsps, r.OCSP)
	}
	if r.CRL != nil {
		e.crls = appendOnce(e.crls, r.CRL)
	}
}

// chain gathers the certificates from leaf to its root (from pool or the
// caIssuers URLs) and the status of each but the root. With strict (our
// own signing certificate), a certificate that is not good and a chain
// that cannot be completed are errors; otherwise (someone else's
// signature being extended) the evidence is kept for the verifier to
// judge, and a chain that ends early is logged. A status source that does
// not answer is always an error: the level would be a lie without it.
func (s *Service) chain(ctx context.Context, leaf *x509.Certificate, pool []*x509.Certificate, e *evidence, strict bool) error {
	return s.chainStatus(ctx, leaf, pool, e, strict, nil, false)
}

// chainStatus is chain with the leaf's status from src when it is not
// nil (see statusOf).
func (s *Service) chainStatus(ctx context.Context, leaf *x509.Certificate, pool []*x509.Certificate, e *evidence, strict bool, src StatusSource, embed bool) error {
	chain, err := s.rev.BuildChain(ctx, leaf, pool)
	if err != nil {
		if strict {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		s.log.WarnContext(ctx, "signer: the chain ends before a root; keeping what there is", "subject", leaf.Subject.String(), "err", err)
	}
	for _, c := range chain {
		e.addCert(c)
	}
	for i := 0; i+1 < len(chain); i++ {
		cert := chain[i]
		if revocation.NoCheck(cert) {
			continue
		}
		var r *revocation.Result
		if i == 0 {
			r, err = s.statusOf(ctx, cert, chain[i+1], src, embed)
		} else {
			r, err = s.rev.Check(ctx, cert, chain[i+1])
		}
		switch {
		case errors.Is(err, revocation.ErrNoSource):
			s.log.InfoContext(ctx, "signer: a certificate names no status source", "subject", cert.Subject.String())
			continue
		case err != nil:
			return fmt.Errorf("%w: validation data for %q: %w", ErrUnavailable, cert.Subject, err)
		}
		e.addResult(r)
		if r.Status != revocation.Good {
			if strict {
				return fmt.Errorf("%w: %q is %s", ErrCertificateNotGood, cert.Subject, r.Status)
			}
			s.log.WarnContext(ctx, "signer: a certificate in the validation data is not good", "subject", cert.Subject.String(), "status", r.Status.String())
		}
	}
	return nil
}

// token gathers the validation data of a time-stamp token's unit.
func (s *Service) token(ctx context.Context, der []byte, pool []*x509.Certificate, e *evidence) error {
	tok, err := tsa.ParseToken(der)
	if err != nil {
		return fmt.Errorf("%w: a time-stamp token in the document: %w", ErrInvalidDocument, err)
	}
	leaf, err := tok.SignerCertificate()
	if err != nil {
		return fmt.Errorf("%w: a time-stamp token names no certificate it carries: %w", ErrInvalidDocument, err)
	}
	return s.chain(ctx, leaf, append(tok.Certificates, pool...), e, false)
}

// tokenEvidence gathers the validation data of the time-stamps in a CMS
// we just made (its signer's is already in e).
func (s *Service) tokenEvidence(ctx context.Context, der []byte, e *evidence) error {
	sd, err := cades.Parse(der)
	if err != nil {
		return fmt.Errorf("signer: reading back our own CMS: %w", err)
	}
	for _, si := range sd.Signers {
		for _, tok := range si.SignatureTimeStamps {
			if err := s.token(ctx, tok, sd.Certificates, e); err != nil {
				return err
			}
		}
	}
	return nil
}
