package bolt

import (
	"context"
	"errors"
	"testing"

	"github.com/oces-pki/oces/ca"
)

// registerWith reserves a serial that registers s as a new subject.
func registerWith(tb testing.TB, db *DB, s *ca.Subject) error {
	tb.Helper()
	p, _ := prepared(tb, "issuing-1", "voces")
	p.SubjectID, p.NewSubject = s.ID, s
	return db.Reserve(context.Background(), p)
}

func TestRegisterNewSubject(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	first := &ca.Subject{ID: "PID:9208-2002-2-000000000001", Kind: ca.KindPerson, Key: []byte("cpr-hash-1")}
	if err := registerWith(t, db, first); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		s    *ca.Subject
		want error
	}{
		{"identifier taken", &ca.Subject{ID: first.ID, Kind: ca.KindPerson, Key: []byte("cpr-hash-2")}, ca.ErrSubjectExists},
		{"key taken", &ca.Subject{ID: "PID:9208-2002-2-000000000002", Kind: ca.KindPerson, Key: []byte("cpr-hash-1")}, ca.ErrSubjectExists},
		{"no kind", &ca.Subject{ID: "PID:9208-2002-2-000000000003"}, ca.ErrInvalidRequest},
		{"same key, other kind", &ca.Subject{ID: "CVR:12345678-RID:10000000", Kind: ca.KindEmployee, Key: []byte("cpr-hash-1")}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := db.CountIssued(ctx, "issuing-1")
			err := registerWith(t, db, tc.s)
			if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			after, _ := db.CountIssued(ctx, "issuing-1")
			if tc.want != nil && after != before {
				t.Errorf("a refused registration reserved a serial")
			}
		})
	}
	got, err := db.SubjectByKey(ctx, ca.KindPerson, []byte("cpr-hash-1"))
	if err != nil || got.ID != first.ID {
		t.Fatalf("lookup by key: %+v, %v", got, err)
	}
}

func TestSubjectLookups(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	org := &ca.Subject{ID: "UI:DK-O:G:1", Kind: ca.KindOrganisation, Key: []byte("cvr-1"), CVR: "1"}
	if err := registerWith(t, db, org); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		get  func() (*ca.Subject, error)
		want error
	}{
		{"by id", func() (*ca.Subject, error) { return db.Subject(ctx, org.ID) }, nil},
		{"by key", func() (*ca.Subject, error) { return db.SubjectByKey(ctx, ca.KindOrganisation, []byte("cvr-1")) }, nil},
		{"unknown id", func() (*ca.Subject, error) { return db.Subject(ctx, "UI:DK-O:G:2") }, ca.ErrNotFound},
		{"unknown key", func() (*ca.Subject, error) { return db.SubjectByKey(ctx, ca.KindOrganisation, []byte("cvr-2")) }, ca.ErrNotFound},
		{"key of another kind", func() (*ca.Subject, error) { return db.SubjectByKey(ctx, ca.KindPerson, []byte("cvr-1")) }, ca.ErrNotFound},
		{"empty key", func() (*ca.Subject, error) { return db.SubjectByKey(ctx, ca.KindOrganisation, nil) }, ca.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.get()
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if err == nil && (got.ID != org.ID || got.CVR != "1") {
				t.Errorf("got %+v", got)
			}
		})
	}
}
