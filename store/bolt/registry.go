package bolt

import (
	"context"
	"encoding/json"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/oces-pki/oces/ca"
)

// maxIDAttempts bounds how often CreateSubject calls newID before giving up:
// a generator that keeps returning used identifiers is broken or the
// identifier space is nearly full, and neither is fixed by trying forever.
const maxIDAttempts = 100

// SubjectByKey finds a subject by its kind and lookup key, or ca.ErrNotFound.
func (db *DB) SubjectByKey(ctx context.Context, kind ca.SubjectKind, key []byte) (*ca.Subject, error) {
	if len(key) == 0 {
		return nil, fmt.Errorf("store: finding %s subject by key: %w: empty key", kind, ca.ErrInvalidRequest)
	}
	var out *ca.Subject
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		id := tx.Bucket(bucketSubjectKeys).Get(subjectKey(kind, key))
		if id == nil {
			return fmt.Errorf("store: finding %s subject by key: %w", kind, ca.ErrNotFound)
		}
		s, err := loadSubject(tx, string(id))
		out = s
		return err
	})
	return out, err
}

// Subject finds a subject by its identifier, or ca.ErrNotFound.
func (db *DB) Subject(ctx context.Context, id string) (*ca.Subject, error) {
	var out *ca.Subject
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		s, err := loadSubject(tx, id)
		out = s
		return err
	})
	return out, err
}

// CreateSubject stores s under a fresh identifier from newID, which it calls
// until it returns one never used by any subject (at most 100 times), and
// sets s.ID. If s.Key is set and a subject of s.Kind already has that key,
// it returns the existing subject, writes nothing and leaves s alone. newID
// runs inside the write transaction and, like every write, may run again if
// the transaction is re-applied; it must be quick, have no other effect and
// not call the store.
func (db *DB) CreateSubject(ctx context.Context, s *ca.Subject, newID func() (string, error)) (*ca.Subject, error) {
	if s == nil || s.Kind == "" || newID == nil {
		return nil, fmt.Errorf("store: creating subject: %w: need a subject with a kind and an identifier generator", ca.ErrInvalidRequest)
	}
	var (
		out *ca.Subject
		id  string
	)
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		out, id = nil, ""
		if len(s.Key) > 0 {
			if old := tx.Bucket(bucketSubjectKeys).Get(subjectKey(s.Kind, s.Key)); old != nil {
				existing, err := loadSubject(tx, string(old))
				out = existing
				return err
			}
		}
		fresh, err := freshID(tx, newID)
		if err != nil {
			return err
		}
		rec := *s
		rec.ID = fresh
		if err := putSubject(tx, &rec); err != nil {
			return err
		}
		id = fresh
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out != nil {
		return out, nil
	}
	s.ID = id
	return s, nil
}

// freshID calls newID until it returns an identifier no subject has.
func freshID(tx *bbolt.Tx, newID func() (string, error)) (string, error) {
	subjects := tx.Bucket(bucketSubjects)
	for range maxIDAttempts {
		id, err := newID()
		if err != nil {
			return "", fmt.Errorf("store: creating subject: generating identifier: %w", err)
		}
		if id == "" {
			return "", fmt.Errorf("store: creating subject: %w: the generator returned an empty identifier", ca.ErrInvalidRequest)
		}
		if subjects.Get([]byte(id)) == nil {
			return id, nil
		}
	}
	return "", fmt.Errorf("store: creating subject: %w: no unused identifier after %d attempts", ca.ErrConflict, maxIDAttempts)
}

// registerNew stores a subject first seen in an issuance, refusing an
// identifier or lookup key that is taken.
func registerNew(tx *bbolt.Tx, s *ca.Subject) error {
	if s == nil {
		return nil
	}
	if s.ID == "" || s.Kind == "" {
		return fmt.Errorf("registering subject: %w: need an identifier and a kind", ca.ErrInvalidRequest)
	}
	if tx.Bucket(bucketSubjects).Get([]byte(s.ID)) != nil {
		return fmt.Errorf("registering subject %s: %w: identifier taken", s.ID, ca.ErrSubjectExists)
	}
	if len(s.Key) > 0 && tx.Bucket(bucketSubjectKeys).Get(subjectKey(s.Kind, s.Key)) != nil {
		return fmt.Errorf("registering subject %s: %w: lookup key taken", s.ID, ca.ErrSubjectExists)
	}
	return putSubject(tx, s)
}

func putSubject(tx *bbolt.Tx, s *ca.Subject) error {
	v, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("store: encoding subject %s: %w", s.ID, err)
	}
	if err := tx.Bucket(bucketSubjects).Put([]byte(s.ID), v); err != nil {
		return fmt.Errorf("store: storing subject %s: %w", s.ID, err)
	}
	if len(s.Key) > 0 {
		if err := tx.Bucket(bucketSubjectKeys).Put(subjectKey(s.Kind, s.Key), []byte(s.ID)); err != nil {
			return fmt.Errorf("store: indexing subject %s: %w", s.ID, err)
		}
	}
	return nil
}

func loadSubject(tx *bbolt.Tx, id string) (*ca.Subject, error) {
	v := tx.Bucket(bucketSubjects).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("store: finding subject %q: %w", id, ca.ErrNotFound)
	}
	var s ca.Subject
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, fmt.Errorf("store: decoding subject %q: %w", id, err)
	}
	return &s, nil
}

// subjectKey is the key in bucket subject-keys: kind, a zero byte, key.
func subjectKey(kind ca.SubjectKind, key []byte) []byte {
	k := make([]byte, 0, len(kind)+1+len(key))
	k = append(k, kind...)
	k = append(k, 0)
	return append(k, key...)
}
