package postgres

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/internal/pgtest"
	"github.com/oces-pki/oces/store/storetest"
)

// TestMigrateConcurrently starts several stores on one empty database at
// once: the advisory lock lets one migrate and the others find it done.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.New(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			db, err := Open(ctx, dsn, Options{})
			if err == nil {
				err = db.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Open: %v", err)
		}
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n, v int
	if err := conn.QueryRow(ctx, "SELECT count(*), max(version) FROM schema_migrations").Scan(&n, &v); err != nil || n != SchemaVersion() || v != SchemaVersion() {
		t.Errorf("schema_migrations: %d rows up to %d (%v), want %d", n, v, err, SchemaVersion())
	}
	if got, err := Migrate(ctx, dsn, "", nil); err != nil || got != SchemaVersion() {
		t.Errorf("Migrate on a migrated database = %d, %v", got, err)
	}
}

func TestSchemaVersionChecks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.New(t)
	if _, err := Open(ctx, dsn, Options{NoMigrate: true}); err == nil || !strings.Contains(err.Error(), "oces store migrate") {
		t.Errorf("NoMigrate on an empty database: %v, want advice to migrate", err)
	}
	if _, err := Migrate(ctx, dsn, "", nil); err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, dsn, Options{NoMigrate: true})
	if err != nil {
		t.Fatalf("NoMigrate on a migrated database: %v", err)
	}
	db.Close()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES (999, 'future')"); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, dsn, Options{}); err == nil || !strings.Contains(err.Error(), "newer than this program") {
		t.Errorf("Open on a newer schema: %v", err)
	}
}

// observer records what Follow delivers.
type observer struct {
	mu   sync.Mutex
	seen map[ca.Serial]ca.Status
	ch   chan struct{}
}

func (o *observer) StatusChanged(_ context.Context, c *ca.Certificate) {
	o.mu.Lock()
	o.seen[c.Serial] = c.Status
	o.mu.Unlock()
	select {
	case o.ch <- struct{}{}:
	default:
	}
}

func (o *observer) wait(t *testing.T, s ca.Serial, want ca.Status, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.After(within)
	for {
		o.mu.Lock()
		got := o.seen[s]
		o.mu.Unlock()
		if got == want {
			return time.Since(start)
		}
		select {
		case <-o.ch:
		case <-deadline:
			t.Fatalf("%s did not reach %s within %s (saw %q)", s, want, within, got)
		}
	}
}

// TestFollow checks that a change made through one handle reaches a
// follower on another: at once through NOTIFY, and through the periodic
// catch-up when the notification never comes.
func TestFollow(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dsn := pgtest.New(t)
	writer, reader := openDSN(t, dsn), openDSN(t, dsn)
	t.Cleanup(func() { writer.Close(); reader.Close() })

	old := storetest.Issue(t, writer, "issuing", "poces")
	storetest.SetStatus(t, writer, old.Serial, ca.StatusSuspended, storetest.T0)
	from, err := reader.ChangeSeq(ctx)
	if err != nil || from != 1 {
		t.Fatalf("ChangeSeq = %d, %v", from, err)
	}
	o := &observer{seen: map[ca.Serial]ca.Status{}, ch: make(chan struct{}, 1)}
	done := make(chan error, 1)
	go func() { done <- reader.Follow(ctx, from, 30*time.Second, o) }()

	c := storetest.Issue(t, writer, "issuing", "poces")
	time.Sleep(100 * time.Millisecond) // let Follow LISTEN before the change
	if _, err := writer.UpdateCertificateAudited(ctx, c.Serial, func(c *ca.Certificate) error {
		c.Status, c.Reason, c.StatusChanged, c.RevokedAt = ca.StatusRevoked, ca.ReasonKeyCompromise, storetest.T0, storetest.T0
		return nil
	}, storetest.Event(audit.ActionCertRevoke, c.Serial.String())); err != nil {
		t.Fatal(err)
	}
	took := o.wait(t, c.Serial, ca.StatusRevoked, 5*time.Second)
	t.Logf("notified in %s", took)
	o.mu.Lock()
	_, replayed := o.seen[old.Serial]
	o.mu.Unlock()
	if replayed {
		t.Error("Follow delivered a change from before its starting point")
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Follow returned %v, want context.Canceled", err)
	}

	// No notification: a change written behind the store's back, as a lost
	// NOTIFY would leave it, is found by the catch-up read.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	seq, _ := reader.ChangeSeq(ctx2)
	go func() { done <- reader.Follow(ctx2, seq, 200*time.Millisecond, o) }()
	lost := storetest.Issue(t, writer, "issuing", "poces")
	conn, err := pgx.Connect(ctx2, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx2)
	_, err = conn.Exec(ctx2, `BEGIN;
		UPDATE certificates SET status = 'suspended', reason = 'certificateHold' WHERE serial = '\x`+lost.Serial.String()+`';
		INSERT INTO changes SELECT change_seq + 1, 'issuing', '\x`+lost.Serial.String()+`', now() FROM head;
		UPDATE head SET change_seq = change_seq + 1;
		COMMIT`)
	if err != nil {
		t.Fatal(err)
	}
	o.wait(t, lost.Serial, ca.StatusSuspended, 3*time.Second)
	cancel2()
	<-done
}

// TestGroupCommit checks that concurrent writers share transactions.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 8 {
				storetest.Issue(t, db, "issuing", "poces")
			}
		})
	}
	wg.Wait()
	st := db.Stats()
	if st.Writes != 32*8*2 || st.Commits >= st.Writes {
		t.Errorf("Stats = %+v: want %d writes in fewer commits", st, 32*8*2)
	}
	t.Logf("%d writes in %d commits", st.Writes, st.Commits)
}

// TestReadReplica reads the status services' scans and the change log from
// a hot standby: with replay paused on the standby, a change committed on
// the primary is not seen through the store; once replay resumes, Follow
// delivers it through its periodic read, which is all a standby offers
// (notifications do not replicate).
func TestReadReplica(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dsn := pgtest.New(t)
	writer := openDSN(t, dsn)
	t.Cleanup(func() { writer.Close() })
	replicaDSN := pgtest.Standby(t).Replica(dsn)
	c := storetest.Issue(t, writer, "issuing", "poces")
	var reader *DB
	for deadline := time.Now().Add(10 * time.Second); reader == nil; {
		db, err := Open(ctx, dsn, Options{ReadDSN: replicaDSN, NoMigrate: true})
		if err == nil {
			reader = db
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Open with a replica: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() { reader.Close() })
	count := func() int {
		n := 0
		if err := reader.ForEachCertificate(ctx, "issuing", func(*ca.Certificate) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for deadline := time.Now().Add(10 * time.Second); count() != 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first certificate never reached the replica")
		}
	}
	standby, err := pgx.Connect(ctx, replicaDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer standby.Close(ctx)
	if _, err := standby.Exec(ctx, "SELECT pg_wal_replay_pause()"); err != nil {
		t.Fatal(err)
	}
	from, err := reader.ChangeSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	o := &observer{seen: map[ca.Serial]ca.Status{}, ch: make(chan struct{}, 1)}
	done := make(chan error, 1)
	go func() { done <- reader.Follow(ctx, from, 200*time.Millisecond, o) }()
	storetest.Issue(t, writer, "issuing", "poces")
	storetest.SetStatus(t, writer, c.Serial, ca.StatusRevoked, storetest.T0)
	time.Sleep(500 * time.Millisecond)
	if n := count(); n != 1 {
		t.Errorf("the store read %d certificates with the replica paused at 1: the scan did not go to the replica", n)
	}
	o.mu.Lock()
	early := o.seen[c.Serial]
	o.mu.Unlock()
	if early != "" {
		t.Errorf("Follow delivered %s before the replica had it: it did not read the replica", early)
	}
	if _, err := standby.Exec(ctx, "SELECT pg_wal_replay_resume()"); err != nil {
		t.Fatal(err)
	}
	o.wait(t, c.Serial, ca.StatusRevoked, 5*time.Second)
	if n := count(); n != 2 {
		t.Errorf("%d certificates on the replica after replay resumed, want 2", n)
	}
	cancel()
	<-done
}
