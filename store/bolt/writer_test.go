package bolt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/oces-pki/oces/ca"
)

var bucketTest = []byte("test")

// put is a write of one key into bucket test.
func put(key string) func(*bbolt.Tx) error {
	return func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketTest)
		if err != nil {
			return err
		}
		return b.Put([]byte(key), []byte("v"))
	}
}

func has(t *testing.T, db *DB, key string) bool {
	t.Helper()
	var ok bool
	err := db.view(context.Background(), func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketTest)
		ok = b != nil && b.Get([]byte(key)) != nil
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// queue starts one goroutine per write and gives the writer time to see
// them all blocked, so that the next commit takes them together.
func queue(t *testing.T, db *DB, fns []func(*bbolt.Tx) error) []chan error {
	t.Helper()
	results := make([]chan error, len(fns))
	var started sync.WaitGroup
	for i, fn := range fns {
		results[i] = make(chan error, 1)
		started.Add(1)
		go func() {
			started.Done()
			results[i] <- db.update(context.Background(), fn)
		}()
	}
	started.Wait()
	time.Sleep(50 * time.Millisecond)
	return results
}

func TestGroupCommit(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			p, der := prepared(t, fmt.Sprintf("issuing-%d", i%3), "poces")
			if err := db.Reserve(context.Background(), p); err != nil {
				errs <- err
				return
			}
			if _, err := db.Complete(context.Background(), p.Serial, der, t0); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent write: %v", err)
	}
	st := db.Stats()
	t.Logf("%d writes in %d commits", st.Writes, st.Commits)
	if st.Writes != 2*n || st.Commits >= st.Writes || st.Failed != 0 {
		t.Errorf("stats %+v: want %d writes in fewer commits, none failed", st, 2*n)
	}
	page, err := db.Certificates(context.Background(), ca.ListQuery{Limit: 1000})
	if err != nil || len(page.Certificates) != n {
		t.Errorf("stored %d certificates, %v; want %d", len(page.Certificates), err, n)
	}
}

func TestGroupCommitQueued(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	release := hold(t, db)
	var fns []func(*bbolt.Tx) error
	for i := range 50 {
		fns = append(fns, put(fmt.Sprint(i)))
	}
	results := queue(t, db, fns)
	before := db.Stats().Commits
	release()
	for i, r := range results {
		if err := <-r; err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	if got := db.Stats().Commits - before; got > 2 {
		t.Errorf("50 queued writes took %d commits after the held one, want 1", got)
	}
}

func TestBatchFailureIsolated(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	release := hold(t, db)
	errBad := errors.New("bad write")
	var fns []func(*bbolt.Tx) error
	for i := range 30 {
		key := fmt.Sprint(i)
		if i%7 == 3 {
			fns = append(fns, func(tx *bbolt.Tx) error {
				if err := put("bad" + key)(tx); err != nil {
					return err
				}
				return fmt.Errorf("write %s: %w", key, errBad)
			})
			continue
		}
		fns = append(fns, put(key))
	}
	results := queue(t, db, fns)
	release()
	for i, r := range results {
		err := <-r
		bad := i%7 == 3
		if bad != errors.Is(err, errBad) || (!bad && err != nil) {
			t.Errorf("write %d: %v", i, err)
		}
		if bad && (has(t, db, fmt.Sprint("bad", i)) || err.Error() != fmt.Sprintf("write %d: bad write", i)) {
			t.Errorf("failed write %d left its change or lost its message: %v", i, err)
		}
		if !bad && !has(t, db, fmt.Sprint(i)) {
			t.Errorf("write %d is missing", i)
		}
	}
	if st := db.Stats(); st.Failed != 4 {
		t.Errorf("stats %+v, want 4 failed", st)
	}
}

func TestWriteCancelledWhileQueued(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	release := hold(t, db)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- db.update(ctx, put("cancelled")) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled write: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled write still waiting")
	}
	release()
	if has(t, db, "cancelled") {
		t.Error("cancelled write was applied")
	}
	if _, err := db.NextCounter(ctx, "x", 1); !errors.Is(err, context.Canceled) {
		t.Errorf("write with a cancelled context: %v", err)
	}
}

func TestWritePanics(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	func() {
		defer func() {
			if v := recover(); v == nil || !strings.Contains(fmt.Sprint(v), "boom") {
				t.Errorf("recovered %v, want the write's panic", v)
			}
		}()
		_ = db.update(context.Background(), func(*bbolt.Tx) error { panic("boom") })
	}()
	if err := db.update(context.Background(), put("after")); err != nil || !has(t, db, "after") {
		t.Errorf("writer after a panic: %v", err)
	}
}

func TestCloseDrains(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "oces.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	release := hold(t, db)
	var fns []func(*bbolt.Tx) error
	for i := range 20 {
		fns = append(fns, put(fmt.Sprint(i)))
	}
	results := queue(t, db, fns)
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	time.Sleep(20 * time.Millisecond)
	release()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i, r := range results {
		if err := <-r; err != nil {
			t.Errorf("write %d queued before Close: %v", i, err)
		}
	}
	ctx := context.Background()
	if err := db.update(ctx, put("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("write after Close: %v", err)
	}
	if _, err := db.Certificate(ctx, randSerial(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("read after Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	db = openAt(t, path)
	for i := range 20 {
		if !has(t, db, fmt.Sprint(i)) {
			t.Errorf("write %d lost across Close", i)
		}
	}
}

func TestReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "oces.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := issue(t, db, "issuing-1", "poces")
	setStatus(t, db, c.Serial, ca.StatusSuspended)
	pending, _ := prepared(t, "issuing-1", "poces")
	if err := db.Reserve(ctx, pending); err != nil {
		t.Fatal(err)
	}
	if _, err := db.NextCounter(ctx, "crl/issuing-1", 5); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openAt(t, path)
	got, err := db.Certificate(ctx, c.Serial)
	if err != nil || got.Status != ca.StatusSuspended {
		t.Errorf("after reopening: %+v, %v", got, err)
	}
	if err := db.Reserve(ctx, pending); !errors.Is(err, ca.ErrSerialExists) {
		t.Errorf("reservation lost: %v", err)
	}
	if n, err := db.CountIssued(ctx, "issuing-1"); n != 2 || err != nil {
		t.Errorf("CountIssued = %d, %v", n, err)
	}
	if first, err := db.NextCounter(ctx, "crl/issuing-1", 1); first != 6 || err != nil {
		t.Errorf("NextCounter = %d, %v; want 6", first, err)
	}
}

func TestOpenInUse(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "oces.db")
	openAt(t, path)
	_, err := Open(path, Options{Timeout: 100 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "store: database "+path+" is in use by another process") {
		t.Errorf("second Open: %v", err)
	}
}

func TestNextCounter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	steps := []struct {
		name      string
		counter   string
		n         uint64
		wantFirst uint64
		wantErr   error
	}{
		{"starts at 1", "crl", 1, 1, nil},
		{"a range", "crl", 10, 2, nil},
		{"after the range", "crl", 1, 12, nil},
		{"independent counters", "tsa", 3, 1, nil},
		{"n of zero", "crl", 0, 0, ca.ErrInvalidRequest},
		{"no name", "", 1, 0, ca.ErrInvalidRequest},
		{"overflow", "tsa", ^uint64(0), 0, nil},
	}
	for _, st := range steps {
		first, err := db.NextCounter(ctx, st.counter, st.n)
		if st.name == "overflow" {
			if err == nil {
				t.Errorf("%s: got %d, want an error", st.name, first)
			}
			continue
		}
		if first != st.wantFirst || !errors.Is(err, st.wantErr) || (err == nil) != (st.wantErr == nil) {
			t.Errorf("%s: got %d, %v; want %d, %v", st.name, first, err, st.wantFirst, st.wantErr)
		}
	}

	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			first, err := db.NextCounter(ctx, "concurrent", 3)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for v := first; v < first+3; v++ {
				if seen[v] {
					t.Errorf("value %d handed out twice", v)
				}
				seen[v] = true
			}
		})
	}
	wg.Wait()
	if len(seen) != 60 || !seen[1] || !seen[60] {
		t.Errorf("handed out %d values", len(seen))
	}
}

// TestLeadSurvivesCancellation: writers that come and go, some with their
// context cancelled at any moment (queued, handed the lead, or being
// committed), never leave the group commit without a leader: every write
// returns, and a write is stored exactly when it reports success.
func TestLeadSurvivesCancellation(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	const writers, each = 8, 60
	type outcome struct {
		key string
		err error
	}
	out := make(chan outcome, writers*each)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				key := fmt.Sprintf("%d-%d", w, i)
				ctx, cancel := context.WithCancel(context.Background())
				if i%3 == 0 {
					go func() {
						time.Sleep(time.Duration(i%5) * 100 * time.Microsecond)
						cancel()
					}()
				}
				out <- outcome{key, db.update(ctx, put(key))}
				cancel()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("writes still waiting: the group commit lost its leader")
	}
	close(out)
	var ok, cancelled int
	for o := range out {
		switch {
		case o.err == nil:
			ok++
			if !has(t, db, o.key) {
				t.Errorf("write %s reported success but is not stored", o.key)
			}
		case errors.Is(o.err, context.Canceled):
			cancelled++
			if has(t, db, o.key) {
				t.Errorf("write %s reported cancelled but is stored", o.key)
			}
		default:
			t.Errorf("write %s: %v", o.key, o.err)
		}
	}
	t.Logf("%d stored, %d cancelled, %+v", ok, cancelled, db.Stats())
	if ok < writers*each*2/3 {
		t.Errorf("only %d of %d uncancelled writes stored", ok, writers*each*2/3)
	}
}
