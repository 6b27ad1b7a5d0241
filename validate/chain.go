package validate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/oces-pki/oces/revocation"
)

// evidence is the validation data a document carries: certificates, OCSP
// responses and CRLs (DSS, VRI, SignedData.certificates and crls).
type evidence struct {
	certs []*x509.Certificate
	ocsps []embeddedOCSP
	crls  []embeddedCRL
	// verified holds the (child, parent) signature checks that passed
	// while validating this document, shared by every copy (with).
	verified map[[64]byte]bool
}

type embeddedOCSP struct {
	der    []byte
	serial string // of the first SingleResponse, read without verifying; "" if unreadable
}

type embeddedCRL struct {
	der  []byte
	list *x509.RevocationList
}

func newEvidence(certs []*x509.Certificate, ocsps, crls [][]byte) *evidence {
	return (&evidence{verified: map[[64]byte]bool{}}).with(certs, ocsps, crls)
}

// with returns a copy of e with more data; e is not changed.
func (e *evidence) with(certs []*x509.Certificate, ocsps, crls [][]byte) *evidence {
	out := &evidence{certs: append([]*x509.Certificate(nil), e.certs...), ocsps: append([]embeddedOCSP(nil), e.ocsps...),
		crls: append([]embeddedCRL(nil), e.crls...), verified: e.verified}
	out.certs = append(out.certs, certs...)
	for _, der := range ocsps {
		o := embeddedOCSP{der: der}
		if resp, err := ocsp.ParseResponse(der, nil); err == nil && resp.SerialNumber != nil {
			o.serial = resp.SerialNumber.String()
		}
		out.ocsps = append(out.ocsps, o)
	}
	for _, der := range crls {
		if list, err := x509.ParseRevocationList(der); err == nil {
			out.crls = append(out.crls, embeddedCRL{der: der, list: list})
		}
	}
	return out
}

// status is a certificate's revocation status as the validator found it.
type status struct {
	status     revocation.Status
	revokedAt  time.Time
	reason     int
	thisUpdate time.Time
	embedded   bool
	source     string
	url        string
}

// lookup finds the status of cert at time at in the embedded data:
// verified OCSP responses first, then CRLs signed by issuer. Evidence of
// revocation wins over evidence of good standing; otherwise the newest
// answer counts. A "good" answer whose nextUpdate is before at says
// nothing about at (EN 319 102-1 §5.2.5, revocation freshness) and is
// left out.
func (e *evidence) lookup(cert, issuer *x509.Certificate, at time.Time) *status {
	var best *status
	consider := func(s *status, nextUpdate time.Time) {
		if s.status == revocation.Good && !nextUpdate.IsZero() && nextUpdate.Before(at.Add(-clockSkew)) {
			return
		}
		switch {
		case best == nil,
			s.status == revocation.Revoked || s.status == revocation.Hold:
			if best == nil || best.status == revocation.Good || best.status == revocation.Unknown {
				best = s
			}
		case best.status == revocation.Good && s.thisUpdate.After(best.thisUpdate):
			best = s
		}
	}
	serial := cert.SerialNumber.String()
	for _, o := range e.ocsps {
		if o.serial != "" && o.serial != serial {
			continue
		}
		resp, err := ocsp.ParseResponseForCert(o.der, cert, issuer)
		if err != nil || !authorisedResponder(resp, issuer) {
			continue
		}
		s := &status{thisUpdate: resp.ThisUpdate, embedded: true, source: "embedded OCSP"}
		switch resp.Status {
		case ocsp.Good:
			s.status = revocation.Good
		case ocsp.Revoked:
			s.status, s.revokedAt, s.reason = revocation.Revoked, resp.RevokedAt, resp.RevocationReason
			if resp.RevocationReason == ocsp.CertificateHold {
				s.status = revocation.Hold
			}
		default:
			s.status = revocation.Unknown
		}
		consider(s, resp.NextUpdate)
	}
	for _, c := range e.crls {
		if !bytes.Equal(c.list.RawIssuer, issuer.RawSubject) || c.list.CheckSignatureFrom(issuer) != nil {
			continue
		}
		s := &status{status: revocation.Good, thisUpdate: c.list.ThisUpdate, embedded: true, source: "embedded CRL"}
		for _, rc := range c.list.RevokedCertificateEntries {
			if rc.SerialNumber.Cmp(cert.SerialNumber) == 0 {
				s.status, s.revokedAt, s.reason = revocation.Revoked, rc.RevocationTime, rc.ReasonCode
				if rc.ReasonCode == ocsp.CertificateHold {
					s.status = revocation.Hold
				}
			}
		}
		consider(s, c.list.NextUpdate)
	}
	return best
}

// authorisedResponder reports whether resp was signed by the CA itself or
// by a responder it delegated to: a certificate it issued with
// id-kp-OCSPSigning, valid when the response was produced (RFC 6960
// §4.2.2.2). x/crypto/ocsp checks only that the CA signed the responder's
// certificate, which any certificate of the CA passes.
func authorisedResponder(resp *ocsp.Response, issuer *x509.Certificate) bool {
	rc := resp.Certificate
	if rc == nil || bytes.Equal(rc.Raw, issuer.Raw) {
		return true
	}
	if resp.ProducedAt.Before(rc.NotBefore) || resp.ProducedAt.After(rc.NotAfter) {
		return false
	}
	for _, u := range rc.ExtKeyUsage {
		if u == x509.ExtKeyUsageOCSPSigning {
			return true
		}
	}
	return false
}

// errOffline: no embedded data and no live fetcher.
var errOffline = errors.New("validate: the document carries no revocation data and live checking is off")

// status finds cert's status: embedded data first, else live.
func (v *Validator) status(ctx context.Context, cert, issuer *x509.Certificate, ev *evidence, at time.Time) (*status, error) {
	if s := ev.lookup(cert, issuer, at); s != nil {
		return s, nil
	}
	if len(cert.OCSPServer) == 0 && len(cert.CRLDistributionPoints) == 0 {
		return nil, fmt.Errorf("validate: %w (%s)", revocation.ErrNoSource, describe(cert))
	}
	if v.cfg.Revocation == nil {
		return nil, errOffline
	}
	res, err := v.cfg.Revocation.Check(ctx, cert, issuer)
	if err != nil {
		return nil, err
	}
	return &status{status: res.Status, revokedAt: res.RevokedAt, reason: res.Reason, thisUpdate: res.ThisUpdate,
		source: map[string]string{"ocsp": "OCSP", "crl": "CRL"}[res.Source], url: res.URL}, nil
}

// anchor returns the trust anchor c is, or nil.
func (v *Validator) anchor(c *x509.Certificate) *x509.Certificate {
	return v.anchors[sha256.Sum256(c.Raw)]
}

// buildChain orders a chain from leaf to a trust anchor, with issuers from
// pool, the anchors and, when live checking is on, caIssuers. ok is false
// when no anchor is reached; the chain is as far as it got.
func (v *Validator) buildChain(ctx context.Context, leaf *x509.Certificate, pool []*x509.Certificate, ev *evidence) ([]*x509.Certificate, bool) {
	chain := []*x509.Certificate{leaf}
	for cur := leaf; len(chain) <= 10; {
		if v.anchor(cur) != nil {
			return chain, true
		}
		next := v.findIssuer(cur, pool, ev)
		if next == nil && v.cfg.Revocation != nil && v.cfg.FetchIssuers && !revocation.SelfSigned(cur) {
			if c, err := v.cfg.Revocation.Issuer(ctx, cur); err == nil {
				next = c
			}
		}
		if next == nil {
			return chain, false
		}
		chain = append(chain, next)
		cur = next
	}
	return chain, false
}

func (v *Validator) findIssuer(cert *x509.Certificate, pool []*x509.Certificate, ev *evidence) *x509.Certificate {
	try := func(c *x509.Certificate) bool {
		return bytes.Equal(c.RawSubject, cert.RawIssuer) && !bytes.Equal(c.Raw, cert.Raw) && v.signedBy(cert, c, ev)
	}
	for _, c := range v.cfg.TrustAnchors {
		if try(c) {
			return c
		}
	}
	for _, c := range pool {
		if try(c) {
			return c
		}
	}
	return nil
}

// maxVerified bounds the Validator's cache of CA certificate signatures.
const maxVerified = 4096

// signedBy checks that parent signed child, remembering a success: for the
// rest of the document, and across documents when child is a CA (the few
// CA certificates recur in every document; leaves do not).
func (v *Validator) signedBy(child, parent *x509.Certificate, ev *evidence) bool {
	var key [64]byte
	a, b := sha256.Sum256(child.Raw), sha256.Sum256(parent.Raw)
	copy(key[:32], a[:])
	copy(key[32:], b[:])
	if ev.verified[key] {
		return true
	}
	v.mu.Lock()
	known := v.verified[key]
	v.mu.Unlock()
	if known {
		return true
	}
	if child.CheckSignatureFrom(parent) != nil {
		return false
	}
	ev.verified[key] = true
	if child.IsCA {
		v.mu.Lock()
		if len(v.verified) >= maxVerified {
			v.verified = map[[64]byte]bool{}
		}
		v.verified[key] = true
		v.mu.Unlock()
	}
	return true
}

// chainResult is the outcome of X.509 validation of the signer's chain.
type chainResult struct {
	outcome  outcome
	embedded bool // every status came from the document
}

// checkChain validates the chain of leaf at the best signature time (EN
// 319 102-1 §5.2.6 with the past certificate validation of §5.6.2.1):
// validity against the claimed and the proven time, then the revocation
// status of each certificate but the anchor.
func (v *Validator) checkChain(ctx context.Context, leaf *x509.Certificate, ev *evidence, best poe, claimed time.Time, r *SignatureReport) chainResult {
	now := v.now()
	chain, ok := v.buildChain(ctx, leaf, ev.certs, ev)
	for _, c := range chain {
		r.Chain = append(r.Chain, certInfo(c, v.anchor(c) != nil))
	}
	if !ok {
		return chainResult{outcome: indeterminate(NoCertificateChainFound, "no chain from %s to a trust anchor (issuer %s is not known)", describe(leaf), chain[len(chain)-1].Issuer)}
	}
	proven := best.source != "none"
	// 1. The signing certificate's validity (§5.2.6, §5.6.2.4).
	switch {
	case !claimed.IsZero() && claimed.Before(leaf.NotBefore.Add(-clockSkew)):
		return chainResult{outcome: failed(NotYetValid, "the claimed signing time %s is before the certificate's notBefore %s", fmtTime(claimed), fmtTime(leaf.NotBefore))}
	case proven && best.at.Before(leaf.NotBefore):
		return chainResult{outcome: failed(NotYetValid, "a %s proves the signature existed at %s, before the certificate's notBefore %s", best.source, fmtTime(best.at), fmtTime(leaf.NotBefore))}
	case !claimed.IsZero() && claimed.After(leaf.NotAfter.Add(clockSkew)):
		return chainResult{outcome: failed(Expired, "the claimed signing time %s is after the certificate expired at %s", fmtTime(claimed), fmtTime(leaf.NotAfter))}
	case now.Before(leaf.NotBefore):
		return chainResult{outcome: indeterminate(NotYetValid, "the signing certificate is valid from %s", fmtTime(leaf.NotBefore))}
	}
	outOfBounds := now.After(leaf.NotAfter) && !(proven && best.at.Before(leaf.NotAfter))
	if now.After(leaf.NotAfter) && !outOfBounds {
		r.warn("the signing certificate expired at %s; a %s proves the signature existed at %s, while it was valid", fmtTime(leaf.NotAfter), best.source, fmtTime(best.at))
	}
	// 2. The CAs: CA certificates, strong keys, valid at the best signature time.
	for _, c := range chain[1:] {
		if v.anchor(c) != nil {
			continue // a trust anchor is trusted as configured
		}
		if c.Version >= 3 && !c.IsCA {
			return chainResult{outcome: indeterminate(CertificateChainGeneralFailed, "%s issued %s but is not a CA certificate", describe(c), describe(leaf))}
		}
		if o := v.keyConstraints(c); !o.ok() {
			return chainResult{outcome: o}
		}
		if best.at.Before(c.NotBefore) || best.at.After(c.NotAfter) {
			return chainResult{outcome: indeterminate(CertificateChainGeneralFailed, "the CA certificate %s is not valid at %s", describe(c), fmtTime(best.at))}
		}
	}
	// 3. Revocation (§5.2.6 step 4; §5.6.2.4 for revocation after the POE).
	res := chainResult{outcome: passed(), embedded: true}
	leafGood := false
	for i := 0; i+1 < len(chain); i++ {
		cert, issuer := chain[i], chain[i+1]
		if v.anchor(cert) != nil {
			break
		}
		if revocation.NoCheck(cert) {
			continue
		}
		st, err := v.status(ctx, cert, issuer, ev, best.at)
		if err != nil {
			res.embedded = false
			if errors.Is(err, revocation.ErrNoSource) {
				r.Revocation = append(r.Revocation, RevocationInfo{Subject: cert.Subject.String(), Status: "not checked", Source: "none"})
				r.warn("%s names no OCSP responder and no CRL: its revocation status cannot be checked", describe(cert))
				continue
			}
			r.Revocation = append(r.Revocation, RevocationInfo{Subject: cert.Subject.String(), Status: "unavailable", Source: "none"})
			if i == 0 && outOfBounds {
				return chainResult{outcome: indeterminate(OutOfBoundsNoPOE, "the signing certificate expired at %s, no time-stamp proves the signature existed before, and its status is unknown", fmtTime(leaf.NotAfter))}
			}
			return chainResult{outcome: indeterminate(TryLater, "no revocation data for %s: %v", describe(cert), err)}
		}
		r.Revocation = append(r.Revocation, revocationInfo(cert, st))
		if !st.embedded {
			res.embedded = false
		}
		switch st.status {
		case revocation.Good:
			if i == 0 {
				leafGood = true
			}
			continue
		case revocation.Unknown:
			return chainResult{outcome: indeterminate(CertificateChainGeneralFailed, "the responder does not know %s", describe(cert))}
		}
		if proven && best.at.Before(st.revokedAt) {
			r.warn("%s was %s at %s, after a %s proved the signature existed at %s", describe(cert), st.status, fmtTime(st.revokedAt), best.source, fmtTime(best.at))
			if i == 0 {
				leafGood = true
			}
			continue
		}
		hold := st.status == revocation.Hold
		switch {
		case hold:
			return chainResult{outcome: indeterminate(TryLater, "%s is suspended (certificateHold) since %s; the suspension may be lifted", describe(cert), fmtTime(st.revokedAt))}
		case i > 0:
			return chainResult{outcome: indeterminate(RevokedCANoPOE, "the CA certificate %s was revoked at %s and no proof shows the signature existed before", describe(cert), fmtTime(st.revokedAt))}
		case !claimed.IsZero() && !claimed.Before(st.revokedAt):
			return chainResult{outcome: failed(Revoked, "the signing certificate was revoked at %s, before the claimed signing time %s", fmtTime(st.revokedAt), fmtTime(claimed))}
		default:
			return chainResult{outcome: indeterminate(RevokedNoPOE, "the signing certificate was revoked at %s and no time-stamp proves the signature existed before", fmtTime(st.revokedAt))}
		}
	}
	if outOfBounds {
		if leafGood {
			return chainResult{outcome: indeterminate(OutOfBoundsNotRevoked, "the signing certificate expired at %s and no time-stamp proves the signature existed before; it is not revoked", fmtTime(leaf.NotAfter))}
		}
		return chainResult{outcome: indeterminate(OutOfBoundsNoPOE, "the signing certificate expired at %s and no time-stamp proves the signature existed before", fmtTime(leaf.NotAfter))}
	}
	return res
}

func revocationInfo(cert *x509.Certificate, st *status) RevocationInfo {
	ri := RevocationInfo{Subject: cert.Subject.String(), Status: st.status.String(), Source: st.source, URL: st.url}
	if !st.thisUpdate.IsZero() {
		t := st.thisUpdate.UTC()
		ri.ThisUpdate = &t
	}
	if st.status == revocation.Revoked || st.status == revocation.Hold {
		t := st.revokedAt.UTC()
		ri.RevokedAt = &t
		ri.Reason = reasonName(st.reason)
	}
	return ri
}

// reasonName names an RFC 5280 §5.3.1 CRLReason.
func reasonName(r int) string {
	names := []string{"unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
		"cessationOfOperation", "certificateHold", "", "removeFromCRL", "privilegeWithdrawn", "aACompromise"}
	if r >= 0 && r < len(names) && names[r] != "" {
		return names[r]
	}
	return fmt.Sprintf("reason %d", r)
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
