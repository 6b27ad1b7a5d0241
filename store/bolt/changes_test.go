package bolt

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/oces-pki/oces/ca"
)

// changeAt moves a certificate to status to at time at.
func changeAt(tb testing.TB, db *DB, s ca.Serial, to ca.Status, at time.Time) {
	tb.Helper()
	_, err := db.UpdateCertificate(context.Background(), s, func(c *ca.Certificate) error {
		c.Status, c.StatusChanged = to, at
		switch to {
		case ca.StatusSuspended:
			c.Reason, c.RevokedAt = ca.ReasonCertificateHold, at
		case ca.StatusRevoked:
			c.Reason, c.RevokedAt = ca.ReasonKeyCompromise, at
		default:
			c.Reason, c.RevokedAt = "", time.Time{}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("UpdateCertificate(%s, %s): %v", s, to, err)
	}
}

func changedSince(tb testing.TB, db *DB, caName string, since time.Time) map[ca.Serial]ca.Status {
	tb.Helper()
	got := map[ca.Serial]ca.Status{}
	err := db.ForEachChangedSince(context.Background(), caName, since, func(c *ca.Certificate) error {
		if _, dup := got[c.Serial]; dup {
			tb.Errorf("serial %s seen twice", c.Serial)
		}
		got[c.Serial] = c.Status
		return nil
	})
	if err != nil {
		tb.Fatalf("ForEachChangedSince: %v", err)
	}
	return got
}

func TestForEachChangedSince(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "oces.db")
	db, err := Open(path, Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	db.chunk = 2 // exercise the chunked reads
	a, b, c, d := issue(t, db, "issuing-1", "poces"), issue(t, db, "issuing-1", "poces"),
		issue(t, db, "issuing-1", "poces"), issue(t, db, "issuing-2", "poces")
	changeAt(t, db, a.Serial, ca.StatusSuspended, t0.Add(1*time.Hour))
	changeAt(t, db, b.Serial, ca.StatusSuspended, t0.Add(2*time.Hour))
	changeAt(t, db, b.Serial, ca.StatusGood, t0.Add(3*time.Hour)) // released
	changeAt(t, db, c.Serial, ca.StatusRevoked, t0.Add(4*time.Hour))
	changeAt(t, db, d.Serial, ca.StatusRevoked, t0.Add(4*time.Hour)) // another CA
	// An update that changes nothing of the status is not a change.
	if _, err := db.UpdateCertificate(context.Background(), a.Serial, func(*ca.Certificate) error { return nil }); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		ca    string
		since time.Time
		want  map[ca.Serial]ca.Status
	}{
		{"everything", "issuing-1", t0, map[ca.Serial]ca.Status{
			a.Serial: ca.StatusSuspended, b.Serial: ca.StatusGood, c.Serial: ca.StatusRevoked}},
		{"inclusive bound", "issuing-1", t0.Add(3 * time.Hour), map[ca.Serial]ca.Status{
			b.Serial: ca.StatusGood, c.Serial: ca.StatusRevoked}},
		{"after the last", "issuing-1", t0.Add(5 * time.Hour), map[ca.Serial]ca.Status{}},
		{"other CA", "issuing-2", t0, map[ca.Serial]ca.Status{d.Serial: ca.StatusRevoked}},
		{"unknown CA", "nope", t0, map[ca.Serial]ca.Status{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := changedSince(t, db, tc.ca, tc.since)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d changes %v, want %v", len(got), got, tc.want)
			}
			for s, st := range tc.want {
				if got[s] != st {
					t.Errorf("%s: status %q, want %q", s, got[s], st)
				}
			}
		})
	}

	// The index survives a reopen, and pruning drops the old entries only.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openAt(t, path)
	if n, err := db.PruneChanges(context.Background(), "issuing-1", t0.Add(3*time.Hour)); err != nil || n != 2 {
		t.Fatalf("PruneChanges = %d, %v; want 2 entries (a at 1h, b at 2h)", n, err)
	}
	got := changedSince(t, db, "issuing-1", t0)
	if len(got) != 2 || got[b.Serial] != ca.StatusGood || got[c.Serial] != ca.StatusRevoked {
		t.Fatalf("after pruning: %v, want b (good) and c (revoked)", got)
	}
}

func TestForEachChangedSinceErrors(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	a := issue(t, db, "issuing-1", "poces")
	changeAt(t, db, a.Serial, ca.StatusRevoked, t0)
	if err := db.ForEachChangedSince(context.Background(), "", t0, func(*ca.Certificate) error { return nil }); !errors.Is(err, ca.ErrInvalidRequest) {
		t.Errorf("empty CA: %v, want ErrInvalidRequest", err)
	}
	stop := errors.New("stop")
	if err := db.ForEachChangedSince(context.Background(), "issuing-1", t0, func(*ca.Certificate) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("fn error: %v, want it returned", err)
	}
}
