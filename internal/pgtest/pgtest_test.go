package pgtest

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestNewDatabases checks that each test gets its own empty schema on a
// server that runs with durable commits.
func TestNewDatabases(t *testing.T) {
	ctx := context.Background()
	a, b := New(t), New(t)
	if a == b {
		t.Fatalf("two databases share the DSN %s", a)
	}
	ca, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close(ctx)
	if _, err := ca.Exec(ctx, "CREATE TABLE x (v int)"); err != nil {
		t.Fatal(err)
	}
	cb, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close(ctx)
	var n int
	if err := cb.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'x' AND schemaname = current_schema()").Scan(&n); err != nil || n != 0 {
		t.Fatalf("second schema sees the first one's table: n=%d err=%v", n, err)
	}
	for _, set := range []string{"fsync", "synchronous_commit"} {
		var v string
		if err := ca.QueryRow(ctx, "SHOW "+set).Scan(&v); err != nil || v != "on" {
			t.Errorf("%s = %q (%v), want on", set, v, err)
		}
	}
}
