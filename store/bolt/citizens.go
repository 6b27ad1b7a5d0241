package bolt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/citizen"
)

var _ citizen.Store = (*DB)(nil)

// Citizens' records (package citizen) live in two buckets, created on
// first use:
//
//	citizens                 user ID -> JSON citizen (hashes, sealed seed; no secret, no CPR number)
//	citizen-pids             PID -> user ID: one enrolment per person
var (
	bucketCitizens    = []byte("citizens")
	bucketCitizenPIDs = []byte("citizen-pids")
)

// CreateCitizen stores a new citizen, registers subject in the subject
// registry when it is not nil, and appends events, in one transaction.
func (db *DB) CreateCitizen(ctx context.Context, c *citizen.Citizen, subject *ca.Subject, events ...audit.Event) error {
	v, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("store: encoding citizen %s: %w", c.UserID, err)
	}
	return db.update(ctx, withAudit(events, func(tx *bbolt.Tx) error {
		users, pids, err := citizenBuckets(tx)
		if err != nil {
			return err
		}
		if users.Get([]byte(c.UserID)) != nil {
			return fmt.Errorf("store: enrolling %s: %w: the user ID is taken", c.UserID, citizen.ErrExists)
		}
		if pids.Get([]byte(c.PID)) != nil {
			return fmt.Errorf("store: enrolling %s: %w: the person is enrolled already", c.UserID, citizen.ErrExists)
		}
		if err := registerNew(tx, subject); err != nil {
			return fmt.Errorf("store: enrolling %s: %w", c.UserID, err)
		}
		if err := users.Put([]byte(c.UserID), v); err != nil {
			return fmt.Errorf("store: storing citizen %s: %w", c.UserID, err)
		}
		return pids.Put([]byte(c.PID), []byte(c.UserID))
	}))
}

// Citizen returns a citizen by user ID, or citizen.ErrNotFound.
func (db *DB) Citizen(ctx context.Context, userID string) (*citizen.Citizen, error) {
	var out *citizen.Citizen
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		c, err := loadCitizen(tx.Bucket(bucketCitizens), userID)
		out = c
		return err
	})
	return out, err
}

// UpdateCitizen runs fn on the stored citizen and stores the result with
// the events fn returns, in one transaction. fn may run more than once.
func (db *DB) UpdateCitizen(ctx context.Context, userID string, fn func(*citizen.Citizen) ([]audit.Event, error)) (*citizen.Citizen, error) {
	var out *citizen.Citizen
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		users, _, err := citizenBuckets(tx)
		if err != nil {
			return err
		}
		c, err := loadCitizen(users, userID)
		if err != nil {
			return err
		}
		events, err := fn(c)
		if err != nil {
			return err
		}
		if c.UserID != userID {
			return errors.New("store: a citizen's user ID cannot change")
		}
		v, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("store: encoding citizen %s: %w", userID, err)
		}
		if err := users.Put([]byte(userID), v); err != nil {
			return fmt.Errorf("store: storing citizen %s: %w", userID, err)
		}
		out = c
		if len(events) == 0 {
			return nil
		}
		for i := range events {
			if err := events[i].Validate(); err != nil {
				return fmt.Errorf("store: appending audit record: %w", err)
			}
		}
		return appendAudit(tx, events)
	})
	return out, err
}

func citizenBuckets(tx *bbolt.Tx) (users, pids *bbolt.Bucket, err error) {
	if users, err = tx.CreateBucketIfNotExists(bucketCitizens); err != nil {
		return nil, nil, fmt.Errorf("store: creating bucket %s: %w", bucketCitizens, err)
	}
	if pids, err = tx.CreateBucketIfNotExists(bucketCitizenPIDs); err != nil {
		return nil, nil, fmt.Errorf("store: creating bucket %s: %w", bucketCitizenPIDs, err)
	}
	return users, pids, nil
}

func loadCitizen(b *bbolt.Bucket, userID string) (*citizen.Citizen, error) {
	var v []byte
	if b != nil {
		v = b.Get([]byte(userID))
	}
	if v == nil {
		return nil, fmt.Errorf("store: finding citizen: %w", citizen.ErrNotFound)
	}
	var c citizen.Citizen
	if err := json.Unmarshal(v, &c); err != nil {
		return nil, fmt.Errorf("store: decoding citizen %s: %w", userID, err)
	}
	return &c, nil
}
