package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/oces-pki/oces/ca"
)

// Visitor receives everything a store holds, for moving it to another
// backend ('oces store copy'). A nil function skips its kind. Values are
// the caller's to keep.
type Visitor struct {
	Reservation func(p *ca.Prepared) error    // a serial reserved and never completed
	Certificate func(c *ca.Certificate) error // a completed certificate, with its DER
	Subject     func(s *ca.Subject) error
	Change      func(caName string, at time.Time, serial ca.Serial) error // the status change index, oldest first per CA
	Counter     func(name string, next uint64) error                      // the next value each counter hands out
	Issued      func(caName string, n uint64) error                       // serials ever reserved per CA
}

// Export calls v's functions with the whole store, read in one read
// transaction: a consistent snapshot. The audit chain is read with
// AuditRecords. Run it on a store no server is writing to (a server holds
// the file's lock anyway).
func (db *DB) Export(ctx context.Context, v Visitor) error {
	return db.view(ctx, func(tx *bbolt.Tx) error {
		if err := exportReservations(tx, v.Reservation); err != nil {
			return err
		}
		if v.Certificate != nil {
			err := tx.Bucket(bucketCerts).ForEach(func(k, val []byte) error {
				if len(k) != len(ca.Serial{}) {
					return nil
				}
				c, err := decodeCert(ca.Serial(k), val)
				if err != nil {
					return err
				}
				c.DER = bytes.Clone(tx.Bucket(bucketDER).Get(k))
				return v.Certificate(c)
			})
			if err != nil {
				return err
			}
		}
		if v.Subject != nil {
			err := tx.Bucket(bucketSubjects).ForEach(func(k, val []byte) error {
				var s ca.Subject
				if err := json.Unmarshal(val, &s); err != nil {
					return fmt.Errorf("store: decoding subject %q: %w", k, err)
				}
				return v.Subject(&s)
			})
			if err != nil {
				return err
			}
		}
		if err := exportChanges(tx, v.Change); err != nil {
			return err
		}
		if err := exportU64(tx.Bucket(bucketCounters), v.Counter); err != nil {
			return err
		}
		// The issued bucket also keeps each CA's partition count under a
		// key of its own; a store that reads partitions from its
		// reservations (PostgreSQL) needs only the counts of serials.
		return exportU64(tx.Bucket(bucketIssued), func(name string, n uint64) error {
			if v.Issued == nil || bytes.HasSuffix([]byte(name), partitionsKey("")) {
				return nil
			}
			return v.Issued(name, n)
		})
	})
}

func exportReservations(tx *bbolt.Tx, fn func(*ca.Prepared) error) error {
	if fn == nil {
		return nil
	}
	return tx.Bucket(bucketPrepared).ForEach(func(k, val []byte) error {
		if len(k) != len(ca.Serial{}) {
			return nil
		}
		var r preparedRecord
		if err := json.Unmarshal(val, &r); err != nil {
			return fmt.Errorf("store: decoding reservation %x: %w", k, err)
		}
		return fn(&ca.Prepared{Serial: ca.Serial(k), CA: r.CA, Profile: r.Profile, SubjectID: r.SubjectID,
			Partition: r.Partition, NotBefore: r.NotBefore, NotAfter: r.NotAfter, Created: r.Created, TBS: bytes.Clone(r.TBS)})
	})
}

func exportChanges(tx *bbolt.Tx, fn func(string, time.Time, ca.Serial) error) error {
	top := tx.Bucket(bucketChanges)
	if fn == nil || top == nil {
		return nil
	}
	return top.ForEachBucket(func(name []byte) error {
		return top.Bucket(name).ForEach(func(k, _ []byte) error {
			if len(k) != changeKeyLen {
				return nil
			}
			at := time.Unix(0, int64(binary.BigEndian.Uint64(k))).UTC()
			return fn(string(name), at, ca.Serial(k[8:]))
		})
	})
}

func exportU64(b *bbolt.Bucket, fn func(string, uint64) error) error {
	if fn == nil {
		return nil
	}
	return b.ForEach(func(k, val []byte) error {
		if len(val) != 8 {
			return fmt.Errorf("store: value of %q is not a counter", k)
		}
		return fn(string(k), binary.BigEndian.Uint64(val))
	})
}
