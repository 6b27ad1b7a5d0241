package citizen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
)

// RecordStore keeps citizens' records as opaque bytes, with the subject
// registry and the audit chain in the same transactions (store/bolt). It
// answers ca.ErrConflict for a taken user ID or an enrolled person and
// ca.ErrNotFound for an unknown user ID.
type RecordStore interface {
	CreateCitizenRecord(ctx context.Context, userID, pid string, record []byte, subject *ca.Subject, events ...audit.Event) error
	CitizenRecord(ctx context.Context, userID string) ([]byte, error)
	UpdateCitizenRecord(ctx context.Context, userID string, fn func([]byte) ([]byte, []audit.Event, error)) ([]byte, error)
	AppendAudit(ctx context.Context, events ...audit.Event) error
}

// Records is the Store over a RecordStore: the records are JSON.
func Records(rs RecordStore) Store { return records{rs} }

type records struct{ rs RecordStore }

func (r records) CreateCitizen(ctx context.Context, c *Citizen, subject *ca.Subject, events ...audit.Event) error {
	v, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("citizen: encoding %s: %w", c.UserID, err)
	}
	return storeError(r.rs.CreateCitizenRecord(ctx, c.UserID, c.PID, v, subject, events...))
}

func (r records) Citizen(ctx context.Context, userID string) (*Citizen, error) {
	v, err := r.rs.CitizenRecord(ctx, userID)
	if err != nil {
		return nil, storeError(err)
	}
	return decodeCitizen(userID, v)
}

func (r records) UpdateCitizen(ctx context.Context, userID string, fn func(*Citizen) ([]audit.Event, error)) (*Citizen, error) {
	var out *Citizen
	_, err := r.rs.UpdateCitizenRecord(ctx, userID, func(v []byte) ([]byte, []audit.Event, error) {
		c, err := decodeCitizen(userID, v)
		if err != nil {
			return nil, nil, err
		}
		events, err := fn(c)
		if err != nil {
			return nil, nil, err
		}
		if c.UserID != userID {
			return nil, nil, errors.New("citizen: a citizen's user ID cannot change")
		}
		nv, err := json.Marshal(c)
		if err != nil {
			return nil, nil, fmt.Errorf("citizen: encoding %s: %w", userID, err)
		}
		out = c
		return nv, events, nil
	})
	if err != nil {
		return nil, storeError(err)
	}
	return out, nil
}

func (r records) AppendAudit(ctx context.Context, events ...audit.Event) error {
	return r.rs.AppendAudit(ctx, events...)
}

func decodeCitizen(userID string, v []byte) (*Citizen, error) {
	var c Citizen
	if err := json.Unmarshal(v, &c); err != nil {
		return nil, fmt.Errorf("citizen: decoding %s: %w", userID, err)
	}
	return &c, nil
}

// storeError maps the store's sentinels onto the service's.
func storeError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrExists), errors.Is(err, ErrNotFound):
		return err
	case errors.Is(err, ca.ErrConflict):
		return fmt.Errorf("%w: %w", ErrExists, err)
	case errors.Is(err, ca.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}
