package ca

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"strings"
)

// Lookup keys are keyed hashes computed in the HSM over a domain-separated
// input, so the same CPR number gives unrelated keys in different roles.
const (
	cprKeyPrefix      = "oces-registry-v1:person:"
	employeeKeyPrefix = "oces-registry-v1:employee:"
)

// resolveSubject finds the registry entry the certificate is issued to, or
// draws a new one (isNew) for Reserve to register with the certificate.
// Persons are found by their CPR number's keyed hash, so a citizen keeps one
// PID; an employee given with a CPR number keeps one RID per CVR.
// Organisations and functions get a new identifier unless the request names
// an existing one.
func (c *CA) resolveSubject(ctx context.Context, p *Profile, req *IssueRequest) (s *Subject, isNew bool, err error) {
	var key []byte
	if req.CPR != "" {
		if p.Kind != KindPerson && p.Kind != KindEmployee {
			return nil, false, fmt.Errorf("%w: a CPR number belongs only to person and employee certificates", ErrInvalidRequest)
		}
		cpr, err := normalizeCPR(req.CPR)
		if err != nil {
			return nil, false, err
		}
		input := cprKeyPrefix + cpr
		if p.Kind == KindEmployee {
			input = employeeKeyPrefix + req.CVR + ":" + cpr
		}
		if key, err = c.hasher.MAC(ctx, []byte(input)); err != nil {
			return nil, false, fmt.Errorf("ca: hashing CPR number: %w", err)
		}
	}
	if req.SubjectID != "" {
		s, err := c.existingSubject(ctx, p, req, key)
		return s, false, err
	}
	if p.Kind == KindPerson && key == nil {
		return nil, false, fmt.Errorf("%w: profile %s needs the citizen's CPR number or an existing PID", ErrInvalidRequest, p.Name)
	}
	if key != nil {
		s, err := c.registry.SubjectByKey(ctx, p.Kind, key)
		if err == nil {
			return s, false, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, false, err
		}
	}
	id, err := c.newSubjectID(p, req.CVR)
	if err != nil {
		return nil, false, err
	}
	return &Subject{ID: id, Kind: p.Kind, Key: key, CVR: req.CVR, Name: req.Name, Created: c.now().UTC()}, true, nil
}

func (c *CA) existingSubject(ctx context.Context, p *Profile, req *IssueRequest, key []byte) (*Subject, error) {
	s, err := c.registry.Subject(ctx, req.SubjectID)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: no subject %q in the registry", ErrInvalidRequest, req.SubjectID)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case s.Kind != p.Kind:
		return nil, fmt.Errorf("%w: subject %s is a %s, but profile %s is for a %s", ErrInvalidRequest, s.ID, s.Kind, p.Name, p.Kind)
	case s.CVR != req.CVR:
		return nil, fmt.Errorf("%w: subject %s belongs to CVR %s, not %q", ErrInvalidRequest, s.ID, s.CVR, req.CVR)
	case key != nil && !hmac.Equal(key, s.Key):
		return nil, fmt.Errorf("%w: the CPR number does not belong to subject %s", ErrInvalidRequest, s.ID)
	case isOCES3ID(s.ID) != (p.Generation == OCES3):
		return nil, fmt.Errorf("%w: subject %s is not an identifier of profile %s's generation", ErrInvalidRequest, s.ID, p.Name)
	}
	return s, nil
}

func isOCES3ID(id string) bool { return strings.HasPrefix(id, "UI:DK-") }

// newSubjectID draws an identifier of the profile's kind and generation.
func (c *CA) newSubjectID(p *Profile, cvr string) (string, error) {
	if p.Generation == OCES3 {
		u, err := newUUID(c.rand)
		if err != nil {
			return "", err
		}
		role := "O"
		if p.Kind == KindEmployee {
			role = "E"
		}
		return "UI:DK-" + role + ":G:" + u, nil
	}
	if p.Kind == KindPerson {
		d, err := randomDigits(c.rand, 12, false)
		return pidPrefix + d, err
	}
	d, err := randomDigits(c.rand, 8, true)
	if err != nil {
		return "", err
	}
	suffix := map[SubjectKind]string{KindEmployee: "RID", KindOrganisation: "UID", KindFunction: "FID"}[p.Kind]
	return "CVR:" + cvr + "-" + suffix + ":" + d, nil
}

// MatchCPR answers a relying party's question "does this PID belong to this
// CPR number?" with yes or no; the CPR number is never revealed.
func (c *CA) MatchCPR(ctx context.Context, pid, cpr string) (bool, error) {
	d, err := normalizeCPR(cpr)
	if err != nil {
		return false, err
	}
	s, err := c.registry.Subject(ctx, pid)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if s.Kind != KindPerson {
		return false, fmt.Errorf("%w: %s is not a person identifier", ErrInvalidRequest, pid)
	}
	key, err := c.hasher.MAC(ctx, []byte(cprKeyPrefix+d))
	if err != nil {
		return false, fmt.Errorf("ca: hashing CPR number: %w", err)
	}
	return hmac.Equal(key, s.Key), nil
}

// Subject returns a registry entry by its identifier.
func (c *CA) Subject(ctx context.Context, id string) (*Subject, error) {
	return c.registry.Subject(ctx, id)
}
