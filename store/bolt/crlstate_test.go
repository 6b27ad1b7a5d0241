package bolt

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/oces-pki/oces/ca"
)

// TestCRLState: the CRL publisher's state is kept per CA, replaced whole,
// and survives reopening the file.
func TestCRLState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "oces.db")
	db := openAt(t, path)
	if got, err := db.CRLState(ctx, "issuing-1"); err != nil || got != nil {
		t.Fatalf("before any save: %q, %v", got, err)
	}
	for _, v := range []string{`{"base":1}`, `{"base":2}`} {
		if err := db.SetCRLState(ctx, "issuing-1", []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.SetCRLState(ctx, "issuing-2", []byte(`{"other":true}`)); err != nil {
		t.Fatal(err)
	}
	if err := db.SetCRLState(ctx, "", []byte("x")); !errors.Is(err, ca.ErrInvalidRequest) {
		t.Fatalf("no CA name: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openAt(t, path)
	if got, err := db.CRLState(ctx, "issuing-1"); err != nil || !bytes.Equal(got, []byte(`{"base":2}`)) {
		t.Fatalf("after reopening: %q, %v", got, err)
	}
}
