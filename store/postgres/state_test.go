package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/internal/pgtest"
	"github.com/oces-pki/oces/store/storetest"
)

// TestAbandonReservations: a reservation older than the grace is marked
// once, recorded in the chain, never completed; a recent one is left.
func TestAbandonReservations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDSN(t, pgtest.New(t))
	old, oldDER := storetest.Prepared(t, "issuing-1", "voces")
	recent, _ := storetest.Prepared(t, "issuing-1", "voces")
	old.Created, recent.Created = time.Now().Add(-time.Hour), time.Now()
	for _, p := range []*ca.Prepared{old, recent} {
		if err := db.Reserve(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	event := func(p *ca.Prepared) audit.Event {
		return audit.Event{Time: time.Now(), Actor: audit.System, Action: ca.ActionReservationAbandon, Target: p.Serial.String(), Outcome: audit.OutcomeOK}
	}
	for round, want := range []int{1, 0} {
		got, err := db.AbandonReservations(ctx, time.Now().Add(-time.Minute), event)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != want || (want == 1 && got[0].Serial != old.Serial) {
			t.Fatalf("round %d: abandoned %d reservations, want %d (the old one)", round, len(got), want)
		}
	}
	if _, err := db.Complete(ctx, old.Serial, oldDER, time.Now()); !errors.Is(err, ca.ErrConflict) {
		t.Fatalf("completing an abandoned reservation: %v, want ErrConflict", err)
	}
	head, err := db.AuditHead(ctx)
	if err != nil || head.Seq != 1 {
		t.Fatalf("audit head %d (%v), want the one abandonment record", head.Seq, err)
	}
}

func TestCRLStateAndPartitions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDSN(t, pgtest.New(t))
	if s, err := db.CRLState(ctx, "issuing-1"); err != nil || s != nil {
		t.Fatalf("no state yet: %q, %v", s, err)
	}
	for _, s := range []string{"first", "second"} {
		if err := db.SetCRLState(ctx, "issuing-1", []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if s, err := db.CRLState(ctx, "issuing-1"); err != nil || string(s) != "second" {
		t.Fatalf("state %q, %v", s, err)
	}
	p, _ := storetest.Prepared(t, "issuing-1", "voces")
	p.Partition = 4
	if err := db.Reserve(ctx, p); err != nil {
		t.Fatal(err)
	}
	if n, err := db.Partitions(ctx, "issuing-1", 10); err != nil || n != 5 {
		t.Fatalf("partitions %d (%v), want 5", n, err)
	}
}

func TestCitizenRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDSN(t, pgtest.New(t))
	if err := db.CreateCitizenRecord(ctx, "u1", "PID:1", []byte(`{"v":1}`), nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ user, pid string }{{"u1", "PID:2"}, {"u2", "PID:1"}} {
		if err := db.CreateCitizenRecord(ctx, tc.user, tc.pid, []byte(`{}`), nil); !errors.Is(err, ca.ErrConflict) {
			t.Fatalf("%s/%s: %v, want ErrConflict", tc.user, tc.pid, err)
		}
	}
	out, err := db.UpdateCitizenRecord(ctx, "u1", func(v []byte) ([]byte, []audit.Event, error) {
		return []byte(`{"v":2}`), nil, nil
	})
	if err != nil || string(out) != `{"v":2}` {
		t.Fatalf("update: %q, %v", out, err)
	}
	if got, err := db.CitizenRecord(ctx, "u1"); err != nil || string(got) != `{"v":2}` {
		t.Fatalf("read back %q, %v", got, err)
	}
	if _, err := db.CitizenRecord(ctx, "nobody"); !errors.Is(err, ca.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
}
