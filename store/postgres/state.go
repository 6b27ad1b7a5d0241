package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
)

var _ ca.CertificateStore = (*DB)(nil)

// AbandonReservations marks every reservation created before before that
// was never completed, and not marked yet, as abandoned, and appends the
// event that event makes for each to the audit chain in the same
// transaction. An abandoned serial stays reserved: Reserve refuses it
// (the primary key), CompleteAudited refuses it with ca.ErrConflict, and
// Certificate does not find it. event may run more than once.
func (db *DB) AbandonReservations(ctx context.Context, before time.Time, event func(*ca.Prepared) audit.Event) ([]*ca.Prepared, error) {
	var out []*ca.Prepared
	err := db.update(ctx, func(ctx context.Context, b *batch) error {
		out = out[:0]
		if _, err := b.tx.Exec(ctx, "SELECT 1"); err != nil { // begins the transaction and takes the head lock
			return fmt.Errorf("store: abandoning reservations: %w", err)
		}
		rows, err := b.tx.c.Query(ctx, `UPDATE certificates SET abandoned = $2
			WHERE der IS NULL AND abandoned IS NULL AND created < $1
			RETURNING serial, ca, profile, subject_id, partition, not_before, not_after, created`, before, time.Now().UTC())
		if err != nil {
			return fmt.Errorf("store: abandoning reservations: %w", err)
		}
		for rows.Next() {
			var serial []byte
			p := &ca.Prepared{}
			if err := rows.Scan(&serial, &p.CA, &p.Profile, &p.SubjectID, &p.Partition, &p.NotBefore, &p.NotAfter, &p.Created); err != nil {
				rows.Close()
				return fmt.Errorf("store: abandoning reservations: %w", err)
			}
			copy(p.Serial[:], serial)
			out = append(out, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: abandoning reservations: %w", err)
		}
		if len(out) == 0 {
			return nil
		}
		events := make([]audit.Event, len(out))
		for i, p := range out {
			events[i] = event(p)
		}
		return b.appendAudit(ctx, events)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Partitions is the number of CRL partitions of caName: one more than the
// highest partition any reservation names, and at least enough for every
// serial reserved at partitionSize each.
func (db *DB) Partitions(ctx context.Context, caName string, partitionSize int) (int, error) {
	if err := db.readable(ctx); err != nil {
		return 0, err
	}
	var highest, issued int64
	err := db.pool.QueryRow(ctx, `SELECT COALESCE((SELECT MAX(partition) + 1 FROM certificates WHERE ca = $1), 0),
		COALESCE((SELECT n FROM issued WHERE ca = $1), 0)`, caName).Scan(&highest, &issued)
	if err != nil {
		return 0, fmt.Errorf("store: counting the partitions of %s: %w", caName, err)
	}
	n := int(highest)
	if partitionSize > 0 {
		n = max(n, int((issued+int64(partitionSize)-1)/int64(partitionSize)))
	}
	return n, nil
}

// CRLState returns the state SetCRLState last saved for caName, or nil.
func (db *DB) CRLState(ctx context.Context, caName string) ([]byte, error) {
	if err := db.readable(ctx); err != nil {
		return nil, err
	}
	var state []byte
	err := db.pool.QueryRow(ctx, "SELECT state FROM crl_state WHERE ca = $1", caName).Scan(&state)
	if isNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: reading the CRL state of %s: %w", caName, err)
	}
	return state, nil
}

// SetCRLState durably replaces caName's saved CRL state.
func (db *DB) SetCRLState(ctx context.Context, caName string, state []byte) error {
	if len(state) > 64<<10 {
		return fmt.Errorf("store: saving the CRL state of %s: %w: %d bytes, at most 64 KiB", caName, ca.ErrInvalidRequest, len(state))
	}
	return db.update(ctx, func(ctx context.Context, b *batch) error {
		_, err := b.tx.Exec(ctx, `INSERT INTO crl_state (ca, state) VALUES ($1, $2)
			ON CONFLICT (ca) DO UPDATE SET state = EXCLUDED.state`, caName, state)
		if err != nil {
			return fmt.Errorf("store: saving the CRL state of %s: %w", caName, err)
		}
		return nil
	})
}

// CreateCitizenRecord stores a new citizen's record, registers subject in
// the registry when it is not nil, and appends events, in one transaction.
// A taken user ID or an enrolled PID is ca.ErrConflict.
func (db *DB) CreateCitizenRecord(ctx context.Context, userID, pid string, record []byte, subject *ca.Subject, events ...audit.Event) error {
	var sub []byte
	if subject != nil {
		var err error
		if sub, err = json.Marshal(subject); err != nil {
			return fmt.Errorf("store: encoding subject %s: %w", subject.ID, err)
		}
	}
	return db.update(ctx, withAudit(events, func(ctx context.Context, b *batch) error {
		tag, err := b.tx.Exec(ctx, "INSERT INTO citizens (user_id, pid, data) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", userID, pid, record)
		if err != nil {
			return fmt.Errorf("store: enrolling %s: %w", userID, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("store: enrolling %s: %w: the user ID is taken or the person is enrolled already", userID, ca.ErrConflict)
		}
		if subject != nil {
			tag, err := b.tx.Exec(ctx, "INSERT INTO subjects (id, kind, lookup, data) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
				subject.ID, string(subject.Kind), nullBytes(subject.Key), sub)
			if err != nil {
				return fmt.Errorf("store: enrolling %s: registering subject %s: %w", userID, subject.ID, err)
			}
			if tag.RowsAffected() == 0 {
				return fmt.Errorf("store: enrolling %s: registering subject %s: %w", userID, subject.ID, ca.ErrSubjectExists)
			}
		}
		return nil
	}))
}

// CitizenRecord returns a citizen's record by user ID, or ca.ErrNotFound.
func (db *DB) CitizenRecord(ctx context.Context, userID string) ([]byte, error) {
	if err := db.readable(ctx); err != nil {
		return nil, err
	}
	var data []byte
	err := db.pool.QueryRow(ctx, "SELECT data FROM citizens WHERE user_id = $1", userID).Scan(&data)
	if isNoRows(err) {
		return nil, fmt.Errorf("store: finding citizen %s: %w", userID, ca.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: finding citizen %s: %w", userID, err)
	}
	return data, nil
}

// UpdateCitizenRecord runs fn on the stored record, locked for the
// transaction, and stores what it returns with its events. fn may run
// more than once.
func (db *DB) UpdateCitizenRecord(ctx context.Context, userID string, fn func([]byte) ([]byte, []audit.Event, error)) ([]byte, error) {
	var out []byte
	err := db.update(ctx, func(ctx context.Context, b *batch) error {
		var data []byte
		err := b.tx.QueryRow(ctx, "SELECT data FROM citizens WHERE user_id = $1 FOR UPDATE", userID).Scan(&data)
		if isNoRows(err) {
			return fmt.Errorf("store: finding citizen %s: %w", userID, ca.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: finding citizen %s: %w", userID, err)
		}
		nv, events, err := fn(data)
		if err != nil {
			return err
		}
		if _, err := b.tx.Exec(ctx, "UPDATE citizens SET data = $2 WHERE user_id = $1", userID, nv); err != nil {
			return fmt.Errorf("store: storing citizen %s: %w", userID, err)
		}
		out = nv
		if len(events) == 0 {
			return nil
		}
		return b.appendAudit(ctx, events)
	})
	return out, err
}
