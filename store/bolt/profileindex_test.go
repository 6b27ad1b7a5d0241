package bolt

import (
	"context"
	"path/filepath"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/oces-pki/oces/ca"
)

// TestProfileIndex: a listing by CA and a rare profile reads the index of
// that profile, not every certificate of the CA, also in a file made
// before the index existed (it is built at Open).
func TestProfileIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "oces.db")
	db := openAt(t, path)
	want := map[ca.Serial]bool{}
	for i := range 120 {
		issue(t, db, "issuing-1", "poces")
		if i%40 == 0 {
			want[issue(t, db, "issuing-1", "ocsp-responder").Serial] = true
		}
	}
	issue(t, db, "issuing-2", "ocsp-responder")
	list := func(db *DB) {
		t.Helper()
		visited := 0
		var got []*ca.Certificate
		err := db.view(ctx, func(tx *bbolt.Tx) error {
			var err error
			got, _, err = scanPage(tx, query{ListQuery: ca.ListQuery{CA: "issuing-1", Profile: "ocsp-responder"}, visited: &visited}, 100)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("listed %d responder certificates, want %d", len(got), len(want))
		}
		for _, c := range got {
			if !want[c.Serial] || c.Profile != "ocsp-responder" || c.CA != "issuing-1" {
				t.Fatalf("listed %s (%s, %s)", c.Serial, c.CA, c.Profile)
			}
		}
		if visited != len(want) {
			t.Fatalf("the listing read %d records for %d matches: it scanned instead of using the index", visited, len(want))
		}
		page, err := db.Certificates(ctx, ca.ListQuery{CA: "issuing-1", Profile: "ocsp-responder", Status: ca.StatusGood})
		if err != nil || len(page.Certificates) != len(want) {
			t.Fatalf("Certificates: %d, %v", len(page.Certificates), err)
		}
	}
	list(db)
	// A file from before the index: drop it and its mark, then reopen.
	err := db.bolt.Update(func(tx *bbolt.Tx) error {
		if err := tx.DeleteBucket(bucketByProfile); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Delete(metaProfileIndex)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	list(openAt(t, path))
}
