package postgres

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/oces-pki/oces/audit"
)

// auditChunk bounds the records AuditRecords reads per query.
const auditChunk = 1000

// AppendAudit durably appends events to the audit chain, in order, in one
// transaction. A change to a certificate is recorded by the Audited variant
// of the method that makes it, in the change's own transaction.
func (db *DB) AppendAudit(ctx context.Context, events ...audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	for i := range events {
		if err := events[i].Validate(); err != nil {
			return fmt.Errorf("store: appending audit record: %w", err)
		}
	}
	return db.update(ctx, func(ctx context.Context, b *batch) error { return b.appendAudit(ctx, events) })
}

// withAudit returns fn followed, in the same transaction and only if fn
// succeeds, by appending events.
func withAudit(events []audit.Event, fn writeFunc) writeFunc {
	if len(events) == 0 {
		return fn
	}
	return func(ctx context.Context, b *batch) error {
		if err := fn(ctx, b); err != nil {
			return err
		}
		return b.appendAudit(ctx, events)
	}
}

// appendAudit chains events after the batch's head. The head was read
// under the head row's lock, so records of several processes form one
// linear chain.
func (b *batch) appendAudit(ctx context.Context, events []audit.Event) error {
	if err := b.tx.ensure(ctx); err != nil {
		return err
	}
	for _, ev := range events {
		if ev.Checkpoint != nil {
			if err := b.checkCheckpoint(ctx, ev.Checkpoint); err != nil {
				return err
			}
		}
		r, err := audit.Next(b.head, ev)
		if err != nil {
			return fmt.Errorf("store: appending audit record: %w", err)
		}
		v, err := r.MarshalBinary()
		if err != nil {
			return fmt.Errorf("store: encoding audit record %d: %w", r.Seq, err)
		}
		b.records = append(b.records, auditRow{seq: r.Seq, hash: r.Hash, data: v})
		if ev.Checkpoint != nil {
			b.checkpoint = &checkpointRow{seq: r.Seq, covers: ev.Checkpoint.Seq, at: r.Time}
		}
		b.head.Seq, b.head.Hash = r.Seq, r.Hash
	}
	return nil
}

// checkCheckpoint refuses a checkpoint that Verify could not check: over a
// record not in the chain with that hash, or too far behind the head.
func (b *batch) checkCheckpoint(ctx context.Context, cp *audit.Checkpoint) error {
	head := b.head
	if cp.Seq == 0 || cp.Seq > head.Seq || head.Seq+1-cp.Seq > audit.MaxCheckpointLag {
		return fmt.Errorf("store: appending checkpoint over record %d at head %d: %w", cp.Seq, head.Seq, audit.ErrStaleCheckpoint)
	}
	var got []byte
	for _, r := range b.records {
		if r.seq == cp.Seq {
			got = r.hash[:]
		}
	}
	if got == nil {
		var v []byte
		err := b.tx.QueryRow(ctx, "SELECT data FROM audit WHERE seq = $1", int64(cp.Seq)).Scan(&v)
		if err != nil && !isNoRows(err) {
			return fmt.Errorf("store: reading audit record %d: %w", cp.Seq, err)
		}
		if len(v) >= len(cp.Hash) {
			got = v[len(v)-len(cp.Hash):]
		}
	}
	if !bytes.Equal(got, cp.Hash[:]) {
		return fmt.Errorf("store: appending checkpoint over record %d: %w: the record has another hash", cp.Seq, audit.ErrStaleCheckpoint)
	}
	return nil
}

// AuditHead returns the end of the audit chain and its newest checkpoint.
func (db *DB) AuditHead(ctx context.Context) (audit.Head, error) {
	var h audit.Head
	if err := db.readable(ctx); err != nil {
		return h, err
	}
	var seq, cpSeq, cpCovers, cpTime int64
	var hash []byte
	err := db.pool.QueryRow(ctx, "SELECT audit_seq, audit_hash, checkpoint_seq, checkpoint_covers, checkpoint_time FROM head WHERE id = 1").
		Scan(&seq, &hash, &cpSeq, &cpCovers, &cpTime)
	if err != nil {
		return h, fmt.Errorf("store: reading the audit chain head: %w", err)
	}
	if len(hash) != len(h.Hash) {
		return h, fmt.Errorf("store: the audit chain head is damaged; run 'oces audit verify'")
	}
	h.Seq, h.CheckpointSeq, h.CheckpointCovers = uint64(seq), uint64(cpSeq), uint64(cpCovers)
	copy(h.Hash[:], hash)
	if cpSeq != 0 {
		h.CheckpointTime = time.Unix(0, cpTime).UTC()
	}
	return h, nil
}

// AuditRecords calls fn with every stored audit record from sequence number
// from on, in order, as audit.Source requires. It reads in chunks and calls
// fn outside the queries, so fn may call the store.
func (db *DB) AuditRecords(ctx context.Context, from uint64, fn func(seq uint64, data []byte) error) error {
	type rec struct {
		seq  uint64
		data []byte
	}
	var recs []rec
	for {
		if err := db.readable(ctx); err != nil {
			return err
		}
		recs = recs[:0]
		rows, err := db.pool.Query(ctx, "SELECT seq, data FROM audit WHERE seq >= $1 ORDER BY seq LIMIT $2", int64(min(from, 1<<63-1)), auditChunk)
		if err != nil {
			return fmt.Errorf("store: reading audit records: %w", err)
		}
		for rows.Next() {
			var seq int64
			var data []byte
			if err := rows.Scan(&seq, &data); err != nil {
				rows.Close()
				return fmt.Errorf("store: reading audit records: %w", err)
			}
			recs = append(recs, rec{uint64(seq), data})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: reading audit records: %w", err)
		}
		for _, r := range recs {
			if err := fn(r.seq, r.data); err != nil {
				return err
			}
		}
		if len(recs) < auditChunk {
			return nil
		}
		from = recs[len(recs)-1].seq + 1
	}
}
