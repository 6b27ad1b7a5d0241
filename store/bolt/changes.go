package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/oces-pki/oces/ca"
)

// bucketChanges indexes status changes for delta CRLs (RFC 5280 section
// 5.2.4), which must list what changed since their base CRL, releases from
// hold included:
//
//	changes/<ca>             time (uint64 big-endian Unix nanoseconds) serial -> empty
//
// UpdateCertificate writes an entry in the same transaction as the change
// itself. The bucket is created on the first change, so stores made before
// it existed need no migration.
var bucketChanges = []byte("changes")

// changeKeyLen is the length of a key in changes/<ca>.
const changeKeyLen = 8 + len(ca.Serial{})

// changeKey is the index key of a change at t; times before 1970 sort first.
func changeKey(t time.Time, s ca.Serial) []byte {
	k := make([]byte, changeKeyLen)
	if !t.Before(time.Unix(0, 0)) {
		binary.BigEndian.PutUint64(k, uint64(t.UnixNano()))
	}
	copy(k[8:], s[:])
	return k
}

// indexChange records a change of c's status, reason or status time. It
// runs inside UpdateCertificate's transaction.
func indexChange(tx *bbolt.Tx, c, orig *ca.Certificate) error {
	if c.Status == orig.Status && c.Reason == orig.Reason && c.StatusChanged.Equal(orig.StatusChanged) {
		return nil
	}
	top, err := tx.CreateBucketIfNotExists(bucketChanges)
	if err == nil {
		var b *bbolt.Bucket
		if b, err = top.CreateBucketIfNotExists([]byte(c.CA)); err == nil {
			err = b.Put(changeKey(c.StatusChanged, c.Serial), nil)
		}
	}
	if err != nil {
		return fmt.Errorf("store: indexing status change of %s: %w", c.Serial, err)
	}
	return nil
}

// ForEachChangedSince calls fn, in the order of their latest change, once
// for every certificate of caName whose status changed at or after since,
// with the certificate as it is now (good again after a release, for
// instance). It stops at fn's first error, which it returns. fn runs outside
// any transaction and may call the store. A change committed during the scan
// may or may not be seen; a caller that needs every change repeats the call
// with a since that overlaps the previous one.
func (db *DB) ForEachChangedSince(ctx context.Context, caName string, since time.Time, fn func(*ca.Certificate) error) error {
	if caName == "" {
		return fmt.Errorf("store: listing status changes: %w: need a CA name", ca.ErrInvalidRequest)
	}
	serials, err := db.changedSince(ctx, caName, since)
	if err != nil {
		return err
	}
	for len(serials) > 0 {
		chunk := serials[:min(len(serials), db.chunk)]
		serials = serials[len(chunk):]
		var certs []*ca.Certificate
		err := db.view(ctx, func(tx *bbolt.Tx) error {
			certs = certs[:0]
			for _, s := range chunk {
				c, ok, err := loadCert(tx, s, false)
				if err != nil {
					return err
				}
				if ok && c.CA == caName {
					certs = append(certs, c)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, c := range certs {
			if err := fn(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// changedSince reads the serials changed at or after since, each once, in
// the order of their latest change.
func (db *DB) changedSince(ctx context.Context, caName string, since time.Time) ([]ca.Serial, error) {
	var keys [][]byte
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		top := tx.Bucket(bucketChanges)
		if top == nil {
			return nil
		}
		b := top.Bucket([]byte(caName))
		if b == nil {
			return nil
		}
		cur := b.Cursor()
		for k, _ := cur.Seek(changeKey(since, ca.Serial{})); k != nil; k, _ = cur.Next() {
			if len(k) == changeKeyLen {
				keys = append(keys, bytes.Clone(k))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	last := make(map[ca.Serial]int, len(keys))
	for i, k := range keys {
		last[ca.Serial(k[8:])] = i
	}
	out := make([]ca.Serial, 0, len(last))
	for i, k := range keys {
		if s := ca.Serial(k[8:]); last[s] == i {
			out = append(out, s)
		}
	}
	return out, nil
}

// PruneChanges deletes the change index entries of caName older than
// before, returning how many it deleted. Delta CRLs never look further back
// than their base CRL, so entries older than the oldest base in use are
// dead weight.
func (db *DB) PruneChanges(ctx context.Context, caName string, before time.Time) (int, error) {
	var n int
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		n = 0
		top := tx.Bucket(bucketChanges)
		if top == nil {
			return nil
		}
		b := top.Bucket([]byte(caName))
		if b == nil {
			return nil
		}
		end := changeKey(before, ca.Serial{})
		var dead [][]byte
		cur := b.Cursor()
		for k, _ := cur.First(); k != nil && bytes.Compare(k, end) < 0; k, _ = cur.Next() {
			dead = append(dead, bytes.Clone(k))
		}
		for _, k := range dead {
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("store: pruning status changes of %s: %w", caName, err)
			}
		}
		n = len(dead)
		return nil
	})
	return n, err
}
