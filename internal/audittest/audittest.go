// Package audittest tampers with the audit chain in a closed bbolt store,
// the way an attacker with write access to the file would, so that tests
// (of package audit, of store/bolt, and the end-to-end tests of
// `oces audit verify`) can prove that the tampering is detected. It is
// imported by tests only.
//
// It knows the store's layout: bucket "audit", keys the 8-byte big-endian
// sequence number, values audit.Record.MarshalBinary (see store/bolt's
// audit.go). The store must be closed: bbolt locks its file.
package audittest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/oces-pki/oces/audit"
)

var bucketAudit = []byte("audit")

func key(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// update opens the file at path and runs fn on its audit bucket.
func update(path string, fn func(b *bbolt.Bucket) error) error {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("audittest: opening %s (is the store still open?): %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		if b == nil {
			return errors.New("audittest: no audit bucket")
		}
		return fn(b)
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

func get(b *bbolt.Bucket, seq uint64) ([]byte, error) {
	v := b.Get(key(seq))
	if v == nil {
		return nil, fmt.Errorf("audittest: no audit record %d", seq)
	}
	return append([]byte(nil), v...), nil
}

// Tamper flips one bit of record seq's stored bytes, in its Prev field, as
// the last 64 bytes of every record are Prev and Hash. The record still
// decodes; Verify reports "record <seq>: hash mismatch (content altered)".
func Tamper(path string, seq uint64) error {
	return update(path, func(b *bbolt.Bucket) error {
		v, err := get(b, seq)
		if err != nil {
			return err
		}
		v[len(v)-64] ^= 0x01
		return b.Put(key(seq), v)
	})
}

// Edit decodes record seq, lets fn change it and stores it again. With
// rehash false the old hash is kept (a naive edit: the record's own hash
// no longer matches); with rehash true the hash is recomputed (a careful
// edit: the next record's Prev no longer matches).
func Edit(path string, seq uint64, rehash bool, fn func(*audit.Record)) error {
	return update(path, func(b *bbolt.Bucket) error {
		v, err := get(b, seq)
		if err != nil {
			return err
		}
		var r audit.Record
		if err := r.UnmarshalBinary(v); err != nil {
			return fmt.Errorf("audittest: decoding record %d: %w", seq, err)
		}
		fn(&r)
		if rehash {
			r.Hash = r.ComputeHash()
		}
		out, err := r.MarshalBinary()
		if err != nil {
			return err
		}
		return b.Put(key(seq), out)
	})
}

// Delete removes record seq.
func Delete(path string, seq uint64) error {
	return update(path, func(b *bbolt.Bucket) error {
		if _, err := get(b, seq); err != nil {
			return err
		}
		return b.Delete(key(seq))
	})
}

// Swap exchanges the stored bytes of records a and b: the records are
// reordered, each intact.
func Swap(path string, a, b uint64) error {
	return update(path, func(bk *bbolt.Bucket) error {
		va, err := get(bk, a)
		if err != nil {
			return err
		}
		vb, err := get(bk, b)
		if err != nil {
			return err
		}
		if err := bk.Put(key(a), vb); err != nil {
			return err
		}
		return bk.Put(key(b), va)
	})
}

// Forge rewrites every record from seq from on, as someone with write
// access to the file but without the audit key would to hide a change:
// each record is decoded, its Prev set to the forged hash of the record
// before it, a checkpoint's covered hash set to the forged hash of the
// record it covers, fn applied (to alter content or re-sign checkpoints
// with another key), and its hash recomputed.
func Forge(path string, from uint64, fn func(*audit.Record)) error {
	return update(path, func(b *bbolt.Bucket) error {
		var prev audit.Hash
		if from > 1 {
			v := b.Get(key(from - 1))
			if len(v) < len(prev) {
				return fmt.Errorf("audittest: no audit record %d", from-1)
			}
			copy(prev[:], v[len(v)-len(prev):])
		}
		forged := map[uint64]audit.Hash{}
		var out []audit.Record
		c := b.Cursor()
		for k, v := c.Seek(key(from)); k != nil; k, v = c.Next() {
			var r audit.Record
			if err := r.UnmarshalBinary(v); err != nil {
				return fmt.Errorf("audittest: decoding record %x: %w", k, err)
			}
			r.Prev = prev
			if cp := r.Checkpoint; cp != nil {
				if h, ok := forged[cp.Seq]; ok {
					cp.Hash = h
				}
			}
			fn(&r)
			r.Hash = r.ComputeHash()
			forged[r.Seq], prev = r.Hash, r.Hash
			out = append(out, r)
		}
		for i := range out {
			v, err := out[i].MarshalBinary()
			if err != nil {
				return err
			}
			if err := b.Put(key(out[i].Seq), v); err != nil {
				return err
			}
		}
		return nil
	})
}
