package validate

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/oces-pki/oces/cades"
	"github.com/oces-pki/oces/revocation"
	"github.com/oces-pki/oces/tsa"
)

// tsResult is a verified (or not) time-stamp token.
type tsResult struct {
	info  TimeStampInfo
	cert  *x509.Certificate // the TSA's, when found
	chain []*x509.Certificate
}

// timeStamp validates one RFC 3161 token (EN 319 102-1 §5.4, time-stamp
// validation building block): the imprint against what it must cover, the
// token's signature, the unit's certificate (id-kp-timeStamping, RFC 3161
// §2.3) chained to a trust anchor at genTime, and the unit's revocation
// status as far as it can be had (a unit whose status is unknown is a
// warning in the reason, not a failure: its certificate is checked at
// genTime).
func (v *Validator) timeStamp(ctx context.Context, typ string, der []byte, imprint func(crypto.Hash) ([]byte, error), ev *evidence) tsResult {
	res := tsResult{info: TimeStampInfo{Type: typ}}
	fail := func(o outcome) tsResult {
		res.info.Indication, res.info.SubIndication, res.info.Reason = o.ind, o.sub, o.reason
		return res
	}
	tok, err := parseToken(der)
	if err != nil {
		return fail(failed(FormatFailure, "the %s is not an RFC 3161 token: %v", typ, err))
	}
	res.info.GenTime = tok.GenTime.UTC()
	switch tok.HashAlgorithm {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return fail(indeterminate(CryptoConstraintsFailure, "the %s's imprint uses %v", typ, tok.HashAlgorithm))
	}
	want, err := imprint(tok.HashAlgorithm)
	switch {
	case errors.Is(err, cades.ErrHashIndex), errors.Is(err, cades.ErrDigestMismatch):
		return fail(failed(HashFailure, "the %s does not cover the signature as it is: %v", typ, err))
	case errors.Is(err, cades.ErrUnsupported):
		return fail(indeterminate(CryptoConstraintsFailure, "%v", err))
	case err != nil:
		return fail(failed(FormatFailure, "%v", err))
	case !bytes.Equal(want, tok.HashedMessage):
		return fail(failed(HashFailure, "the %s's message imprint does not match what it time-stamps", typ))
	}
	tok.Certificates = append(tok.Certificates, ev.certs...)
	cert, err := tok.SignerCertificate()
	if err != nil {
		return fail(indeterminate(NoSigningCertificateFound, "the %s does not carry its unit's certificate", typ))
	}
	res.cert = cert
	res.info.TSA = cert.Subject.CommonName
	if o := v.keyConstraints(cert); !o.ok() {
		return fail(o)
	}
	roots := x509.NewCertPool()
	for _, a := range v.cfg.TrustAnchors {
		roots.AddCert(a)
	}
	if err := tok.Verify(roots, nil); err != nil {
		var unknown x509.UnknownAuthorityError
		var invalid x509.CertificateInvalidError
		switch {
		case errors.As(err, &unknown):
			return fail(indeterminate(NoCertificateChainFound, "the %s's unit %s does not chain to a trust anchor", typ, describe(cert)))
		case errors.As(err, &invalid):
			return fail(indeterminate(CertificateChainGeneralFailed, "the %s's unit certificate: %v", typ, err))
		case bytes.Contains([]byte(err.Error()), []byte("signature")) && !bytes.Contains([]byte(err.Error()), []byte("chain")):
			return fail(failed(SigCryptoFailed, "the %s: %v", typ, err))
		default:
			return fail(indeterminate(CertificateChainGeneralFailed, "the %s: %v", typ, err))
		}
	}
	// The unit's status: revoked before genTime voids the token.
	chain, _ := v.buildChain(ctx, cert, tok.Certificates, ev)
	res.chain = chain
	if len(chain) >= 2 && !revocation.NoCheck(cert) {
		st, err := v.status(ctx, cert, chain[1], ev, tok.GenTime)
		switch {
		case err != nil:
			res.info.Reason = fmt.Sprintf("the unit's revocation status was not checked: %v", err)
		case st.status == revocation.Revoked && !tok.GenTime.Before(st.revokedAt):
			return fail(indeterminate(RevokedNoPOE, "the %s's unit %s was revoked at %s, before genTime", typ, describe(cert), fmtTime(st.revokedAt)))
		case st.status == revocation.Hold && !tok.GenTime.Before(st.revokedAt):
			return fail(indeterminate(TryLater, "the %s's unit %s is suspended since %s", typ, describe(cert), fmtTime(st.revokedAt)))
		}
	}
	res.info.Indication = TotalPassed
	return res
}

func parseToken(der []byte) (tok *tsa.Token, err error) {
	defer func() {
		if p := recover(); p != nil {
			tok, err = nil, fmt.Errorf("parser failure: %v", p)
		}
	}()
	return tsa.ParseToken(der)
}
