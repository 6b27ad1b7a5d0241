package ca

import (
	"context"
	"fmt"
)

// ResolvePerson finds the citizen whose CPR number is cpr in the subject
// registry, or draws a new PID for them (isNew) without registering it: the
// caller registers the new subject in the same transaction as what it
// creates for the person (a citizen's enrolment, or a first certificate
// through Issue). The CPR number is used only through its keyed hash.
func (c *CA) ResolvePerson(ctx context.Context, name, cpr string) (s *Subject, isNew bool, err error) {
	p, ok := c.profiles["poces"]
	if !ok || p.Kind != KindPerson {
		return nil, false, fmt.Errorf("%w: no poces profile to draw a PID from", ErrConflict)
	}
	if err := checkName("name", name, true); err != nil {
		return nil, false, err
	}
	if cpr == "" {
		return nil, false, fmt.Errorf("%w: a citizen needs a CPR number", ErrInvalidRequest)
	}
	return c.resolveSubject(ctx, p, &IssueRequest{Profile: p.Name, Name: name, CPR: cpr})
}
