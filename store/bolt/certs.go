package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
)

// Reserve durably records p. It fails with ca.ErrSerialExists if the serial
// was ever reserved, on any CA, and counts the serial for CountIssued.
func (db *DB) Reserve(ctx context.Context, p *ca.Prepared) error {
	return db.ReserveAudited(ctx, p)
}

// ReserveAudited is Reserve that appends events to the audit chain in the
// same transaction: both are stored or neither is.
func (db *DB) ReserveAudited(ctx context.Context, p *ca.Prepared, events ...audit.Event) error {
	if p == nil || p.CA == "" || p.Serial == (ca.Serial{}) {
		return fmt.Errorf("store: reserving serial: %w: need a non-zero serial and a CA", ca.ErrInvalidRequest)
	}
	v, err := json.Marshal(preparedRecord{
		CA: p.CA, Profile: p.Profile, SubjectID: p.SubjectID, Partition: p.Partition,
		NotBefore: p.NotBefore, NotAfter: p.NotAfter, Created: p.Created, TBS: p.TBS,
	})
	if err != nil {
		return fmt.Errorf("store: encoding reservation %s: %w", p.Serial, err)
	}
	s := p.Serial
	return db.update(ctx, withAudit(events, func(tx *bbolt.Tx) error {
		prepared := tx.Bucket(bucketPrepared)
		if prepared.Get(s[:]) != nil || tx.Bucket(bucketCerts).Get(s[:]) != nil {
			return fmt.Errorf("store: reserving serial %s: %w", s, ca.ErrSerialExists)
		}
		if err := registerNew(tx, p.NewSubject); err != nil {
			return fmt.Errorf("store: reserving serial %s: %w", s, err)
		}
		if err := prepared.Put(s[:], v); err != nil {
			return fmt.Errorf("store: reserving serial %s: %w", s, err)
		}
		issued := tx.Bucket(bucketIssued)
		var n uint64
		if c := issued.Get([]byte(p.CA)); c != nil {
			n = binary.BigEndian.Uint64(c)
		}
		if err := issued.Put([]byte(p.CA), u64(n+1)); err != nil {
			return fmt.Errorf("store: counting serial %s: %w", s, err)
		}
		if p.Partition >= 0 {
			key := partitionsKey(p.CA)
			if v := issued.Get(key); v == nil || binary.BigEndian.Uint64(v) < uint64(p.Partition)+1 {
				if err := issued.Put(key, u64(uint64(p.Partition)+1)); err != nil {
					return fmt.Errorf("store: counting the partition of serial %s: %w", s, err)
				}
			}
		}
		return nil
	}))
}

// Complete durably stores the signed certificate of a reserved serial and
// marks it good. It fails with ca.ErrNotFound if the serial is not reserved,
// ca.ErrConflict if it was completed already, and ca.ErrInvalidRequest if
// der does not carry the TBSCertificate that was reserved.
func (db *DB) Complete(ctx context.Context, serial ca.Serial, der []byte, issuedAt time.Time) (*ca.Certificate, error) {
	return db.CompleteAudited(ctx, serial, der, issuedAt)
}

// CompleteAudited is Complete that appends events to the audit chain in the
// same transaction: both are stored or neither is.
func (db *DB) CompleteAudited(ctx context.Context, serial ca.Serial, der []byte, issuedAt time.Time, events ...audit.Event) (*ca.Certificate, error) {
	if len(der) == 0 {
		return nil, fmt.Errorf("store: completing serial %s: %w: empty certificate", serial, ca.ErrInvalidRequest)
	}
	tbs, tbsErr := rawTBS(der) // parsed outside the writer; checked against the reservation inside
	var out *ca.Certificate
	err := db.update(ctx, withAudit(events, func(tx *bbolt.Tx) error {
		out = nil
		prepared := tx.Bucket(bucketPrepared)
		v := prepared.Get(serial[:])
		if v == nil {
			if tx.Bucket(bucketCerts).Get(serial[:]) != nil {
				return fmt.Errorf("store: completing serial %s: %w: already completed", serial, ca.ErrConflict)
			}
			return fmt.Errorf("store: completing serial %s: %w: not reserved", serial, ca.ErrNotFound)
		}
		var p preparedRecord
		if err := json.Unmarshal(v, &p); err != nil {
			return fmt.Errorf("store: decoding reservation %s: %w", serial, err)
		}
		if !p.Abandoned.IsZero() {
			return fmt.Errorf("store: completing serial %s: %w: the reservation was abandoned at %s", serial, ca.ErrConflict, p.Abandoned.Format(time.RFC3339))
		}
		if len(p.TBS) > 0 && (tbsErr != nil || !bytes.Equal(tbs, p.TBS)) {
			return fmt.Errorf("store: completing serial %s: %w: the certificate does not carry the reserved TBSCertificate", serial, ca.ErrInvalidRequest)
		}
		c := &ca.Certificate{
			Serial: serial, CA: p.CA, Profile: p.Profile, SubjectID: p.SubjectID, Partition: p.Partition,
			NotBefore: p.NotBefore, NotAfter: p.NotAfter, IssuedAt: issuedAt, Status: ca.StatusGood,
		}
		if err := putCert(tx, c); err != nil {
			return err
		}
		if err := indexProfile(tx, c); err != nil {
			return err
		}
		if err := tx.Bucket(bucketDER).Put(serial[:], der); err != nil {
			return fmt.Errorf("store: storing certificate %s: %w", serial, err)
		}
		byCA, err := tx.Bucket(bucketByCA).CreateBucketIfNotExists([]byte(p.CA))
		if err == nil {
			err = byCA.Put(serial[:], nil)
		}
		if err == nil {
			err = prepared.Delete(serial[:])
		}
		if err != nil {
			return fmt.Errorf("store: completing serial %s: %w", serial, err)
		}
		out = c
		return nil
	}))
	if err != nil {
		return nil, err
	}
	out.DER = bytes.Clone(der)
	return out, nil
}

// Certificate returns one completed certificate with its DER, or
// ca.ErrNotFound.
func (db *DB) Certificate(ctx context.Context, serial ca.Serial) (*ca.Certificate, error) {
	var out *ca.Certificate
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		c, ok, err := loadCert(tx, serial, true)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("store: finding certificate %s: %w", serial, ca.ErrNotFound)
		}
		out = c
		return nil
	})
	return out, err
}

// UpdateCertificate runs fn on the stored certificate inside one write
// transaction and stores the result if fn returns nil; if fn fails, its
// error is returned as it is and nothing changes. fn may run more than once
// and must not call the store (see the package documentation). It may
// change the status fields only: changing the serial, CA or DER is refused
// with ca.ErrInvalidRequest.
func (db *DB) UpdateCertificate(ctx context.Context, serial ca.Serial, fn func(*ca.Certificate) error) (*ca.Certificate, error) {
	return db.UpdateCertificateAudited(ctx, serial, fn)
}

// UpdateCertificateAudited is UpdateCertificate that appends events to the
// audit chain in the same transaction, if fn succeeds and the change is
// stored: both are stored or neither is.
func (db *DB) UpdateCertificateAudited(ctx context.Context, serial ca.Serial, fn func(*ca.Certificate) error, events ...audit.Event) (*ca.Certificate, error) {
	var out *ca.Certificate
	err := db.update(ctx, withAudit(events, func(tx *bbolt.Tx) error {
		out = nil
		c, ok, err := loadCert(tx, serial, true)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("store: updating certificate %s: %w", serial, ca.ErrNotFound)
		}
		orig := *c
		c.DER = bytes.Clone(orig.DER)
		if err := fn(c); err != nil {
			return err
		}
		if err := checkUpdate(c, &orig); err != nil {
			return err
		}
		if err := putCert(tx, c); err != nil {
			return err
		}
		if err := indexChange(tx, c, &orig); err != nil {
			return err
		}
		out = c
		return nil
	}))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkUpdate refuses changes that would break the indexes or the record.
func checkUpdate(c, orig *ca.Certificate) error {
	if c.Serial != orig.Serial || c.CA != orig.CA || !bytes.Equal(c.DER, orig.DER) {
		return fmt.Errorf("store: updating certificate %s: %w: the serial, CA and DER cannot change", orig.Serial, ca.ErrInvalidRequest)
	}
	if _, err := ca.ParseStatus(string(c.Status)); err != nil {
		return fmt.Errorf("store: updating certificate %s: %w: %w", orig.Serial, ca.ErrInvalidRequest, err)
	}
	return nil
}

// partitionsKey is where the issued bucket keeps one more than the highest
// CRL partition a reservation of the CA named.
func partitionsKey(caName string) []byte { return append([]byte(caName), 0, 'p') }

// Partitions is one more than the highest CRL partition any reservation
// of caName names: every partition below it may hold certificates. A file
// from before it was kept answers from the count of serials instead.
func (db *DB) Partitions(ctx context.Context, caName string, partitionSize int) (int, error) {
	var n int
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketIssued)
		if v := b.Get(partitionsKey(caName)); v != nil {
			n = int(binary.BigEndian.Uint64(v))
		}
		if v := b.Get([]byte(caName)); v != nil && partitionSize > 0 {
			n = max(n, int((binary.BigEndian.Uint64(v)+uint64(partitionSize)-1)/uint64(partitionSize)))
		}
		return nil
	})
	return n, err
}

// CountIssued is how many serials have been reserved for caName; 0 for a
// CA that has none.
func (db *DB) CountIssued(ctx context.Context, caName string) (uint64, error) {
	var n uint64
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketIssued).Get([]byte(caName)); v != nil {
			n = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return n, err
}
