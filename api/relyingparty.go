package api

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"slices"
)

// The PID-CPR match for relying parties (DESIGN.md, identity and privacy):
// a service provider named on an allow-list may ask whether a PID belongs
// to a CPR number and gets yes or no, never the number. It authenticates
// with its organisation or system certificate (VOCES, FOCES, OCES3
// organisation or system) issued by this CA and still good; its questions
// are rate-limited per certificate and every one is in the audit chain,
// with the PID as target and never the CPR number.

// RoleRelyingParty is a service provider allowed the PID-CPR match.
const RoleRelyingParty Role = "relying-party"

// RelyingPartyAccess configures the relying parties' match-cpr.
type RelyingPartyAccess struct {
	// Clients are the certificates allowed: "sha256:<hex>" of the
	// certificate, or its subject serialNumber ("CVR:12345678-UID:…",
	// "UI:DK-O:G:…"). A whole CVR number is not accepted: each system
	// that may ask is named.
	Clients []string
	// Rate is how many questions a second one certificate may ask on
	// average (default 1), Burst how many at once (default 10).
	Rate  float64
	Burst int
}

// allowed tells whether the certificate is on the allow-list.
func (r *RelyingPartyAccess) allowed(p *Principal, leaf *x509.Certificate) bool {
	serial := subjectSerial(leaf.Subject)
	return slices.Contains(r.Clients, "sha256:"+p.Fingerprint) || (serial != "" && slices.Contains(r.Clients, serial))
}

// matchCPRPrincipal authenticates a match-cpr question: a CA officer, or a
// relying party on the allow-list. Registration authorities are refused
// by the handler.
func (a *API) matchCPRPrincipal(r *http.Request) (*Principal, error) {
	p, err := a.authenticate(r)
	if err == nil || a.rp == nil {
		return p, err
	}
	rp, leaf, rerr := a.serviceProvider(r)
	if rerr != nil {
		return nil, err // neither: the officer API's answer
	}
	rp.Role = RoleRelyingParty
	if !a.rp.allowed(rp, leaf) {
		return rp, fmt.Errorf("%w: certificate %s is not on the relying parties' allow-list for match-cpr (match_cpr.relying_parties)", ErrForbidden, rp.Serial)
	}
	return rp, nil
}
