package bolt

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/oces-pki/oces/ca"
)

// ids returns a generator that hands out the given identifiers in turn and
// counts its calls.
func ids(list ...string) (func() (string, error), *int) {
	calls := new(int)
	return func() (string, error) {
		if *calls >= len(list) {
			return "", errors.New("generator exhausted")
		}
		*calls++
		return list[*calls-1], nil
	}, calls
}

func TestCreateSubject(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	alice, err := db.CreateSubject(ctx, &ca.Subject{Kind: ca.KindPerson, Key: []byte("hmac-alice"), Name: "Alice", Created: t0},
		func() (string, error) { return "PID:9208-2002-2-000000000001", nil })
	if err != nil || alice.ID != "PID:9208-2002-2-000000000001" {
		t.Fatalf("CreateSubject: %+v, %v", alice, err)
	}
	errGen := errors.New("no randomness")

	tests := []struct {
		name      string
		s         *ca.Subject
		gen       []string
		genErr    error
		wantID    string
		wantCalls int
		wantErr   error
	}{
		{"same kind and key returns the existing subject", &ca.Subject{Kind: ca.KindPerson, Key: []byte("hmac-alice")},
			[]string{"PID:other"}, nil, alice.ID, 0, nil},
		{"same key, other kind is a new subject", &ca.Subject{Kind: ca.KindEmployee, Key: []byte("hmac-alice")},
			[]string{"CVR:1-RID:1"}, nil, "CVR:1-RID:1", 1, nil},
		{"collisions are retried", &ca.Subject{Kind: ca.KindPerson, Key: []byte("hmac-bob")},
			[]string{alice.ID, "CVR:1-RID:1", "PID:9208-2002-2-000000000002"}, nil, "PID:9208-2002-2-000000000002", 3, nil},
		{"no key", &ca.Subject{Kind: ca.KindFunction, CVR: "12345678"},
			[]string{"CVR:12345678-FID:1"}, nil, "CVR:12345678-FID:1", 1, nil},
		{"generator fails", &ca.Subject{Kind: ca.KindPerson}, nil, errGen, "", 1, errGen},
		{"generator keeps colliding", &ca.Subject{Kind: ca.KindPerson}, nil, nil, "", maxIDAttempts, ca.ErrConflict},
		{"empty identifier", &ca.Subject{Kind: ca.KindPerson}, []string{""}, nil, "", 1, ca.ErrInvalidRequest},
		{"no kind", &ca.Subject{}, []string{"x"}, nil, "", 0, ca.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gen, calls := ids(tt.gen...)
			switch {
			case tt.genErr != nil:
				gen = func() (string, error) { *calls++; return "", tt.genErr }
			case tt.wantErr == ca.ErrConflict:
				gen = func() (string, error) { *calls++; return alice.ID, nil }
			}
			got, err := db.CreateSubject(ctx, tt.s, gen)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("CreateSubject: %v, want %v", err, tt.wantErr)
			}
			if *calls != tt.wantCalls {
				t.Errorf("newID called %d times, want %d", *calls, tt.wantCalls)
			}
			if err != nil {
				return
			}
			if got.ID != tt.wantID {
				t.Errorf("ID %q, want %q", got.ID, tt.wantID)
			}
			stored, err := db.Subject(ctx, got.ID)
			if err != nil || stored.Kind != got.Kind || string(stored.Key) != string(got.Key) {
				t.Errorf("stored %+v, %v", stored, err)
			}
		})
	}
	if got, err := db.Subject(ctx, alice.ID); err != nil || got.Name != "Alice" || !got.Created.Equal(t0) {
		t.Errorf("Subject: %+v, %v", got, err)
	}
}

func TestSubjectLookups(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	gen, _ := ids("UI:DK-O:G:1")
	org, err := db.CreateSubject(ctx, &ca.Subject{Kind: ca.KindOrganisation, Key: []byte("cvr-1"), CVR: "1"}, gen)
	if err != nil {
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

func TestCreateSubjectConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	// A generator over a small space, so that collisions happen.
	gen := func() (string, error) {
		var b [1]byte
		_, err := rand.Read(b[:])
		return fmt.Sprintf("CVR:1-RID:%d", b[0]), err
	}
	const people, copies = 40, 3
	got := make([][]string, people)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range people {
		for range copies {
			wg.Go(func() {
				s, err := db.CreateSubject(ctx, &ca.Subject{Kind: ca.KindEmployee, Key: fmt.Appendf(nil, "key-%d", i)}, gen)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got[i] = append(got[i], s.ID)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	seen := map[string]int{}
	for i, list := range got {
		for _, id := range list {
			if id != list[0] {
				t.Errorf("person %d got identifiers %v; the same key must give the same subject", i, list)
			}
		}
		if len(list) > 0 {
			if j, dup := seen[list[0]]; dup {
				t.Errorf("persons %d and %d share identifier %s", j, i, list[0])
			}
			seen[list[0]] = i
		}
	}
}
