package signer

import (
	"context"
	"crypto/x509"
	"fmt"

	"github.com/oces-pki/oces/revocation"
)

// StatusSource answers the status of a certificate in process: the
// citizen service asks the CA that issued its one-time certificate a
// moment before, instead of a round trip to the OCSP responder that makes
// the responder sign. It is still a status check, made when the key is
// about to sign, so a certificate revoked in between does not sign. The
// Result needs no OCSP response or CRL; when it has none and the level
// embeds validation data (B-LT, B-LTA), the responder is asked as well,
// for the evidence.
type StatusSource interface {
	Status(ctx context.Context, cert, issuer *x509.Certificate) (*revocation.Result, error)
}

// statusOf is the status of cert from src, or from its status services
// when src is nil or gives nothing to embed where embed asks for it.
func (s *Service) statusOf(ctx context.Context, cert, issuer *x509.Certificate, src StatusSource, embed bool) (*revocation.Result, error) {
	if src == nil {
		return s.rev.Check(ctx, cert, issuer)
	}
	r, err := src.Status(ctx, cert, issuer)
	if err != nil {
		return nil, fmt.Errorf("signer: the status of %q in process: %w", cert.Subject, err)
	}
	if r == nil {
		return nil, fmt.Errorf("signer: the status of %q in process: no answer", cert.Subject)
	}
	if r.Certificate == nil || r.Issuer == nil {
		cp := *r
		cp.Certificate, cp.Issuer = cert, issuer
		r = &cp
	}
	if r.Status != revocation.Good || !embed || r.OCSP != nil || r.CRL != nil {
		return r, nil
	}
	return s.rev.Check(ctx, cert, issuer)
}
