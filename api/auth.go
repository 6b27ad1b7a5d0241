package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
)

// Role is what an authenticated client may do.
type Role string

// Roles, from the profile of the client's certificate.
const (
	RoleOfficer Role = Role(ca.ServiceOfficer)
	RoleRA      Role = Role(ca.ServiceRA)
)

// Principal is an authenticated client: the certificate it presented, as
// the CA issued and still holds it.
type Principal struct {
	Role        Role   `json:"role"`
	CVR         string `json:"cvr,omitempty"` // registration authorities only
	Subject     string `json:"subject"`
	Fingerprint string `json:"sha256_fingerprint"`
	Serial      string `json:"serial"`
	// Actor names the principal in the audit chain.
	Actor audit.Actor `json:"-"`
}

// authenticate maps the verified TLS client certificate to a principal.
// The TLS layer has checked the chain to an issuing CA; here the certificate
// must also be one the CA issued as an officer or RA certificate and that is
// neither suspended nor revoked, byte for byte the stored one.
func (a *API) authenticate(r *http.Request) (*Principal, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return nil, ErrUnauthenticated
	}
	leaf := r.TLS.VerifiedChains[0][0]
	serial, err := ca.SerialFromBig(leaf.SerialNumber)
	if err != nil {
		return nil, ErrUnauthenticated
	}
	stored, err := a.ca.Certificate(r.Context(), serial)
	if errors.Is(err, ca.ErrNotFound) {
		return nil, fmt.Errorf("%w (certificate %s is unknown to this CA)", ErrUnauthenticated, serial)
	}
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(stored.DER, leaf.Raw) {
		return nil, fmt.Errorf("%w (certificate %s differs from the one issued)", ErrUnauthenticated, serial)
	}
	if stored.Status != ca.StatusGood {
		return nil, fmt.Errorf("%w (certificate %s is %s)", ErrUnauthenticated, serial, stored.Status)
	}
	p := &Principal{Role: Role(stored.Profile), Subject: leaf.Subject.String(), Fingerprint: fingerprint(leaf),
		Serial: serial.String(), Actor: audit.ActorOf(leaf)}
	switch p.Role {
	case RoleOfficer:
	case RoleRA:
		p.CVR = strings.TrimPrefix(stored.SubjectID, "CVR:")
	default:
		return nil, fmt.Errorf("%w (certificate %s is a %s certificate)", ErrUnauthenticated, serial, stored.Profile)
	}
	return p, nil
}

func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// authorised wraps a handler with authentication.
func (a *API) authorised(h func(http.ResponseWriter, *http.Request, *Principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := a.authenticate(r)
		if err != nil {
			a.log.WarnContext(r.Context(), "api: refused client", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
			a.recordLoginFailure(r, err)
			a.fail(w, r, err)
			return
		}
		h(w, r, p)
	}
}

// raProfiles are the profiles a registration authority may enrol.
var raProfiles = map[string]bool{
	"moces": true, "voces": true, "foces": true,
	"oces3-employee": true, "oces3-organisation": true, "oces3-system": true,
}

// mayIssue is the RA scope for enrolment.
func (p *Principal) mayIssue(req *ca.IssueRequest) error {
	if p.Role == RoleOfficer {
		return nil
	}
	if !raProfiles[req.Profile] {
		return fmt.Errorf("%w: a registration authority may not issue %q certificates", ErrForbidden, req.Profile)
	}
	if req.CVR != p.CVR {
		return fmt.Errorf("%w: this registration authority acts for CVR %s, not %q", ErrForbidden, p.CVR, req.CVR)
	}
	// Issuing again for a registered subject with a CPR number would
	// check the number against the subject: an answer that only officers
	// and authorised relying parties may have (match-cpr). The refusal
	// comes before any look-up, so it is the same whatever the number.
	if req.SubjectID != "" && req.CPR != "" {
		return fmt.Errorf("%w: a registration authority may not give both subject_id and cpr, as that would tell whether "+
			"the CPR number belongs to the subject; issue with subject_id alone", ErrForbidden)
	}
	return nil
}

// mayTouch is the RA scope for an existing certificate: one of its profiles,
// issued to a subject of its CVR.
func (a *API) mayTouch(ctx context.Context, p *Principal, c *ca.Certificate) error {
	if p.Role == RoleOfficer {
		return nil
	}
	if raProfiles[c.Profile] {
		s, err := a.ca.Subject(ctx, c.SubjectID)
		if err == nil && s.CVR == p.CVR {
			return nil
		}
	}
	return fmt.Errorf("%w: certificate %s is outside the scope of this registration authority (CVR %s)", ErrForbidden, c.Serial, p.CVR)
}

// officerOnly refuses registration authorities.
func officerOnly(p *Principal, what string) error {
	if p.Role != RoleOfficer {
		return fmt.Errorf("%w: only a CA officer may %s", ErrForbidden, what)
	}
	return nil
}
