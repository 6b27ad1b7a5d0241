package bolt

import (
	"context"
	"encoding/json"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/oces-pki/oces/ca"
)

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
