package audit_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/oces-pki/oces/audit"
)

// genSource generates a valid chain of n records on the fly, with a
// checkpoint over the previous record every `every` records; it never
// holds more than one record.
type genSource struct {
	n, every uint64
	key      crypto.Signer
	sample   func(seq uint64) // called every 10,000 records
}

func (g *genSource) AuditRecords(ctx context.Context, from uint64, fn func(uint64, []byte) error) error {
	var head audit.Head
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for seq := uint64(1); seq <= g.n; seq++ {
		ev := audit.Event{
			Time: base.Add(time.Duration(seq) * time.Millisecond), Actor: audit.System,
			Action: audit.ActionOCSPSign, Target: fmt.Sprintf("%032x", seq), Outcome: audit.OutcomeOK,
			Details: map[string]string{"ca": "issuing-1"},
		}
		if seq%g.every == 0 {
			msg := audit.CheckpointMessage(head.Seq, head.Hash, ev.Time)
			sig, err := audit.SignWith(g.key, rand.Reader, msg)
			if err != nil {
				return err
			}
			ev.Action, ev.Details = audit.ActionCheckpoint, nil
			ev.Checkpoint = &audit.Checkpoint{Seq: head.Seq, Hash: head.Hash, Signature: sig}
		}
		r, err := audit.Next(head, ev)
		if err != nil {
			return err
		}
		data, _ := r.MarshalBinary()
		if seq >= from {
			if err := fn(seq, data); err != nil {
				return err
			}
		}
		head = audit.Head{Seq: r.Seq, Hash: r.Hash}
		if g.sample != nil && seq%10000 == 0 {
			g.sample(seq)
		}
	}
	return nil
}

// TestVerifyBoundedMemory verifies a long chain and checks that the heap
// does not grow with it.
func TestVerifyBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("verifies 300,000 records")
	}
	const n = 300_000
	var peak uint64
	src := &genSource{n: n, every: 1000, key: newKey(t), sample: func(uint64) {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapAlloc)
	}}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	rep, err := audit.Verify(context.Background(), src, src.key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != n || rep.Checkpoints != n/1000 {
		t.Errorf("report %+v", rep)
	}
	// A chain of this length is about 40 MB; the verifier's window is 0.6 MB.
	if growth := int64(peak) - int64(before.HeapAlloc); growth > 16<<20 {
		t.Errorf("heap grew by %d MB while verifying", growth>>20)
	}
	t.Logf("%d records (generated and verified) in %s, peak heap %d MB", n, time.Since(start).Round(time.Millisecond), peak>>20)
}

// BenchmarkVerify measures verification alone, over pre-encoded records.
func BenchmarkVerify(b *testing.B) {
	const n = 10_000
	var recs [][]byte
	gen := &genSource{n: n, every: 1000, key: newKey(b)}
	_ = gen.AuditRecords(context.Background(), 1, func(_ uint64, data []byte) error {
		recs = append(recs, data)
		return nil
	})
	src := sliceSource(recs)
	b.ResetTimer()
	for range b.N {
		if _, err := audit.Verify(context.Background(), src, gen.key.Public()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
}

type sliceSource [][]byte

func (s sliceSource) AuditRecords(_ context.Context, from uint64, fn func(uint64, []byte) error) error {
	for i := from - 1; i < uint64(len(s)); i++ {
		if err := fn(i+1, s[i]); err != nil {
			return err
		}
	}
	return nil
}

func TestVerifyMalformed(t *testing.T) {
	t.Parallel()
	var recs [][]byte
	gen := &genSource{n: 5, every: 1000, key: newKey(t)}
	_ = gen.AuditRecords(context.Background(), 1, func(_ uint64, data []byte) error {
		recs = append(recs, data)
		return nil
	})
	recs[2] = recs[2][:len(recs[2])-70]
	_, err := audit.Verify(context.Background(), sliceSource(recs), nil)
	if err == nil || !strings.HasPrefix(err.Error(), "audit: record 3: malformed (") {
		t.Errorf("Verify = %v", err)
	}
}
