package bolt

import (
	"context"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
)

// Citizens' records (package citizen, through citizen.Records) live in
// two buckets, created on first use:
//
//	citizens                 user ID -> the citizen's record, encoded by package citizen (hashes, sealed seed; no secret, no CPR number)
//	citizen-pids             PID -> user ID: one enrolment per person
//
// The store keeps the records opaque, so that it does not depend on the
// citizen service (and through it on the signer).
var (
	bucketCitizens    = []byte("citizens")
	bucketCitizenPIDs = []byte("citizen-pids")
)

// CreateCitizenRecord stores a new citizen's record, registers subject in
// the subject registry when it is not nil, and appends events, in one
// transaction. A taken user ID or an enrolled PID is ca.ErrConflict.
func (db *DB) CreateCitizenRecord(ctx context.Context, userID, pid string, record []byte, subject *ca.Subject, events ...audit.Event) error {
	return db.update(ctx, withAudit(events, func(tx *bbolt.Tx) error {
		users, pids, err := citizenBuckets(tx)
		if err != nil {
			return err
		}
		if users.Get([]byte(userID)) != nil {
			return fmt.Errorf("store: enrolling %s: %w: the user ID is taken", userID, ca.ErrConflict)
		}
		if pids.Get([]byte(pid)) != nil {
			return fmt.Errorf("store: enrolling %s: %w: the person is enrolled already", userID, ca.ErrConflict)
		}
		if err := registerNew(tx, subject); err != nil {
			return fmt.Errorf("store: enrolling %s: %w", userID, err)
		}
		if err := users.Put([]byte(userID), record); err != nil {
			return fmt.Errorf("store: storing citizen %s: %w", userID, err)
		}
		return pids.Put([]byte(pid), []byte(userID))
	}))
}

// CitizenRecord returns a citizen's record by user ID, or ca.ErrNotFound.
func (db *DB) CitizenRecord(ctx context.Context, userID string) ([]byte, error) {
	var out []byte
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		v, err := loadCitizen(tx.Bucket(bucketCitizens), userID)
		out = v
		return err
	})
	return out, err
}

// UpdateCitizenRecord runs fn on the stored record and stores what it
// returns with its events, in one transaction. fn may run more than once.
func (db *DB) UpdateCitizenRecord(ctx context.Context, userID string, fn func([]byte) ([]byte, []audit.Event, error)) ([]byte, error) {
	var out []byte
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		users, _, err := citizenBuckets(tx)
		if err != nil {
			return err
		}
		v, err := loadCitizen(users, userID)
		if err != nil {
			return err
		}
		nv, events, err := fn(v)
		if err != nil {
			return err
		}
		if nv == nil {
			return errors.New("store: an updated citizen record is empty")
		}
		if err := users.Put([]byte(userID), nv); err != nil {
			return fmt.Errorf("store: storing citizen %s: %w", userID, err)
		}
		out = nv
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

// loadCitizen returns a copy of the record (bbolt's bytes live only as
// long as the transaction).
func loadCitizen(b *bbolt.Bucket, userID string) ([]byte, error) {
	var v []byte
	if b != nil {
		v = b.Get([]byte(userID))
	}
	if v == nil {
		return nil, fmt.Errorf("store: finding citizen %s: %w", userID, ca.ErrNotFound)
	}
	return append([]byte(nil), v...), nil
}
