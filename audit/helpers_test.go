package audit_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/store/bolt"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fixtureDir holds fixtures shared by several tests; TestMain removes it.
var fixtureDir string

func TestMain(m *testing.M) {
	var err error
	if fixtureDir, err = os.MkdirTemp("", "audit-test-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(fixtureDir)
	os.Exit(code)
}

// clock is an injected clock the test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newKey(tb testing.TB) crypto.Signer {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// openStore opens the store at path; the returned function closes it (and
// cleanup closes it too, if the test did not).
func openStore(tb testing.TB, path string) (*bolt.DB, func()) {
	tb.Helper()
	db, err := bolt.Open(path, bolt.Options{Timeout: time.Second})
	if err != nil {
		tb.Fatalf("opening store: %v", err)
	}
	closeDB := func() {
		if err := db.Close(); err != nil {
			tb.Errorf("closing store: %v", err)
		}
	}
	tb.Cleanup(closeDB)
	return db, closeDB
}

// event is the i-th test event: an officer revoking something.
func event(clk *clock, i int) audit.Event {
	return audit.Event{
		Time:    clk.Now(),
		Actor:   audit.Actor{Fingerprint: audit.Hash{byte(i % 7)}, Subject: "CN=Officer,O=OCES,C=DK"},
		Action:  audit.ActionCertRevoke,
		Target:  fmt.Sprintf("%032x", i),
		Outcome: audit.OutcomeOK,
		Details: map[string]string{"reason": "keyCompromise", "n": fmt.Sprint(i)},
	}
}

func newCheckpointer(tb testing.TB, db audit.CheckpointStore, key crypto.Signer, clk *clock, every uint64) *audit.Checkpointer {
	tb.Helper()
	cp, err := audit.NewCheckpointer(audit.CheckpointConfig{
		Store: db, Signer: key, Every: every, Interval: time.Hour, Clock: clk.Now,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return cp
}

// buildChain appends n events one by one to a new store, checkpointing
// every `every` records and once at the end, closes the store and returns
// its path.
func buildChain(tb testing.TB, dir string, n int, every uint64, key crypto.Signer) string {
	tb.Helper()
	ctx := context.Background()
	path := filepath.Join(dir, "oces.db")
	db, closeDB := openStore(tb, path)
	clk := newClock()
	cp := newCheckpointer(tb, db, key, clk, every)
	for i := range n {
		clk.Add(time.Second)
		if err := db.AppendAudit(ctx, event(clk, i)); err != nil {
			tb.Fatal(err)
		}
		if _, err := cp.MaybeCheckpoint(ctx); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := cp.Checkpoint(ctx); err != nil {
		tb.Fatal(err)
	}
	closeDB()
	return path
}

// copyFile copies the store at src into a new temp dir.
func copyFile(tb testing.TB, src string) string {
	tb.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		tb.Fatal(err)
	}
	dst := filepath.Join(tb.TempDir(), "copy.db")
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return dst
}

// verifyFile opens the store at path and verifies its chain.
func verifyFile(tb testing.TB, path string, pub crypto.PublicKey) (*audit.Report, error) {
	tb.Helper()
	db, closeDB := openStore(tb, path)
	defer closeDB()
	return audit.Verify(context.Background(), db, pub)
}

// records decodes every record of the store at path.
func records(tb testing.TB, path string) []audit.Record {
	tb.Helper()
	db, closeDB := openStore(tb, path)
	defer closeDB()
	var out []audit.Record
	err := db.AuditRecords(context.Background(), 1, func(_ uint64, data []byte) error {
		var r audit.Record
		if err := r.UnmarshalBinary(data); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// resign replaces a checkpoint's signature with key's, as someone holding
// key would.
func resign(tb testing.TB, r *audit.Record, key crypto.Signer) {
	tb.Helper()
	msg := audit.CheckpointMessage(r.Checkpoint.Seq, r.Checkpoint.Hash, r.Time)
	sig, err := audit.SignWith(key, rand.Reader, msg)
	if err != nil {
		tb.Fatal(err)
	}
	r.Checkpoint.Signature = sig
}
