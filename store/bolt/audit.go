package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/oces-pki/oces/audit"
)

// The audit chain lives in two buckets, created by the first append:
//
//	audit        seq (uint64 big-endian) -> audit.Record.MarshalBinary(): canonical encoding || hash
//	audit-meta   "checkpoint" -> uint64 seq || uint64 covered seq || int64 Unix seconds || uint32 ns
//	             of the newest checkpoint
//
// The head of the chain is the last key of bucket audit and the last 32
// bytes of its value, read inside every transaction that appends, so that
// writes group-committed together, and re-applied after a neighbour fails,
// still form one linear chain.
var (
	bucketAudit     = []byte("audit")
	bucketAuditMeta = []byte("audit-meta")
	keyCheckpoint   = []byte("checkpoint")
)

var (
	_ audit.Source          = (*DB)(nil)
	_ audit.CheckpointStore = (*DB)(nil)
)

// auditChunkBytes bounds the bytes AuditRecords reads per read
// transaction; the records per transaction are bounded by DB.chunk.
const auditChunkBytes = 4 << 20

// AppendAudit durably appends events to the audit chain, in order, in one
// transaction. Use it for events that change nothing else in the store (a
// CRL or OCSP signature, a failed attempt, a checkpoint); a change to a
// certificate is recorded by the Audited variant of the method that makes
// it, in the change's own transaction.
func (db *DB) AppendAudit(ctx context.Context, events ...audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	for i := range events {
		if err := events[i].Validate(); err != nil {
			return fmt.Errorf("store: appending audit record: %w", err)
		}
	}
	return db.update(ctx, func(tx *bbolt.Tx) error { return appendAudit(tx, events) })
}

// withAudit returns fn followed, in the same transaction and only if fn
// succeeds, by appending events to the audit chain. Both run again if the
// writer re-applies the transaction, so the records' sequence numbers are
// always those of the transaction that commits.
func withAudit(events []audit.Event, fn func(*bbolt.Tx) error) func(*bbolt.Tx) error {
	if len(events) == 0 {
		return fn
	}
	return func(tx *bbolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return appendAudit(tx, events)
	}
}

// appendAudit chains events after the head found in tx and stores them.
func appendAudit(tx *bbolt.Tx, events []audit.Event) error {
	b, err := tx.CreateBucketIfNotExists(bucketAudit)
	if err != nil {
		return fmt.Errorf("store: creating audit bucket: %w", err)
	}
	b.FillPercent = 1 // keys only ever grow: pack the pages
	head, err := chainHead(b)
	if err != nil {
		return err
	}
	for _, ev := range events {
		if ev.Checkpoint != nil {
			if err := checkCheckpoint(b, head, ev.Checkpoint); err != nil {
				return err
			}
		}
		r, err := audit.Next(head, ev)
		if err != nil {
			return fmt.Errorf("store: appending audit record: %w", err)
		}
		v, err := r.MarshalBinary()
		if err != nil {
			return fmt.Errorf("store: encoding audit record %d: %w", r.Seq, err)
		}
		if err := b.Put(u64(r.Seq), v); err != nil {
			return fmt.Errorf("store: storing audit record %d: %w", r.Seq, err)
		}
		if ev.Checkpoint != nil {
			if err := putCheckpointMeta(tx, r.Seq, ev.Checkpoint.Seq, r.Time); err != nil {
				return err
			}
		}
		head = audit.Head{Seq: r.Seq, Hash: r.Hash}
	}
	return nil
}

// chainHead reads the newest record's sequence number and stored hash.
func chainHead(b *bbolt.Bucket) (audit.Head, error) {
	var h audit.Head
	k, v := b.Cursor().Last()
	if k == nil {
		return h, nil
	}
	if len(k) != 8 || len(v) < len(h.Hash) {
		return h, fmt.Errorf("store: the last audit record (key %x) is damaged; run 'oces audit verify'", k)
	}
	h.Seq = binary.BigEndian.Uint64(k)
	copy(h.Hash[:], v[len(v)-len(h.Hash):])
	return h, nil
}

// checkCheckpoint refuses a checkpoint that Verify could not check: over a
// record not in the chain with that hash, or too far behind the head.
func checkCheckpoint(b *bbolt.Bucket, head audit.Head, cp *audit.Checkpoint) error {
	if cp.Seq == 0 || cp.Seq > head.Seq || head.Seq+1-cp.Seq > audit.MaxCheckpointLag {
		return fmt.Errorf("store: appending checkpoint over record %d at head %d: %w", cp.Seq, head.Seq, audit.ErrStaleCheckpoint)
	}
	v := b.Get(u64(cp.Seq))
	if len(v) < len(cp.Hash) || !bytes.Equal(v[len(v)-len(cp.Hash):], cp.Hash[:]) {
		return fmt.Errorf("store: appending checkpoint over record %d: %w: the record has another hash", cp.Seq, audit.ErrStaleCheckpoint)
	}
	return nil
}

func putCheckpointMeta(tx *bbolt.Tx, seq, covers uint64, t time.Time) error {
	meta, err := tx.CreateBucketIfNotExists(bucketAuditMeta)
	if err != nil {
		return fmt.Errorf("store: creating audit meta bucket: %w", err)
	}
	v := binary.BigEndian.AppendUint64(u64(seq), covers)
	v = binary.BigEndian.AppendUint64(v, uint64(t.Unix()))
	v = binary.BigEndian.AppendUint32(v, uint32(t.Nanosecond()))
	if err := meta.Put(keyCheckpoint, v); err != nil {
		return fmt.Errorf("store: recording checkpoint %d: %w", seq, err)
	}
	return nil
}

// AuditHead returns the end of the audit chain and its newest checkpoint.
func (db *DB) AuditHead(ctx context.Context) (audit.Head, error) {
	var h audit.Head
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		if b == nil {
			return nil
		}
		var err error
		if h, err = chainHead(b); err != nil {
			return err
		}
		meta := tx.Bucket(bucketAuditMeta)
		if meta == nil {
			return nil
		}
		if v := meta.Get(keyCheckpoint); len(v) == 28 {
			h.CheckpointSeq = binary.BigEndian.Uint64(v)
			h.CheckpointCovers = binary.BigEndian.Uint64(v[8:])
			h.CheckpointTime = time.Unix(int64(binary.BigEndian.Uint64(v[16:])), int64(binary.BigEndian.Uint32(v[24:]))).UTC()
		} else if v != nil {
			return errors.New("store: the audit checkpoint marker is damaged; run 'oces audit verify'")
		}
		return nil
	})
	return h, err
}

// AuditRecords calls fn with every stored audit record from sequence number
// from on, in order, as audit.Source requires. It reads in chunks of short
// read transactions and calls fn outside them, so a scan of millions of
// records holds neither much memory nor the writer back; fn may call the
// store. The scan is not one snapshot, but records never change once
// appended, so it sees the chain as it was at some moment, or longer.
func (db *DB) AuditRecords(ctx context.Context, from uint64, fn func(seq uint64, data []byte) error) error {
	var (
		buf  []byte
		seqs []uint64
		ends []int
	)
	for {
		buf, seqs, ends = buf[:0], seqs[:0], ends[:0]
		err := db.view(ctx, func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketAudit)
			if b == nil {
				return nil
			}
			c := b.Cursor()
			for k, v := c.Seek(u64(from)); k != nil && len(seqs) < db.chunk && len(buf) < auditChunkBytes; k, v = c.Next() {
				if len(k) != 8 {
					return fmt.Errorf("store: audit record key %x after record %d is not a sequence number", k, from-1)
				}
				seqs, buf = append(seqs, binary.BigEndian.Uint64(k)), append(buf, v...)
				ends = append(ends, len(buf))
			}
			return nil
		})
		if err != nil {
			return err
		}
		start := 0
		for i, s := range seqs {
			if err := fn(s, buf[start:ends[i]:ends[i]]); err != nil {
				return err
			}
			start = ends[i]
		}
		if len(seqs) == 0 || seqs[len(seqs)-1] == ^uint64(0) {
			return nil
		}
		from = seqs[len(seqs)-1] + 1
	}
}
