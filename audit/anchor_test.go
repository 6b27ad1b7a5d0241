package audit_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/oces-pki/oces/audit"
)

// anchors collects what a Checkpointer anchors.
type anchors struct {
	mu   sync.Mutex
	seqs []uint64
	hash map[uint64]audit.Hash
}

func (a *anchors) Anchor(_ context.Context, seq uint64, h audit.Hash) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seqs = append(a.seqs, seq)
	if a.hash == nil {
		a.hash = map[uint64]audit.Hash{}
	}
	a.hash[seq] = h
	return nil
}

// TestCheckpointsAreAnchored: every checkpoint record is handed to the
// Anchorer with its own number and hash, as stored.
func TestCheckpointsAreAnchored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "oces.db")
	db, closeDB := openStore(t, path)
	clk := newClock()
	got := &anchors{}
	cp, err := audit.NewCheckpointer(audit.CheckpointConfig{Store: db, Signer: newKey(t), Clock: clk.Now, Anchor: got})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := db.AppendAudit(ctx, event(clk, i)); err != nil {
			t.Fatal(err)
		}
		if _, err := cp.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
	}
	closeDB()
	var stored []audit.Record
	for _, r := range records(t, path) {
		if r.Checkpoint != nil {
			stored = append(stored, r)
		}
	}
	if len(got.seqs) != 3 || len(stored) != 3 {
		t.Fatalf("anchored %v, checkpoints stored %d", got.seqs, len(stored))
	}
	for i, r := range stored {
		if got.seqs[i] != r.Seq || got.hash[r.Seq] != r.Hash {
			t.Errorf("checkpoint record %d (%s) anchored as %d (%s)", r.Seq, r.Hash, got.seqs[i], got.hash[got.seqs[i]])
		}
	}
	if d1, d2 := audit.AnchorDigest(4, stored[1].Hash), audit.AnchorDigest(5, stored[1].Hash); len(d1) != 32 || string(d1) == string(d2) {
		t.Error("AnchorDigest does not bind the record number")
	}
}
