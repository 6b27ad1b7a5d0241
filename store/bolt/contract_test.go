package bolt

import (
	"testing"

	"github.com/oces-pki/oces/store/storetest"
)

// TestContract runs the store contract that store/postgres runs too.
func TestContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, storetest.Backend{
		Open: func(tb testing.TB) storetest.Store { return openUnmanaged(tb) },
	})
}

// openUnmanaged opens a fresh store that the caller closes.
func openUnmanaged(tb testing.TB) *DB {
	tb.Helper()
	db, err := Open(tb.TempDir()+"/oces.db", Options{})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return db
}
