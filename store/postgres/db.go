package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
)

var (
	_ ca.CertificateStore   = (*DB)(nil)
	_ ca.RegistryStore      = (*DB)(nil)
	_ audit.Source          = (*DB)(nil)
	_ audit.CheckpointStore = (*DB)(nil)
)

// ErrClosed is returned by every method called after Close.
var ErrClosed = errors.New("store: database is closed")

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the key of the session advisory lock held while
// migrating, so that processes starting together migrate once.
const migrationLock = 0x4f434553 // "OCES"

const (
	defaultMaxBatch  = 1000
	defaultPageLimit = 100
	maxPageLimit     = 1000
	scanChunk        = 5000
)

// Options tunes Open. The zero value is ready to use.
type Options struct {
	// Logger receives the store's few log lines; nil discards them.
	Logger *slog.Logger
	// MaxBatch caps how many writes share one transaction; 0 means 1000.
	MaxBatch int
	// MaxConns caps the pool; 0 means pgxpool's default (4 or the number
	// of CPUs, whichever is larger).
	MaxConns int32
	// Password, if set, is the role's password: it comes from a file or the
	// environment, never in the DSN.
	Password string
	// ReadDSN, if set, names a streaming replica (and a read-only role)
	// that the status services' bulk reads go to: the scans of
	// ForEachCertificate, ForEachRevoked and ForEachChangedSince, and the
	// change log that Follow reads. Writes, and the reads a writer must see
	// its own writes in, stay on dsn. Password applies to both.
	ReadDSN string
	// NoMigrate makes Open fail on a database whose schema is older than
	// this program instead of migrating it (for a read-only role, or when
	// migrations are run by 'oces store migrate' only).
	NoMigrate bool
}

// DB is an open store on a PostgreSQL database. Its methods are safe for
// concurrent use, and several processes may use one database at once.
type DB struct {
	pool  *pgxpool.Pool
	rpool *pgxpool.Pool // ReadDSN's pool, or pool
	log   *slog.Logger
	w     *writer

	mu       sync.RWMutex // guards closed against new writes during Close
	closed   bool
	inflight sync.WaitGroup

	chunk int // rows per query in the ForEach scans
}

// Open connects to the database named by dsn (a libpq URL or key=value
// string), applies pending migrations under an advisory lock unless
// opts.NoMigrate, and starts the writer.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = defaultMaxBatch
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: parsing the PostgreSQL DSN: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.Password != "" {
		cfg.ConnConfig.Password = opts.Password
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connecting to PostgreSQL: %w", err)
	}
	if opts.NoMigrate {
		err = checkSchema(ctx, pool)
	} else {
		_, err = migrate(ctx, pool, opts.Logger)
	}
	if err != nil {
		pool.Close()
		return nil, err
	}
	db := &DB{pool: pool, rpool: pool, log: opts.Logger, chunk: scanChunk}
	if opts.ReadDSN != "" {
		rcfg, err := pgxpool.ParseConfig(opts.ReadDSN)
		if err == nil {
			if opts.Password != "" {
				rcfg.ConnConfig.Password = opts.Password
			}
			db.rpool, err = pgxpool.NewWithConfig(ctx, rcfg)
		}
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("store: connecting to the read replica: %w", err)
		}
	}
	db.w = newWriter(pool, opts.MaxBatch, opts.Logger)
	go db.w.run()
	return db, nil
}

// Migrate applies the pending migrations to the database named by dsn and
// returns the schema version it is at afterwards. It is what Open does
// first; 'oces store migrate' runs it alone.
func Migrate(ctx context.Context, dsn, password string, logger *slog.Logger) (int, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return 0, fmt.Errorf("store: parsing the PostgreSQL DSN: %w", err)
	}
	if password != "" {
		cfg.Password = password
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return 0, fmt.Errorf("store: connecting to PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return migrateConn(ctx, conn, logger)
}

type migration struct {
	version int
	name    string
	sql     string
}

// SchemaVersion is the newest migration embedded in this program.
func SchemaVersion() int {
	ms, _ := loadMigrations()
	return ms[len(ms)-1].version
}

// loadMigrations reads migrations/NNNN_name.sql in version order.
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("store: migration %s is not named NNNN_name.sql", e.Name())
		}
		b, err := migrations.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("store: migration %s: versions must run 1, 2, 3, … without gaps", m.name)
		}
	}
	return ms, nil
}

func migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) (int, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: connecting to PostgreSQL: %w", err)
	}
	defer conn.Release()
	return migrateConn(ctx, conn.Conn(), log)
}

// migrateConn applies, under a session advisory lock, every migration
// newer than the database's version, each in its own transaction together
// with the version row.
func migrateConn(ctx context.Context, conn *pgx.Conn, log *slog.Logger) (int, error) {
	ms, err := loadMigrations()
	if err != nil {
		return 0, err
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return 0, fmt.Errorf("store: taking the migration lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock) //nolint:errcheck // the session ends soon after; its lock with it
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version int PRIMARY KEY, name text NOT NULL, applied timestamptz NOT NULL DEFAULT now())`); err != nil {
		return 0, fmt.Errorf("store: creating schema_migrations: %w", err)
	}
	cur, err := version(ctx, conn)
	if err != nil {
		return 0, err
	}
	if cur > len(ms) {
		return cur, fmt.Errorf("store: the database is at schema version %d, newer than this program's %d; upgrade the program", cur, len(ms))
	}
	for _, m := range ms[cur:] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return cur, fmt.Errorf("store: applying migration %s: %w", m.name, err)
		}
		cur = m.version
		log.Info("store: migrated", "version", m.version, "migration", m.name)
	}
	return cur, nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func version(ctx context.Context, q querier) (int, error) {
	var v int
	if err := q.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("store: reading the schema version: %w", err)
	}
	return v, nil
}

// checkSchema fails unless the database is at this program's version.
func checkSchema(ctx context.Context, pool *pgxpool.Pool) error {
	v, err := version(ctx, pool)
	if err != nil {
		return fmt.Errorf("%w (run 'oces store migrate')", err)
	}
	if want := SchemaVersion(); v != want {
		return fmt.Errorf("store: the database is at schema version %d and this program needs %d; run 'oces store migrate'", v, want)
	}
	return nil
}

// Close stops accepting writes, waits for those already submitted to be
// committed, and closes the pool. Calling it again does nothing.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	db.mu.Unlock()
	db.inflight.Wait()
	db.w.stop()
	if db.rpool != db.pool {
		db.rpool.Close()
	}
	db.pool.Close()
	return nil
}

// Stats counts the writer's work since Open.
type Stats struct {
	Commits uint64 // transactions committed
	Writes  uint64 // writes committed; Writes/Commits is the mean batch size
	Failed  uint64 // writes answered with an error
}

// Stats reports the writer's counters.
func (db *DB) Stats() Stats { return db.w.stats() }

// update runs fn in a transaction shared with other writes of this process
// and returns once it is committed. fn may run more than once.
func (db *DB) update(ctx context.Context, fn writeFunc) error {
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
	return db.w.submit(ctx, fn)
}

// readable fails once the store is closed.
func (db *DB) readable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: reading: %w", err)
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	return nil
}

// NextCounter advances the durable counter name by n and returns the first
// value of the reserved range [first, first+n). Counters start at 1. The
// increment is one statement under the counter's row lock, committed before
// NextCounter returns, so values are strictly increasing across every
// process on the database and never handed out twice.
func (db *DB) NextCounter(ctx context.Context, name string, n uint64) (uint64, error) {
	if name == "" || n == 0 {
		return 0, fmt.Errorf("store: advancing counter %q by %d: %w: need a name and n > 0", name, n, ca.ErrInvalidRequest)
	}
	if n > math.MaxInt64-1 {
		return 0, fmt.Errorf("store: advancing counter %q by %d: counter would overflow", name, n)
	}
	if err := db.readable(ctx); err != nil {
		return 0, err
	}
	var next int64
	err := db.pool.QueryRow(ctx, `INSERT INTO counters AS c (name, next) VALUES ($1, 1 + $2::bigint)
		ON CONFLICT (name) DO UPDATE SET next = c.next + $2::bigint RETURNING next`, name, int64(n)).Scan(&next)
	if err != nil {
		if isOverflow(err) {
			return 0, fmt.Errorf("store: advancing counter %q by %d: counter would overflow", name, n)
		}
		return 0, fmt.Errorf("store: advancing counter %q: %w", name, err)
	}
	return uint64(next) - n, nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.readable(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("store: reaching PostgreSQL: %w", err)
	}
	return nil
}
