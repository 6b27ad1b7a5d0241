package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/oces-pki/oces/ca"
)

var (
	_ ca.CertificateStore = (*DB)(nil)
	_ ca.RegistryStore    = (*DB)(nil)
)

// ErrClosed is returned by every method called after Close.
var ErrClosed = errors.New("store: database is closed")

// Bucket names; see the package documentation for the layout.
var (
	bucketMeta        = []byte("meta")
	bucketPrepared    = []byte("prepared")
	bucketCerts       = []byte("certs")
	bucketDER         = []byte("der")
	bucketByCA        = []byte("by-ca")
	bucketRevoked     = []byte("revoked")
	bucketIssued      = []byte("issued")
	bucketSubjects    = []byte("subjects")
	bucketSubjectKeys = []byte("subject-keys")
	bucketCounters    = []byte("counters")

	topBuckets = [][]byte{
		bucketMeta, bucketPrepared, bucketCerts, bucketDER, bucketByCA, bucketRevoked,
		bucketIssued, bucketSubjects, bucketSubjectKeys, bucketCounters, bucketByProfile,
	}
)

const (
	schemaVersion    = 1
	defaultTimeout   = 5 * time.Second
	defaultMaxBatch  = 1000
	defaultPageLimit = 100
	maxPageLimit     = 1000
)

// Options tunes Open. The zero value is ready to use. There is deliberately
// no way to turn fsync off.
type Options struct {
	// Logger receives the store's few log lines; nil discards them.
	Logger *slog.Logger
	// Timeout bounds the wait for the file lock held by another process;
	// 0 means 5 seconds.
	Timeout time.Duration
	// MaxBatch caps how many writes share one transaction; 0 means 1000.
	MaxBatch int
}

// DB is an open store. Its methods are safe for concurrent use.
type DB struct {
	bolt *bbolt.DB
	path string
	log  *slog.Logger
	w    *writer

	mu       sync.RWMutex // guards closed against new writes during Close
	closed   bool
	inflight sync.WaitGroup

	chunk int // certificates per read transaction in ForEach*

	// direct makes every write its own bbolt.DB.Update: the benchmark's
	// baseline without group commit.
	direct bool
}

// Open opens or creates the store at path. It fails with a clear error when
// another process holds the file for longer than opts.Timeout.
func Open(path string, opts Options) (*DB, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = defaultMaxBatch
	}
	b, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:      opts.Timeout,
		FreelistType: bbolt.FreelistMapType,
		// The freelist is rebuilt from the pages at open instead of being
		// written at every commit: fewer pages per fsync (as etcd does).
		NoFreelistSync: true,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("store: database %s is in use by another process (waited %s for its lock; stop the other process or use another file)", path, opts.Timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("store: opening database %s: %w", path, err)
	}
	if err := b.Update(initBuckets); err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("store: initialising database %s: %w", path, err)
	}
	if err := buildProfileIndex(b); err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("store: initialising database %s: %w", path, err)
	}
	db := &DB{bolt: b, path: path, log: opts.Logger, chunk: scanChunk}
	db.w = newWriter(b, opts.MaxBatch, opts.Logger)
	db.log.Debug("store opened", "path", path)
	return db, nil
}

// initBuckets creates the top-level buckets and checks the schema version.
func initBuckets(tx *bbolt.Tx) error {
	for _, name := range topBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("creating bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket(bucketMeta)
	if v := meta.Get([]byte("schema")); v != nil {
		if len(v) != 8 || binary.BigEndian.Uint64(v) != schemaVersion {
			return fmt.Errorf("unsupported schema version %x (this program reads version %d)", v, schemaVersion)
		}
		return nil
	}
	return meta.Put([]byte("schema"), u64(schemaVersion))
}

// Close stops accepting writes, waits for those already submitted to be
// committed, and closes the file. Calling it again does nothing.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	db.mu.Unlock()
	db.inflight.Wait() // every write submitted is committed and answered
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("store: closing database %s: %w", db.path, err)
	}
	db.log.Debug("store closed", "path", db.path)
	return nil
}

// Path is the file the store lives in.
func (db *DB) Path() string { return db.path }

// Stats counts the writer's work since Open.
type Stats struct {
	Commits uint64 // read-write transactions committed
	Writes  uint64 // writes committed; Writes/Commits is the mean batch size
	Failed  uint64 // writes answered with an error
}

// Stats reports the writer's counters.
func (db *DB) Stats() Stats { return db.w.stats() }

// update runs fn in a read-write transaction shared with other writers and
// returns once it is durable. fn may run more than once and must touch
// nothing but tx.
func (db *DB) update(ctx context.Context, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: waiting to write: %w", err)
	}
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return ErrClosed
	}
	db.inflight.Add(1)
	db.mu.RUnlock()
	defer db.inflight.Done()
	if db.direct {
		err := db.bolt.Update(fn)
		db.w.count(err)
		return err
	}
	return db.w.submit(ctx, fn)
}

// view runs fn in a read-only transaction.
func (db *DB) view(ctx context.Context, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: reading: %w", err)
	}
	err := db.bolt.View(fn)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// NextCounter advances the durable counter name by n and returns the first
// value of the reserved range [first, first+n). Counters start at 1. The
// range is durable before NextCounter returns, so a value is never handed
// out twice, even across a crash; values of a range the caller did not use
// are lost.
func (db *DB) NextCounter(ctx context.Context, name string, n uint64) (uint64, error) {
	if name == "" || n == 0 {
		return 0, fmt.Errorf("store: advancing counter %q by %d: %w: need a name and n > 0", name, n, ca.ErrInvalidRequest)
	}
	var first uint64
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketCounters)
		first = 1
		if v := b.Get([]byte(name)); v != nil {
			first = binary.BigEndian.Uint64(v)
		}
		next := first + n
		if next < first {
			return fmt.Errorf("store: advancing counter %q by %d: counter would overflow", name, n)
		}
		return b.Put([]byte(name), u64(next))
	})
	if err != nil {
		return 0, err
	}
	return first, nil
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}
