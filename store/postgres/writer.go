package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
)

// notifyChannel is the LISTEN/NOTIFY channel woken once per committed
// batch that holds status changes; the payload is the newest change's
// sequence number.
const notifyChannel = "oces_changes"

// commitTimeout bounds one batch transaction, lock wait included.
const commitTimeout = 30 * time.Second

// writeFunc is one caller's write: statements on b.tx, and audit records,
// changes and counts added to b, which the writer stores at the end of the
// batch.
type writeFunc func(ctx context.Context, b *batch) error

// batch is the state of one group-commit transaction.
type batch struct {
	tx         pgx.Tx
	head       audit.Head // the end of the chain, including this batch's records so far
	changeSeq  uint64
	records    []auditRow
	changes    []changeRow
	issued     map[string]int64
	checkpoint *checkpointRow
}

type auditRow struct {
	seq  uint64
	hash audit.Hash
	data []byte
}

type changeRow struct {
	seq    uint64
	ca     string
	serial ca.Serial
	at     time.Time
}

type checkpointRow struct {
	seq, covers uint64
	at          time.Time
}

// writer owns every writing transaction of the process and commits in
// groups, as store/bolt's does: see "Concurrency" in the package
// documentation.
type writer struct {
	pool     *pgxpool.Pool
	maxBatch int
	log      *slog.Logger

	reqs    chan *request
	quit    chan struct{}
	stopped chan struct{}

	commits atomic.Uint64
	writes  atomic.Uint64
	failed  atomic.Uint64
}

type request struct {
	ctx  context.Context
	fn   writeFunc
	done chan error
}

type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string {
	return fmt.Sprintf("store: write panicked: %v\n\n%s", p.value, p.stack)
}

func newWriter(pool *pgxpool.Pool, maxBatch int, log *slog.Logger) *writer {
	return &writer{
		pool: pool, maxBatch: maxBatch, log: log,
		reqs: make(chan *request), quit: make(chan struct{}), stopped: make(chan struct{}),
	}
}

// submit queues fn and waits for its answer. Cancelling ctx withdraws a
// write the writer has not taken yet; once taken, its real outcome is
// reported.
func (w *writer) submit(ctx context.Context, fn writeFunc) error {
	r := &request{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case w.reqs <- r:
	case <-ctx.Done():
		return fmt.Errorf("store: waiting to write: %w", ctx.Err())
	}
	err := <-r.done
	if p, ok := err.(*panicError); ok {
		panic(p.Error())
	}
	return err
}

func (w *writer) run() {
	defer close(w.stopped)
	batch := make([]*request, 0, w.maxBatch)
	for {
		select {
		case r := <-w.reqs:
			batch = append(batch[:0], r)
		case <-w.quit:
			return
		}
	gather:
		for len(batch) < w.maxBatch {
			select {
			case r := <-w.reqs:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		w.commit(batch)
		clear(batch)
	}
}

func (w *writer) stop() {
	close(w.quit)
	<-w.stopped
}

// commit applies batch in one transaction and answers every request. A
// request whose function fails gets that error; the transaction is rolled
// back and the others are applied again without it.
func (w *writer) commit(reqs []*request) {
	pending := make([]*request, 0, len(reqs))
	for _, r := range reqs {
		if err := r.ctx.Err(); err != nil {
			w.answer(r, fmt.Errorf("store: waiting to write: %w", err))
			continue
		}
		pending = append(pending, r)
	}
	for len(pending) > 0 {
		i, err := w.try(pending)
		if i >= 0 {
			w.log.Debug("write failed; re-applying its batch without it", "error", err, "batch", len(pending))
			w.answer(pending[i], err)
			pending = append(pending[:i], pending[i+1:]...)
			continue
		}
		if err != nil {
			w.log.Error("store: batch failed", "error", err, "writes", len(pending))
			for _, r := range pending {
				w.answer(r, err)
			}
			return
		}
		w.commits.Add(1)
		w.writes.Add(uint64(len(pending)))
		for _, r := range pending {
			r.done <- nil
		}
		return
	}
}

// try runs reqs in one transaction. It returns the index of the request
// that failed, or -1 with the error of the transaction itself (nil if it
// committed).
func (w *writer) try(reqs []*request) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return -1, fmt.Errorf("store: beginning transaction: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	b := &batch{tx: tx, issued: map[string]int64{}}
	if err := b.lockHead(ctx); err != nil {
		return -1, err
	}
	for i, r := range reqs {
		if err := call(ctx, b, r.fn); err != nil {
			return i, err
		}
	}
	if err := b.flush(ctx); err != nil {
		return -1, err
	}
	if err := tx.Commit(ctx); err != nil {
		return -1, fmt.Errorf("store: committing: %w", err)
	}
	return -1, nil
}

func call(ctx context.Context, b *batch, fn writeFunc) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: debug.Stack()}
		}
	}()
	return fn(ctx, b)
}

// lockHead takes the head row's lock, which every writing transaction of
// every process takes first, and reads the ends of the chain and the log.
func (b *batch) lockHead(ctx context.Context) error {
	var seq, changeSeq int64
	var hash []byte
	err := b.tx.QueryRow(ctx, "SELECT audit_seq, audit_hash, change_seq FROM head WHERE id = 1 FOR UPDATE").Scan(&seq, &hash, &changeSeq)
	if err != nil {
		return fmt.Errorf("store: locking the chain head: %w", err)
	}
	if len(hash) != len(b.head.Hash) {
		return errors.New("store: the audit chain head is damaged; run 'oces audit verify'")
	}
	b.head.Seq, b.changeSeq = uint64(seq), uint64(changeSeq)
	copy(b.head.Hash[:], hash)
	return nil
}

// flush stores what the batch's writes gathered, moves the head, and
// queues the notification, which PostgreSQL delivers at commit.
func (b *batch) flush(ctx context.Context) error {
	if len(b.records) > 0 {
		seqs, data := make([]int64, len(b.records)), make([][]byte, len(b.records))
		for i, r := range b.records {
			seqs[i], data[i] = int64(r.seq), r.data
		}
		if _, err := b.tx.Exec(ctx, "INSERT INTO audit (seq, data) SELECT * FROM unnest($1::bigint[], $2::bytea[])", seqs, data); err != nil {
			return fmt.Errorf("store: storing audit records: %w", err)
		}
	}
	if len(b.changes) > 0 {
		n := len(b.changes)
		seqs, cas, serials, ats := make([]int64, n), make([]string, n), make([][]byte, n), make([]time.Time, n)
		for i, c := range b.changes {
			seqs[i], cas[i], serials[i], ats[i] = int64(c.seq), c.ca, c.serial[:], c.at
		}
		if _, err := b.tx.Exec(ctx, `INSERT INTO changes (seq, ca, serial, changed_at)
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::bytea[], $4::timestamptz[])`, seqs, cas, serials, ats); err != nil {
			return fmt.Errorf("store: storing status changes: %w", err)
		}
		if _, err := b.tx.Exec(ctx, "SELECT pg_notify($1, $2)", notifyChannel, strconv.FormatUint(b.changeSeq, 10)); err != nil {
			return fmt.Errorf("store: notifying status changes: %w", err)
		}
	}
	if len(b.issued) > 0 {
		cas, ns := make([]string, 0, len(b.issued)), make([]int64, 0, len(b.issued))
		for c, n := range b.issued {
			cas, ns = append(cas, c), append(ns, n)
		}
		if _, err := b.tx.Exec(ctx, `INSERT INTO issued AS i (ca, n) SELECT * FROM unnest($1::text[], $2::bigint[])
			ON CONFLICT (ca) DO UPDATE SET n = i.n + EXCLUDED.n`, cas, ns); err != nil {
			return fmt.Errorf("store: counting serials: %w", err)
		}
	}
	if len(b.records) == 0 && len(b.changes) == 0 {
		return nil
	}
	sql := "UPDATE head SET audit_seq = $1, audit_hash = $2, change_seq = $3 WHERE id = 1"
	args := []any{int64(b.head.Seq), b.head.Hash[:], int64(b.changeSeq)}
	if cp := b.checkpoint; cp != nil {
		sql = `UPDATE head SET audit_seq = $1, audit_hash = $2, change_seq = $3,
			checkpoint_seq = $4, checkpoint_covers = $5, checkpoint_time = $6 WHERE id = 1`
		args = append(args, int64(cp.seq), int64(cp.covers), cp.at.UnixNano())
	}
	if _, err := b.tx.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("store: moving the chain head: %w", err)
	}
	return nil
}

// addChange appends a status change to the batch's part of the log.
func (b *batch) addChange(c *ca.Certificate) {
	b.changeSeq++
	b.changes = append(b.changes, changeRow{seq: b.changeSeq, ca: c.CA, serial: c.Serial, at: c.StatusChanged})
}

func (w *writer) answer(r *request, err error) {
	w.failed.Add(1)
	r.done <- err
}

func (w *writer) stats() Stats {
	return Stats{Commits: w.commits.Load(), Writes: w.writes.Load(), Failed: w.failed.Load()}
}

// SQLSTATE codes the store maps to domain errors.
const (
	codeUniqueViolation = "23505"
	codeOutOfRange      = "22003"
)

func isCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

func isOverflow(err error) bool { return isCode(err, codeOutOfRange) }
