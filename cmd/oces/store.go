package main

import (
	"cmp"
	"context"
	"fmt"
	"github.com/oces-pki/oces/citizen"
	"github.com/oces-pki/oces/crl"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/internal/conf"
	"github.com/oces-pki/oces/store/bolt"
	"github.com/oces-pki/oces/store/postgres"
)

// Store drivers.
const (
	driverBolt     = "bolt"
	driverPostgres = "postgres"
)

// storePasswordEnv carries the PostgreSQL role's password when
// store.password_file is not set.
const storePasswordEnv = "OCES_STORE_PASSWORD"

// appStore is everything the services read and write, as both backends
// implement it (store/storetest checks that they agree).
type appStore interface {
	ca.CertificateStore
	ca.RegistryStore
	ForEachCertificate(ctx context.Context, caName string, fn func(*ca.Certificate) error) error
	ForEachRevoked(ctx context.Context, caName string, fn func(*ca.Certificate) error) error
	ForEachChangedSince(ctx context.Context, caName string, since time.Time, fn func(*ca.Certificate) error) error
	PruneChanges(ctx context.Context, caName string, before time.Time) (int, error)
	NextCounter(ctx context.Context, name string, n uint64) (uint64, error)
	AuditHead(ctx context.Context) (audit.Head, error)
	AuditRecords(ctx context.Context, from uint64, fn func(seq uint64, data []byte) error) error
	crl.Source
	citizen.RecordStore
	Close() error
}

var (
	_ appStore = (*bolt.DB)(nil)
	_ appStore = (*postgres.DB)(nil)
)

// validate checks the store section: a bbolt file, or a PostgreSQL DSN
// without a password in it.
func (s *StoreConfig) validate() error {
	switch s.Driver {
	case "", driverBolt:
		if s.Path == "" {
			return conf.Errorf("store.path", "required: the bbolt database file")
		}
		if s.DSN != "" {
			return conf.Errorf("store.dsn", "is for driver postgres; this store is bolt")
		}
	case driverPostgres:
		if s.DSN == "" {
			return conf.Errorf("store.dsn", "required with driver postgres, e.g. postgres://oces@db.example.dk/oces?sslmode=verify-full")
		}
		if dsnHasPassword(s.DSN) {
			return conf.Errorf("store.dsn", "must not contain a password; put it in store.password_file or %s", storePasswordEnv)
		}
		if dsnHasPassword(s.ReadDSN) {
			return conf.Errorf("store.read_dsn", "must not contain a password; put it in store.password_file or %s", storePasswordEnv)
		}
		if s.MaxConns < 0 {
			return conf.Errorf("store.max_conns", "must not be negative")
		}
		if s.FollowInterval.D() < 0 || s.FollowInterval.D() > time.Minute {
			return conf.Errorf("store.follow_interval", "must be between 0 (default 1s) and 1m")
		}
	default:
		return conf.Errorf("store.driver", "must be bolt or postgres, got %q", s.Driver)
	}
	return nil
}

// dsnHasPassword finds a password in a URL or key=value DSN.
func dsnHasPassword(dsn string) bool {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		_, set := u.User.Password()
		return set || u.Query().Has("password")
	}
	for _, f := range strings.Fields(dsn) {
		if k, _, ok := strings.Cut(f, "="); ok && strings.TrimSpace(k) == "password" {
			return true
		}
	}
	return false
}

// storePassword reads the PostgreSQL password from store.password_file or
// the environment; empty if neither is set (then libpq's ways apply:
// ~/.pgpass, a client certificate).
func storePassword(cfg *Config) (string, error) {
	if f := cfg.Store.PasswordFile; f != "" {
		b, err := os.ReadFile(conf.Resolve(cfg.path, f))
		if err != nil {
			return "", fmt.Errorf("reading store.password_file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return os.Getenv(storePasswordEnv), nil
}

// openStore opens the configured store.
func openStore(ctx context.Context, cfg *Config, logger *slog.Logger) (appStore, error) {
	if cfg.Store.Driver != driverPostgres {
		return bolt.Open(conf.Resolve(cfg.path, cfg.Store.Path), bolt.Options{Logger: logger})
	}
	return openPostgres(ctx, cfg, cfg.Store.DSN, logger, cfg.Store.ReadDSN)
}

func openPostgres(ctx context.Context, cfg *Config, dsn string, logger *slog.Logger, readDSN string) (*postgres.DB, error) {
	pw, err := storePassword(cfg)
	if err != nil {
		return nil, err
	}
	return postgres.Open(ctx, dsn, postgres.Options{Logger: logger, Password: pw, MaxConns: int32(cfg.Store.MaxConns), NoMigrate: cfg.Store.NoMigrate, ReadDSN: readDSN})
}

// openAuditStore opens the store for a command that only appends audit
// records while the server may be running: a bbolt file is tried briefly,
// since the server holds its lock; PostgreSQL is shared.
func openAuditStore(ctx context.Context, cfg *Config) (interface {
	AppendAudit(ctx context.Context, events ...audit.Event) error
	Close() error
}, error) {
	if cfg.Store.Driver == driverPostgres {
		return openPostgres(ctx, cfg, cfg.Store.DSN, slog.New(slog.DiscardHandler), "")
	}
	path := conf.Resolve(cfg.path, cfg.Store.Path)
	if storeBusy(path) { // sign.go: probe the lock without waiting
		return nil, errStoreBusy
	}
	return bolt.Open(path, bolt.Options{Timeout: 60 * time.Millisecond})
}

func newStoreCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "store", Short: "The store: schema migrations, and moving an embedded store to PostgreSQL"}
	var configPath string
	migrate := &cobra.Command{
		Use:   "migrate [--config FILE]",
		Short: "Apply the PostgreSQL schema migrations this program carries, and print the schema version",
		Long: `Applies, in order and under an advisory lock, every numbered schema migration
newer than the database's version. 'oces serve' does the same at start unless
store.no_migrate is set (for a role that may not change the schema). A bbolt
store needs no migration.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configPath)
			if err != nil {
				return err
			}
			if cfg.Store.Driver != driverPostgres {
				return usagef("store.driver is %q in %s: only a postgres store has migrations", cmp.Or(cfg.Store.Driver, driverBolt), cfg.path)
			}
			pw, err := storePassword(cfg)
			if err != nil {
				return err
			}
			v, err := postgres.Migrate(cmd.Context(), cfg.Store.DSN, pw, newLogger())
			if err != nil {
				return err
			}
			out := struct {
				Version int `json:"version"`
			}{v}
			return g.printer(cmd.OutOrStdout()).print(out, func(w io.Writer) error {
				return fields(w, "schema version", fmt.Sprint(v))
			})
		},
	}
	migrate.Flags().StringVarP(&configPath, "config", "c", envOr("OCES_CONFIG", defaultConfig), "server configuration (env OCES_CONFIG)")
	cmd.AddCommand(migrate, newStoreCopyCommand(g))
	return cmd
}

// copyReport is what 'oces store copy' moved and checked.
type copyReport struct {
	From   string          `json:"from"`
	Counts postgres.Counts `json:"counts"`
	Audit  *audit.Report   `json:"audit"`
}

func newStoreCopyCommand(g *globals) *cobra.Command {
	var from, to, passwordFile string
	cmd := &cobra.Command{
		Use:   "copy --from FILE --to DSN [--password-file FILE]",
		Short: "Copy an embedded bbolt store into an empty PostgreSQL database and check the copy",
		Long: `Reads the bbolt file (stop the server first: it holds the file) in one
snapshot and loads everything into an empty PostgreSQL database in one
transaction: certificates with their DER, reservations never completed (so
their serials stay used), the subject registry, counters, the status change
index and the audit chain. Then it checks that every count matches and that
audit verify passes on the copy with the same head. The role's password comes
from --password-file or OCES_STORE_PASSWORD, never from the DSN.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || to == "" {
				return usagef("--from (the bbolt file) and --to (the PostgreSQL DSN) are required")
			}
			if dsnHasPassword(to) {
				return usagef("--to must not contain a password; use --password-file or %s", storePasswordEnv)
			}
			pw := os.Getenv(storePasswordEnv)
			if passwordFile != "" {
				b, err := os.ReadFile(passwordFile)
				if err != nil {
					return fmt.Errorf("reading --password-file: %w", err)
				}
				pw = strings.TrimRight(string(b), "\r\n")
			}
			rep, err := copyStore(cmd.Context(), from, to, pw, newLogger())
			if err != nil {
				return err
			}
			return g.printer(cmd.OutOrStdout()).print(rep, func(w io.Writer) error {
				c := rep.Counts
				return fields(w, "copied", from, "certificates", fmt.Sprint(c.Certificates), "reservations", fmt.Sprint(c.Reservations),
					"subjects", fmt.Sprint(c.Subjects), "status changes", fmt.Sprint(c.Changes), "counters", fmt.Sprint(c.Counters),
					"audit records", fmt.Sprint(c.AuditRecords), "audit chain", "intact, head "+rep.Audit.Head.String())
			})
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the bbolt store file")
	cmd.Flags().StringVar(&to, "to", "", "the PostgreSQL DSN, without a password")
	cmd.Flags().StringVar(&passwordFile, "password-file", "", "file holding the PostgreSQL role's password")
	return cmd
}

// copyStore moves the bbolt store at from into the empty database at dsn
// and checks the result.
func copyStore(ctx context.Context, from, dsn, password string, logger *slog.Logger) (*copyReport, error) {
	src, err := bolt.Open(from, bolt.Options{Timeout: time.Second, Logger: logger})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	dst, err := postgres.Open(ctx, dsn, postgres.Options{Logger: logger, Password: password})
	if err != nil {
		return nil, err
	}
	defer dst.Close()
	load, err := dst.BeginLoad(ctx)
	if err != nil {
		return nil, err
	}
	var want postgres.Counts
	err = src.Export(ctx, bolt.Visitor{
		Reservation: func(p *ca.Prepared) error { want.Reservations++; return load.Reservation(ctx, p) },
		Certificate: func(c *ca.Certificate) error { want.Certificates++; return load.Certificate(ctx, c) },
		Subject:     func(s *ca.Subject) error { want.Subjects++; return load.Subject(ctx, s) },
		Change: func(caName string, at time.Time, s ca.Serial) error {
			want.Changes++
			return load.Change(ctx, caName, at, s)
		},
		Counter: func(name string, next uint64) error { want.Counters++; return load.Counter(ctx, name, next) },
		Issued:  func(caName string, n uint64) error { return load.Issued(ctx, caName, n) },
	})
	if err == nil {
		err = src.AuditRecords(ctx, 1, func(seq uint64, data []byte) error {
			want.AuditRecords++
			return load.AuditRecord(ctx, seq, data)
		})
	}
	head, herr := src.AuditHead(ctx)
	if err == nil {
		err = herr
	}
	if err != nil {
		_ = load.Rollback(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("copying %s: %w (nothing was written)", from, err)
	}
	load.Checkpoint(head)
	if err := load.Commit(ctx); err != nil {
		return nil, fmt.Errorf("copying %s: %w (nothing was written)", from, err)
	}
	// The checks, on the copy as the services will read it.
	got, err := dst.Count(ctx)
	if err != nil {
		return nil, err
	}
	if got != want {
		return nil, fmt.Errorf("the copy holds %+v, the source %+v", got, want)
	}
	rep, err := audit.Verify(ctx, dst, nil)
	if err != nil {
		return nil, fmt.Errorf("audit verify on the copy: %w", err)
	}
	if rep.LastSeq != head.Seq || rep.Head != head.Hash {
		return nil, fmt.Errorf("the copy's audit chain ends at %d (%s), the source's at %d (%s)", rep.LastSeq, rep.Head, head.Seq, head.Hash)
	}
	dstHead, err := dst.AuditHead(ctx)
	if err != nil {
		return nil, err
	}
	if dstHead.Seq != head.Seq || dstHead.Hash != head.Hash || dstHead.CheckpointSeq != head.CheckpointSeq ||
		dstHead.CheckpointCovers != head.CheckpointCovers || !dstHead.CheckpointTime.Equal(head.CheckpointTime) {
		return nil, fmt.Errorf("the copy's chain head %+v differs from the source's %+v", dstHead, head)
	}
	return &copyReport{From: from, Counts: got, Audit: rep}, nil
}
