package ca

import (
	"fmt"
	"time"
)

// RevocationReason is a CRLReason of RFC 5280 section 5.3.1, by name.
type RevocationReason string

// The reasons an officer may give. certificateHold is not among them: it is
// what Suspend records. removeFromCRL appears only in delta CRLs.
const (
	ReasonUnspecified          RevocationReason = "unspecified"
	ReasonKeyCompromise        RevocationReason = "keyCompromise"
	ReasonCACompromise         RevocationReason = "cACompromise"
	ReasonAffiliationChanged   RevocationReason = "affiliationChanged"
	ReasonSuperseded           RevocationReason = "superseded"
	ReasonCessationOfOperation RevocationReason = "cessationOfOperation"
	ReasonCertificateHold      RevocationReason = "certificateHold"
	ReasonPrivilegeWithdrawn   RevocationReason = "privilegeWithdrawn"
	ReasonAACompromise         RevocationReason = "aACompromise"
)

var reasonCodes = map[RevocationReason]int{
	ReasonUnspecified:          0,
	ReasonKeyCompromise:        1,
	ReasonCACompromise:         2,
	ReasonAffiliationChanged:   3,
	ReasonSuperseded:           4,
	ReasonCessationOfOperation: 5,
	ReasonCertificateHold:      6,
	ReasonPrivilegeWithdrawn:   9,
	ReasonAACompromise:         10,
}

// Code is the CRLReason enumeration value.
func (r RevocationReason) Code() int { return reasonCodes[r] }

// ParseRevocationReason accepts the RFC 5280 names. certificateHold is refused
// here: suspension is its own operation.
func ParseRevocationReason(s string) (RevocationReason, error) {
	r := RevocationReason(s)
	if _, ok := reasonCodes[r]; !ok || r == ReasonCertificateHold {
		return "", fmt.Errorf("%w: unknown revocation reason %q (use one of unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn, aACompromise; suspend with 'cert suspend')", ErrInvalidRequest, s)
	}
	return r, nil
}

// StatusChange is one transition requested by an officer.
type StatusChange struct {
	To             Status
	Reason         RevocationReason // for revocation; certificateHold is implied by suspension
	InvalidityDate time.Time        // optional, for revocation
}

// apply moves c to the requested status, enforcing the life cycle:
// good -> suspended -> good (release), good|suspended -> revoked, revoked is final.
func (ch StatusChange) apply(c *Certificate, now time.Time) error {
	if c.Status == StatusRevoked {
		return fmt.Errorf("%w: certificate %s is revoked; revocation is final", ErrConflict, c.Serial)
	}
	switch ch.To {
	case StatusSuspended:
		if c.Status == StatusSuspended {
			return fmt.Errorf("%w: certificate %s is already suspended", ErrConflict, c.Serial)
		}
		c.Status, c.Reason, c.RevokedAt = StatusSuspended, ReasonCertificateHold, now
		c.InvalidityDate = time.Time{}
	case StatusGood:
		if c.Status != StatusSuspended {
			return fmt.Errorf("%w: certificate %s is not suspended, so it cannot be released", ErrConflict, c.Serial)
		}
		c.Status, c.Reason, c.RevokedAt, c.InvalidityDate = StatusGood, "", time.Time{}, time.Time{}
	case StatusRevoked:
		reason := ch.Reason
		if reason == "" {
			reason = ReasonUnspecified
		}
		if _, ok := reasonCodes[reason]; !ok || reason == ReasonCertificateHold {
			return fmt.Errorf("%w: revocation reason %q is not allowed", ErrInvalidRequest, reason)
		}
		if !ch.InvalidityDate.IsZero() && ch.InvalidityDate.After(now) {
			return fmt.Errorf("%w: invalidity date %s is in the future", ErrInvalidRequest, ch.InvalidityDate.Format(time.RFC3339))
		}
		if c.Status != StatusSuspended {
			c.RevokedAt = now
		}
		c.Status, c.Reason, c.InvalidityDate = StatusRevoked, reason, ch.InvalidityDate
	default:
		return fmt.Errorf("%w: unknown target status %q", ErrInvalidRequest, ch.To)
	}
	c.StatusChanged = now
	return nil
}
