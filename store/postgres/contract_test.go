package postgres

import (
	"context"
	"os"
	"testing"

	"github.com/oces-pki/oces/crl"
	"github.com/oces-pki/oces/internal/pgtest"
	"github.com/oces-pki/oces/ocsp"
	"github.com/oces-pki/oces/store/storetest"
	"github.com/oces-pki/oces/tsa"
)

var (
	_ crl.Source      = (*DB)(nil)
	_ ocsp.Source     = (*DB)(nil)
	_ ocsp.Auditor    = (*DB)(nil)
	_ tsa.Counter     = (*DB)(nil)
	_ storetest.Store = (*DB)(nil)
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// openDSN opens a store on dsn that the caller closes.
func openDSN(tb testing.TB, dsn string) *DB {
	tb.Helper()
	db, err := Open(context.Background(), dsn, Options{})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return db
}

// openTest opens a store on a fresh database and closes it at cleanup.
func openTest(tb testing.TB) *DB {
	tb.Helper()
	db := openDSN(tb, pgtest.New(tb))
	tb.Cleanup(func() { db.Close() })
	return db
}

// TestContract runs the store contract that store/bolt runs too, and the
// part only a shared store can: two handles writing at once.
func TestContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, storetest.Backend{
		Open: func(tb testing.TB) storetest.Store { return openDSN(tb, pgtest.New(tb)) },
		Shared: func(tb testing.TB) (storetest.Store, storetest.Store) {
			dsn := pgtest.New(tb)
			return openDSN(tb, dsn), openDSN(tb, dsn)
		},
	})
}
