package bolt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"

	bbolt "go.etcd.io/bbolt"

	"github.com/oces-pki/oces/ca"
)

// writer owns every read-write transaction and commits in groups: see
// "Durability" in the package documentation.
//
// There is no goroutine of its own: the caller that finds no commit under
// way commits, its own write and whatever queued, and a caller that finds
// one queues. When a commit ends, the first write queued meanwhile is
// handed the lead and commits everything queued after it in the next
// transaction. A lone write therefore commits on its caller's goroutine,
// with no hand-off to another goroutine and back (two wake-ups, each a
// scheduling delay on a busy machine); a queued one is woken once, to
// lead or with its answer. A leader commits one batch and hands on, so a
// caller waits for the writes queued before it, never for later ones.
type writer struct {
	bolt     *bbolt.DB
	maxBatch int
	log      *slog.Logger

	mu      sync.Mutex
	leading bool       // a caller is committing; whoever comes queues
	queue   []*request // waiting for the next batch, oldest first

	commits atomic.Uint64
	writes  atomic.Uint64
	failed  atomic.Uint64
}

// request is one caller's write and the channel its answer goes to.
type request struct {
	ctx  context.Context
	fn   func(*bbolt.Tx) error
	done chan error // buffered: answered once, with errLead or the outcome
}

// errLead answers a queued request that is to commit the next batch.
var errLead = errors.New("store: lead the next commit")

// panicError carries a panic from a caller's function back to the caller,
// so that the store survives it and the caller crashes where it should.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string {
	return fmt.Sprintf("store: write panicked: %v\n\n%s", p.value, p.stack)
}

func newWriter(b *bbolt.DB, maxBatch int, log *slog.Logger) *writer {
	return &writer{bolt: b, maxBatch: maxBatch, log: log}
}

// submit applies fn in a group commit and returns once it is durable.
// Cancelling ctx withdraws a write that no commit has taken yet; once
// taken, the write's real outcome is reported, so a committed write is
// never reported as failed.
func (w *writer) submit(ctx context.Context, fn func(*bbolt.Tx) error) error {
	r := &request{ctx: ctx, fn: fn, done: make(chan error, 1)}
	w.mu.Lock()
	if w.leading {
		w.queue = append(w.queue, r)
		w.mu.Unlock()
		if err := w.wait(r); err != errLead {
			return answered(err)
		}
	} else {
		w.leading = true
		w.mu.Unlock()
	}
	w.lead(r)
	return answered(<-r.done)
}

// wait blocks until r is answered or handed the lead, or withdraws it if
// ctx ends before a commit takes it.
func (w *writer) wait(r *request) error {
	select {
	case err := <-r.done:
		return err
	case <-r.ctx.Done():
	}
	w.mu.Lock()
	if i := slices.Index(w.queue, r); i >= 0 {
		w.queue = slices.Delete(w.queue, i, i+1)
		w.mu.Unlock()
		return fmt.Errorf("store: waiting to write: %w", r.ctx.Err())
	}
	w.mu.Unlock()
	return <-r.done // taken already: its outcome, or the lead
}

// answered is a write's outcome for its caller: a panic in the caller's
// function is raised again on the caller's goroutine.
func answered(err error) error {
	if p, ok := err.(*panicError); ok {
		panic(p.Error())
	}
	return err
}

// lead commits first, the write of the calling leader, with what is
// queued (up to maxBatch in all), then hands the lead to the oldest write
// queued since, or ends it.
func (w *writer) lead(first *request) {
	defer func() {
		if v := recover(); v != nil {
			// Not a caller's function (call recovers those) but bbolt or
			// the writer failing: the writes in the batch may be
			// unanswered and the lead is lost. End the process, as an
			// unrecovered panic on a goroutine of the store's own would,
			// rather than let the caller recover it and every later write
			// wait forever.
			stack := debug.Stack()
			go panic(fmt.Sprintf("store: group commit panicked: %v\n\n%s", v, stack))
			select {}
		}
	}()
	w.mu.Lock()
	n := min(len(w.queue), w.maxBatch-1)
	batch := make([]*request, 0, n+1)
	batch = append(append(batch, first), w.queue[:n]...)
	w.queue = slices.Delete(w.queue, 0, n)
	w.mu.Unlock()

	w.commit(batch)

	w.mu.Lock()
	if len(w.queue) == 0 {
		w.leading = false
	} else {
		next := w.queue[0]
		w.queue = slices.Delete(w.queue, 0, 1)
		next.done <- errLead
	}
	w.mu.Unlock()
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
