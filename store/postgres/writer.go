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

// conn is what a write runs its statements on.
type conn interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// batch is the state of one group-commit transaction.
type batch struct {
	tx         *txConn
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
// committed). The transaction costs one round trip besides the writes'
// own statements: BEGIN and the head lock travel with the first statement
// (txConn), and the batch's gathered rows with COMMIT.
func (w *writer) try(reqs []*request) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	pc, err := w.pool.Acquire(ctx)
	if err != nil {
		return -1, fmt.Errorf("store: connecting: %w", err)
	}
	defer pc.Release()
	conn := pc.Conn()
	committed := false
	defer func() {
		if !committed && !conn.IsClosed() {
			if _, err := conn.Exec(context.WithoutCancel(ctx), "ROLLBACK"); err != nil {
				_ = conn.Close(ctx) // the pool drops a closed connection
			}
		}
	}()
	b := &batch{issued: map[string]int64{}}
	b.tx = &txConn{c: conn, b: b}
	for i, r := range reqs {
		if err := call(ctx, b, r.fn); err != nil {
			if b.tx.err != nil { // the transaction failed to begin: no write's fault
				return -1, b.tx.err
			}
			return i, err
		}
	}
	if err := b.commit(ctx); err != nil {
		return -1, err
	}
	committed = true
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

// headSQL takes the head row's lock, which every writing transaction of
// every process takes first, and reads the ends of the chain and the log.
const headSQL = "SELECT audit_seq, audit_hash, change_seq FROM head WHERE id = 1 FOR UPDATE"

// txConn opens the batch's transaction lazily: BEGIN and the head lock go
// in one pipeline with the first statement of the first write, so that a
// batch costs one round trip besides its statements and its COMMIT.
type txConn struct {
	c     *pgx.Conn
	b     *batch
	begun bool
	err   error // the failure to begin, which is the batch's, not a write's
}

func (t *txConn) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.begun {
		return t.c.Exec(ctx, sql, args...)
	}
	res, err := t.start(ctx, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := res.Exec()
	if cerr := res.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (t *txConn) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if t.begun {
		return t.c.QueryRow(ctx, sql, args...)
	}
	res, err := t.start(ctx, sql, args)
	if err != nil {
		return errRow{err}
	}
	return batchRow{res}
}

// ensure begins the transaction if no statement has yet.
func (t *txConn) ensure(ctx context.Context) error {
	if t.begun || t.err != nil {
		return t.err
	}
	res, err := t.start(ctx, "", nil)
	if err != nil {
		return err
	}
	if err := res.Close(); err != nil {
		t.err = fmt.Errorf("store: locking the chain head: %w", err)
	}
	return t.err
}

// start sends BEGIN, the head lock and sql (if any) in one pipeline, reads
// the head, and leaves sql's result to be read from the results.
func (t *txConn) start(ctx context.Context, sql string, args []any) (pgx.BatchResults, error) {
	if t.err != nil {
		return nil, t.err
	}
	q := &pgx.Batch{}
	q.Queue("BEGIN")
	q.Queue(headSQL)
	if sql != "" {
		q.Queue(sql, args...)
	}
	res := t.c.SendBatch(ctx, q)
	if err := t.b.readHead(res); err != nil {
		_ = res.Close()
		t.err = err
		return nil, err
	}
	t.begun = true
	return res, nil
}

type batchRow struct{ res pgx.BatchResults }

func (r batchRow) Scan(dest ...any) error {
	err := r.res.QueryRow().Scan(dest...)
	if cerr := r.res.Close(); err == nil {
		err = cerr
	}
	return err
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// readHead reads BEGIN's and the head lock's results.
func (b *batch) readHead(res pgx.BatchResults) error {
	var seq, changeSeq int64
	var hash []byte
	_, err := res.Exec()
	if err == nil {
		err = res.QueryRow().Scan(&seq, &hash, &changeSeq)
	}
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

// commit stores what the batch's writes gathered, moves the head, queues
// the notification (PostgreSQL delivers it at commit) and commits, in one
// pipeline. If a statement fails, the server skips the rest, COMMIT
// included, and the caller rolls back.
func (b *batch) commit(ctx context.Context) error {
	if err := b.tx.ensure(ctx); err != nil {
		return err
	}
	q := &pgx.Batch{}
	what := []string{}
	add := func(name, sql string, args ...any) {
		q.Queue(sql, args...)
		what = append(what, name)
	}
	if len(b.records) > 0 {
		seqs, data := make([]int64, len(b.records)), make([][]byte, len(b.records))
		for i, r := range b.records {
			seqs[i], data[i] = int64(r.seq), r.data
		}
		add("storing audit records", "INSERT INTO audit (seq, data) SELECT * FROM unnest($1::bigint[], $2::bytea[])", seqs, data)
	}
	if len(b.changes) > 0 {
		n := len(b.changes)
		seqs, cas, serials, ats := make([]int64, n), make([]string, n), make([][]byte, n), make([]time.Time, n)
		for i, c := range b.changes {
			seqs[i], cas[i], serials[i], ats[i] = int64(c.seq), c.ca, c.serial[:], c.at
		}
		add("storing status changes", `INSERT INTO changes (seq, ca, serial, changed_at)
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::bytea[], $4::timestamptz[])`, seqs, cas, serials, ats)
		add("notifying status changes", "SELECT pg_notify($1, $2)", notifyChannel, strconv.FormatUint(b.changeSeq, 10))
	}
	if len(b.issued) > 0 {
		cas, ns := make([]string, 0, len(b.issued)), make([]int64, 0, len(b.issued))
		for c, n := range b.issued {
			cas, ns = append(cas, c), append(ns, n)
		}
		add("counting serials", `INSERT INTO issued AS i (ca, n) SELECT * FROM unnest($1::text[], $2::bigint[])
			ON CONFLICT (ca) DO UPDATE SET n = i.n + EXCLUDED.n`, cas, ns)
	}
	if len(b.records) > 0 || len(b.changes) > 0 {
		sql := "UPDATE head SET audit_seq = $1, audit_hash = $2, change_seq = $3 WHERE id = 1"
		args := []any{int64(b.head.Seq), b.head.Hash[:], int64(b.changeSeq)}
		if cp := b.checkpoint; cp != nil {
			sql = `UPDATE head SET audit_seq = $1, audit_hash = $2, change_seq = $3,
				checkpoint_seq = $4, checkpoint_covers = $5, checkpoint_time = $6 WHERE id = 1`
			args = append(args, int64(cp.seq), int64(cp.covers), cp.at.UnixNano())
		}
		add("moving the chain head", sql, args...)
	}
	add("committing", "COMMIT")
	res := b.tx.c.SendBatch(ctx, q)
	var err error
	for _, name := range what {
		if _, err = res.Exec(); err != nil {
			err = fmt.Errorf("store: %s: %w", name, err)
			break
		}
	}
	if cerr := res.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("store: committing: %w", cerr)
	}
	return err
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
