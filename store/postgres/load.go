package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
)

// loadChunk is how many rows a Load sends per COPY.
const loadChunk = 5000

// Load bulk-loads another store's contents into an empty database, in one
// transaction that holds the head row's lock, so that nothing else writes
// meanwhile and a failed load leaves the database empty. Rows are sent
// with COPY; call Commit at the end, or Rollback.
type Load struct {
	db   *DB
	tx   pgx.Tx
	rows map[string][][]any
	last struct {
		seq  uint64
		hash audit.Hash
	}
	changes uint64
	cp      audit.Head
}

var loadColumns = map[string][]string{
	"certificates": {"serial", "ca", "profile", "subject_id", "partition", "not_before", "not_after", "created", "tbs",
		"der", "issued_at", "status", "status_changed", "reason", "invalidity_date", "revoked_at"},
	"subjects": {"id", "kind", "lookup", "data"},
	"audit":    {"seq", "data"},
	"changes":  {"seq", "ca", "serial", "changed_at"},
	"counters": {"name", "next"},
	"issued":   {"ca", "n"},
}

// BeginLoad starts a load. It fails unless the database holds no
// certificate and no audit record.
func (db *DB) BeginLoad(ctx context.Context) (*Load, error) {
	if err := db.readable(ctx); err != nil {
		return nil, err
	}
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: beginning the load: %w", err)
	}
	var seq int64
	var used bool
	err = tx.QueryRow(ctx, `SELECT audit_seq, EXISTS (SELECT 1 FROM certificates) OR EXISTS (SELECT 1 FROM subjects)
		FROM head WHERE id = 1 FOR UPDATE`).Scan(&seq, &used)
	if err == nil && (seq != 0 || used) {
		err = fmt.Errorf("the database is not empty (%d audit records); copy into a new database", seq)
	}
	if err != nil {
		_ = tx.Rollback(ctx)
		return nil, fmt.Errorf("store: beginning the load: %w", err)
	}
	return &Load{db: db, tx: tx, rows: map[string][][]any{}}, nil
}

func (l *Load) add(ctx context.Context, table string, row ...any) error {
	l.rows[table] = append(l.rows[table], row)
	if len(l.rows[table]) >= loadChunk {
		return l.flush(ctx, table)
	}
	return nil
}

func (l *Load) flush(ctx context.Context, table string) error {
	rows := l.rows[table]
	if len(rows) == 0 {
		return nil
	}
	if _, err := l.tx.CopyFrom(ctx, pgx.Identifier{table}, loadColumns[table], pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("store: loading %s: %w", table, err)
	}
	l.rows[table] = rows[:0]
	return nil
}

// Reservation loads a serial reserved and never completed.
func (l *Load) Reservation(ctx context.Context, p *ca.Prepared) error {
	return l.add(ctx, "certificates", p.Serial[:], p.CA, p.Profile, p.SubjectID, int32(p.Partition), p.NotBefore, p.NotAfter,
		p.Created, nullBytes(p.TBS), nil, nil, nil, nil, "", nil, nil)
}

// Certificate loads a completed certificate with its DER.
func (l *Load) Certificate(ctx context.Context, c *ca.Certificate) error {
	if len(c.DER) == 0 {
		return fmt.Errorf("store: loading certificate %s: %w: no DER", c.Serial, ca.ErrInvalidRequest)
	}
	return l.add(ctx, "certificates", c.Serial[:], c.CA, c.Profile, c.SubjectID, int32(c.Partition), c.NotBefore, c.NotAfter,
		c.IssuedAt, nil, c.DER, nullTime(c.IssuedAt), string(c.Status), nullTime(c.StatusChanged), string(c.Reason),
		nullTime(c.InvalidityDate), nullTime(c.RevokedAt))
}

// Subject loads a registry entry.
func (l *Load) Subject(ctx context.Context, s *ca.Subject) error {
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("store: encoding subject %s: %w", s.ID, err)
	}
	return l.add(ctx, "subjects", s.ID, string(s.Kind), nullBytes(s.Key), data)
}

// Change loads a status change; call it in the order of the changes.
func (l *Load) Change(ctx context.Context, caName string, at time.Time, serial ca.Serial) error {
	l.changes++
	return l.add(ctx, "changes", int64(l.changes), caName, serial[:], at)
}

// Counter loads a counter's next value.
func (l *Load) Counter(ctx context.Context, name string, next uint64) error {
	return l.add(ctx, "counters", name, int64(next))
}

// Issued loads how many serials a CA has reserved.
func (l *Load) Issued(ctx context.Context, caName string, n uint64) error {
	return l.add(ctx, "issued", caName, int64(n))
}

// AuditRecord loads one stored audit record; call it in sequence order,
// from 1, with no gap. The record is stored as it is; Commit's caller
// verifies the chain.
func (l *Load) AuditRecord(ctx context.Context, seq uint64, data []byte) error {
	if seq != l.last.seq+1 {
		return fmt.Errorf("store: loading audit record %d after %d: the chain has a gap", seq, l.last.seq)
	}
	var h audit.Hash
	if len(data) < len(h) {
		return fmt.Errorf("store: loading audit record %d: too short", seq)
	}
	copy(h[:], data[len(data)-len(h):])
	l.last.seq, l.last.hash = seq, h
	return l.add(ctx, "audit", int64(seq), append([]byte(nil), data...))
}

// Checkpoint records the newest checkpoint of the source's chain head.
func (l *Load) Checkpoint(h audit.Head) { l.cp = h }

// Commit sends what is buffered, sets the head row and commits.
func (l *Load) Commit(ctx context.Context) (err error) {
	defer func() {
		if err != nil { // give the connection back: the database stays as it was
			_ = l.tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	for table := range loadColumns {
		if err := l.flush(ctx, table); err != nil {
			return err
		}
	}
	var cpTime int64
	if l.cp.CheckpointSeq != 0 {
		cpTime = l.cp.CheckpointTime.UnixNano()
	}
	_, err = l.tx.Exec(ctx, `UPDATE head SET audit_seq = $1, audit_hash = $2, change_seq = $3,
		checkpoint_seq = $4, checkpoint_covers = $5, checkpoint_time = $6 WHERE id = 1`,
		int64(l.last.seq), l.last.hash[:], int64(l.changes), int64(l.cp.CheckpointSeq), int64(l.cp.CheckpointCovers), cpTime)
	if err != nil {
		return fmt.Errorf("store: setting the chain head: %w", err)
	}
	if err := l.tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: committing the load: %w", err)
	}
	return nil
}

// Rollback abandons the load; the database stays as it was.
func (l *Load) Rollback(ctx context.Context) error { return l.tx.Rollback(ctx) }

// Counts is how many rows of each kind the store holds.
type Counts struct {
	Reservations uint64 `json:"reservations"` // serials reserved and never completed
	Certificates uint64 `json:"certificates"` // completed certificates
	Subjects     uint64 `json:"subjects"`
	Changes      uint64 `json:"changes"`
	AuditRecords uint64 `json:"audit_records"`
	Counters     uint64 `json:"counters"`
}

// Count counts the store's rows, for checking a copy.
func (db *DB) Count(ctx context.Context) (Counts, error) {
	var c Counts
	if err := db.readable(ctx); err != nil {
		return c, err
	}
	var n [6]int64
	err := db.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM certificates WHERE der IS NULL), (SELECT count(*) FROM certificates WHERE der IS NOT NULL),
		(SELECT count(*) FROM subjects), (SELECT count(*) FROM changes), (SELECT count(*) FROM audit), (SELECT count(*) FROM counters)`).
		Scan(&n[0], &n[1], &n[2], &n[3], &n[4], &n[5])
	if err != nil {
		return c, fmt.Errorf("store: counting rows: %w", err)
	}
	return Counts{uint64(n[0]), uint64(n[1]), uint64(n[2]), uint64(n[3]), uint64(n[4]), uint64(n[5])}, nil
}
