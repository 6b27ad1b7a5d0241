package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/oces-pki/oces/ca"
)

// SubjectByKey finds a subject by its kind and lookup key, or ca.ErrNotFound.
func (db *DB) SubjectByKey(ctx context.Context, kind ca.SubjectKind, key []byte) (*ca.Subject, error) {
	if len(key) == 0 {
		return nil, fmt.Errorf("store: finding %s subject by key: %w: empty key", kind, ca.ErrInvalidRequest)
	}
	return db.subject(ctx, fmt.Sprintf("%s subject by key", kind), "SELECT data FROM subjects WHERE kind = $1 AND lookup = $2", string(kind), key)
}

// Subject finds a subject by its identifier, or ca.ErrNotFound.
func (db *DB) Subject(ctx context.Context, id string) (*ca.Subject, error) {
	return db.subject(ctx, fmt.Sprintf("subject %q", id), "SELECT data FROM subjects WHERE id = $1", id)
}

func (db *DB) subject(ctx context.Context, what, sql string, args ...any) (*ca.Subject, error) {
	if err := db.readable(ctx); err != nil {
		return nil, err
	}
	var v []byte
	err := db.pool.QueryRow(ctx, sql, args...).Scan(&v)
	if isNoRows(err) {
		return nil, fmt.Errorf("store: finding %s: %w", what, ca.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: finding %s: %w", what, err)
	}
	var s ca.Subject
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, fmt.Errorf("store: decoding %s: %w", what, err)
	}
	return &s, nil
}
