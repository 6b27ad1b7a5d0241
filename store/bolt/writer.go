package bolt

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"

	bbolt "go.etcd.io/bbolt"

	"github.com/oces-pki/oces/ca"
)

// writer owns every read-write transaction and commits in groups: see
// "Durability" in the package documentation.
type writer struct {
	bolt     *bbolt.DB
	maxBatch int
	log      *slog.Logger

	reqs    chan *request // unbuffered: a caller blocked here is "queued"
	quit    chan struct{}
	stopped chan struct{}

	commits atomic.Uint64
	writes  atomic.Uint64
	failed  atomic.Uint64
}

// request is one caller's write and the channel its answer goes to.
type request struct {
	ctx  context.Context
	fn   func(*bbolt.Tx) error
	done chan error // buffered, so the writer never blocks on a caller
}

// panicError carries a panic from a caller's function back to the caller,
// so that the writer survives it and the caller crashes where it should.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string {
	return fmt.Sprintf("store: write panicked: %v\n\n%s", p.value, p.stack)
}

func newWriter(b *bbolt.DB, maxBatch int, log *slog.Logger) *writer {
	return &writer{
		bolt:     b,
		maxBatch: maxBatch,
		log:      log,
		reqs:     make(chan *request),
		quit:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
}

// submit queues fn and waits for its answer. Cancelling ctx withdraws a
// write that the writer has not taken yet; once taken, the write's real
// outcome is reported, so a committed write is never reported as failed.
func (w *writer) submit(ctx context.Context, fn func(*bbolt.Tx) error) error {
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

// run is the writer goroutine: take one request, gather whatever else is
// queued, commit, repeat. It never sleeps while work is queued.
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
		clear(batch) // drop references to answered requests
	}
}

// stop ends run. The caller guarantees that nobody submits any more.
func (w *writer) stop() {
	close(w.quit)
	<-w.stopped
}

// commit applies batch in one transaction and answers every request. A
// request whose function fails gets that error; the transaction is rolled
// back and the remaining requests are applied again without it.
func (w *writer) commit(batch []*request) {
	pending := make([]*request, 0, len(batch))
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			w.answer(r, fmt.Errorf("store: waiting to write: %w", err))
			continue
		}
		pending = append(pending, r)
	}
	for len(pending) > 0 {
		tx, err := w.bolt.Begin(true)
		if err != nil {
			w.answerAll(pending, fmt.Errorf("store: beginning transaction: %w: %w", ca.ErrUnavailable, err))
			return
		}
		i, err := apply(tx, pending)
		if err != nil {
			_ = tx.Rollback()
			w.log.Debug("write failed; re-applying its batch without it", "error", err, "batch", len(pending))
			w.answer(pending[i], err)
			pending = append(pending[:i], pending[i+1:]...)
			continue
		}
		if err := tx.Commit(); err != nil {
			w.log.Error("commit failed", "error", err, "writes", len(pending))
			// A failed commit (a full disk, an I/O error) leaves the file
			// as it was: the caller may try again later.
			w.answerAll(pending, fmt.Errorf("store: committing: %w: %w", ca.ErrUnavailable, err))
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

// apply runs the functions of reqs in order and stops at the first failure,
// returning its index.
func apply(tx *bbolt.Tx, reqs []*request) (int, error) {
	for i, r := range reqs {
		if err := call(tx, r.fn); err != nil {
			return i, err
		}
	}
	return -1, nil
}

// call runs fn, turning a panic into a panicError for its caller.
func call(tx *bbolt.Tx, fn func(*bbolt.Tx) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: debug.Stack()}
		}
	}()
	return fn(tx)
}

func (w *writer) answer(r *request, err error) {
	w.failed.Add(1)
	r.done <- err
}

func (w *writer) answerAll(reqs []*request, err error) {
	for _, r := range reqs {
		w.answer(r, err)
	}
}

// count records a write made outside the writer (the benchmark baseline).
func (w *writer) count(err error) {
	if err != nil {
		w.failed.Add(1)
		return
	}
	w.commits.Add(1)
	w.writes.Add(1)
}

func (w *writer) stats() Stats {
	return Stats{Commits: w.commits.Load(), Writes: w.writes.Load(), Failed: w.failed.Load()}
}
