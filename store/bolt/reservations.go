package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
)

// AbandonReservations marks every reservation created before before that
// was never completed, and not marked yet, as abandoned, and appends the
// event that event makes for each to the audit chain in the same
// transaction. An abandoned serial stays reserved for good: it is never
// reused (Reserve refuses it), never completed (Complete refuses it with
// ca.ErrConflict), and Certificate does not find it, so the OCSP responder
// answers it as never issued, which is not "good". event may run more
// than once and must not call the store.
func (db *DB) AbandonReservations(ctx context.Context, before time.Time, event func(*ca.Prepared) audit.Event) ([]*ca.Prepared, error) {
	var out []*ca.Prepared
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		out = out[:0]
		var events []audit.Event
		b := tx.Bucket(bucketPrepared)
		type mark struct {
			key, value []byte
		}
		var marks []mark
		err := b.ForEach(func(k, v []byte) error {
			var r preparedRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("store: decoding reservation %x: %w", k, err)
			}
			if !r.Abandoned.IsZero() || !r.Created.Before(before) || len(k) != len(ca.Serial{}) {
				return nil
			}
			p := &ca.Prepared{Serial: ca.Serial(k), CA: r.CA, Profile: r.Profile, SubjectID: r.SubjectID,
				Partition: r.Partition, NotBefore: r.NotBefore, NotAfter: r.NotAfter, Created: r.Created}
			ev := event(p)
			r.Abandoned = ev.Time.UTC()
			if r.Abandoned.IsZero() {
				r.Abandoned = time.Now().UTC()
			}
			nv, err := json.Marshal(r)
			if err != nil {
				return fmt.Errorf("store: encoding reservation %x: %w", k, err)
			}
			marks = append(marks, mark{append([]byte(nil), k...), nv})
			events = append(events, ev)
			out = append(out, p)
			return nil
		})
		if err != nil {
			return err
		}
		for _, m := range marks { // not inside ForEach: bbolt forbids changing a bucket it iterates
			if err := b.Put(m.key, m.value); err != nil {
				return fmt.Errorf("store: marking reservation %x abandoned: %w", m.key, err)
			}
		}
		if len(events) == 0 {
			return nil
		}
		return appendAudit(tx, events)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
