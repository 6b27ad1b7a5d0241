package validate

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/oces-pki/oces/cades"
)

// sigInput is what one signature's validation needs.
type sigInput struct {
	id, format string
	subFilter  string
	sd         *cades.SignedData
	si         *cades.SignerInfo
	content    []byte    // the signed content (CMS)
	signed     io.Reader // or a reader over it (PDF /ByteRange)
	claimed    time.Time // the claimed signing time (/M or signing-time)
	ev         *evidence
	// external proofs of existence: document time-stamps after the
	// signature (PDF).
	poes []poe
	// coveredLTV: a valid time-stamp covers the document's validation data
	// (B-LTA by a document time-stamp).
	coveredLTV bool
}

// poe is a proof of existence at a time (EN 319 102-1 §5.6.2.3).
type poe struct {
	at     time.Time
	source string
}

// signature runs the validation process for one signature (EN 319 102-1
// §5.3 basic, §5.5 with time, §5.6 long-term) and returns its report.
func (v *Validator) signature(ctx context.Context, in *sigInput) SignatureReport {
	now := v.now()
	r := SignatureReport{ID: in.id, Type: "signature", Format: in.format, BestSignatureTime: now.UTC(), SigningTimeProof: "none"}
	si := in.si
	if !in.claimed.IsZero() {
		t := in.claimed.UTC()
		r.ClaimedSigningTime = &t
	}
	if si.Hash != 0 {
		r.DigestAlgorithm = si.Hash.String()
	}

	// 1. Identification of the signing certificate (§5.2.3).
	leaf := si.Certificate
	if leaf == nil {
		r.set(indeterminate(NoSigningCertificateFound, "the CMS does not carry the certificate its SignerInfo names"))
		return r
	}
	r.Signer = signerOf(leaf)
	bound := len(si.SigningCertificateV2) > 0
	if err := si.CheckSigningCertificate(leaf); err != nil {
		if bound {
			r.set(indeterminate(NoSigningCertificateFound, "%v", err))
			return r
		}
		r.warn("no signing-certificate-v2 attribute binds the certificate (not a CAdES or PAdES baseline signature)")
	}

	// 2. Cryptographic verification (§5.2.7): digest, then signature.
	content := in.signed
	if content == nil {
		content = bytes.NewReader(in.content)
	}
	if err := si.CheckMessageDigest(content); err != nil {
		switch {
		case errors.Is(err, cades.ErrDigestMismatch):
			r.set(failed(HashFailure, "the signed content does not hash to the message-digest attribute"))
		case errors.Is(err, cades.ErrUnsupported):
			r.set(indeterminate(CryptoConstraintsFailure, "%v", err))
		default:
			r.set(failed(FormatFailure, "%v", err))
		}
		return r
	}
	if err := si.VerifySignature(leaf); err != nil {
		switch {
		case errors.Is(err, cades.ErrSignatureInvalid):
			r.set(failed(SigCryptoFailed, "the signature value does not verify with the signer's public key"))
		case errors.Is(err, cades.ErrUnsupported):
			r.set(indeterminate(CryptoConstraintsFailure, "%v", err))
		default:
			r.set(failed(FormatFailure, "%v", err))
		}
		return r
	}
	// 3. Cryptographic constraints (§5.2.8).
	if o := v.constraints(si.Hash, leaf); !o.ok() {
		r.set(o)
		return r
	}

	// 4. Time-stamps: proofs of existence of the signature (§5.5, §5.6).
	poes, tsOutcome := v.signatureTimeStamps(ctx, in, &r)
	if !tsOutcome.ok() {
		r.set(tsOutcome)
		return r
	}
	best := poe{at: now, source: "none"}
	for _, p := range poes {
		if p.at.Before(best.at) {
			best = p
		}
	}
	r.BestSignatureTime, r.SigningTimeProof = best.at.UTC(), best.source
	if !in.claimed.IsZero() && best.source != "none" && in.claimed.After(best.at.Add(clockSkew)) {
		r.warn("the claimed signing time %s is after the time-stamp's %s", in.claimed.UTC().Format(time.RFC3339), best.at.UTC().Format(time.RFC3339))
	}

	// 5. The certificate chain, its validity and revocation (§5.2.6, §5.6.2).
	cr := v.checkChain(ctx, leaf, in.ev, best, in.claimed, &r)
	if !cr.outcome.ok() {
		r.set(cr.outcome)
		return r
	}

	// 6. The level reached (EN 319 122-1 / EN 319 142-1 clause 6).
	r.Level = "B-B"
	if !bound {
		r.Level = ""
	}
	if bound && best.source != "none" {
		r.Level = "B-T"
		if cr.embedded {
			r.Level = "B-LT"
			if in.coveredLTV || hasPOE(poes, "archive-time-stamp") {
				r.Level = "B-LTA"
			}
		}
	}
	r.set(passed())
	return r
}

// clockSkew tolerates clocks of signer and TSA that are a little apart.
const clockSkew = 5 * time.Minute

func hasPOE(poes []poe, source string) bool {
	for _, p := range poes {
		if p.source == source {
			return true
		}
	}
	return false
}

// constraints checks the digest and the key against the policy.
func (v *Validator) constraints(h crypto.Hash, cert *x509.Certificate) outcome {
	switch h {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512, crypto.SHA3_256, crypto.SHA3_384, crypto.SHA3_512:
	default:
		return indeterminate(CryptoConstraintsFailure, "the digest algorithm %v is too weak", h)
	}
	return v.keyConstraints(cert)
}

func (v *Validator) keyConstraints(cert *x509.Certificate) outcome {
	switch k := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < v.cfg.MinRSABits {
			return indeterminate(CryptoConstraintsFailure, "the RSA key of %s has %d bits; at least %d are required", cert.Subject, k.N.BitLen(), v.cfg.MinRSABits)
		}
	case *ecdsa.PublicKey:
		if k.Curve.Params().BitSize < v.cfg.MinECBits {
			return indeterminate(CryptoConstraintsFailure, "the EC key of %s is on a %d-bit curve; at least %d bits are required", cert.Subject, k.Curve.Params().BitSize, v.cfg.MinECBits)
		}
	case ed25519.PublicKey:
	default:
		return indeterminate(CryptoConstraintsFailure, "the key type %T of %s is not supported", cert.PublicKey, cert.Subject)
	}
	return passed()
}

// signatureTimeStamps verifies the signature-time-stamps and archive
// time-stamps of the SignerInfo and adds the external POEs; a token that
// does not verify is reported and not used.
func (v *Validator) signatureTimeStamps(ctx context.Context, in *sigInput, r *SignatureReport) ([]poe, outcome) {
	var poes []poe
	var sigTimes []time.Time
	for _, tok := range in.si.SignatureTimeStamps {
		imprint := func(h crypto.Hash) ([]byte, error) { return in.si.SignatureTimeStampImprint(h) }
		ts := v.timeStamp(ctx, "signature-time-stamp", tok, imprint, in.ev)
		r.TimeStamps = append(r.TimeStamps, ts.info)
		if ts.info.Indication == TotalPassed {
			poes = append(poes, poe{ts.info.GenTime, "signature-time-stamp"})
			sigTimes = append(sigTimes, ts.info.GenTime)
		} else {
			r.warn("a signature-time-stamp was not used: %s", ts.info.Reason)
		}
	}
	for i, tok := range in.si.ArchiveTimeStamps {
		i := i
		content := in.content
		imprint := func(crypto.Hash) ([]byte, error) {
			im, _, err := in.sd.ArchiveTimeStampImprint(in.si, i, bytes.NewReader(content))
			return im, err
		}
		ts := v.timeStamp(ctx, "archive-time-stamp", tok, imprint, in.ev)
		r.TimeStamps = append(r.TimeStamps, ts.info)
		if ts.info.Indication == TotalPassed {
			poes = append(poes, poe{ts.info.GenTime, "archive-time-stamp"})
			for _, st := range sigTimes {
				if ts.info.GenTime.Before(st) {
					return nil, indeterminate(TimestampOrderFailure, "an archive-time-stamp (%s) is older than the signature-time-stamp it covers (%s)",
						ts.info.GenTime.Format(time.RFC3339), st.Format(time.RFC3339))
				}
			}
		} else {
			r.warn("an archive-time-stamp was not used: %s", ts.info.Reason)
		}
	}
	for _, p := range in.poes {
		for _, st := range sigTimes {
			if p.at.Before(st) {
				return nil, indeterminate(TimestampOrderFailure, "a document time-stamp (%s) is older than the signature-time-stamp of the signature it covers (%s)",
					p.at.Format(time.RFC3339), st.Format(time.RFC3339))
			}
		}
		poes = append(poes, p)
	}
	return poes, passed()
}

// describe names a certificate for messages.
func describe(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return fmt.Sprintf("%q", c.Subject.CommonName)
	}
	return c.Subject.String()
}
