package storetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
)

func testAuditSameTransaction(t *testing.T, s Store) {
	ctx := context.Background()
	c := Issue(t, s, "issuing", "poces")
	bad := Event(audit.ActionCertRevoke, "x")
	bad.Time = time.Time{}
	revoke := statusFunc(ca.StatusRevoked, T0.Add(time.Hour))
	refuse := func(*ca.Certificate) error { return fmt.Errorf("refused: %w", ca.ErrConflict) }

	// A refused change writes no record; an invalid record stops the change.
	if _, err := s.UpdateCertificateAudited(ctx, c.Serial, refuse, Event(audit.ActionCertRevoke, c.Serial.String())); !errors.Is(err, ca.ErrConflict) {
		t.Errorf("refused update: %v", err)
	}
	if _, err := s.UpdateCertificateAudited(ctx, c.Serial, revoke, bad); err == nil {
		t.Error("an update with an invalid audit event was stored")
	}
	if got, _ := s.Certificate(ctx, c.Serial); got.Status != ca.StatusGood {
		t.Errorf("status %s after refused updates", got.Status)
	}
	if n := len(Records(t, s)); n != 0 {
		t.Fatalf("%d records after refused updates", n)
	}
	// A duplicate reservation writes no record either.
	p, der := Prepared(t, "issuing", "poces")
	if err := s.ReserveAudited(ctx, p, Event(audit.ActionSignBefore, p.Serial.String())); err != nil {
		t.Fatal(err)
	}
	if err := s.ReserveAudited(ctx, p, Event(audit.ActionSignBefore, "dup")); !errors.Is(err, ca.ErrSerialExists) {
		t.Fatalf("duplicate reservation: %v", err)
	}
	if _, err := s.CompleteAudited(ctx, p.Serial, der, T0, Event(audit.ActionSignAfter, p.Serial.String()), Event(audit.ActionCertIssue, p.Serial.String())); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteAudited(ctx, p.Serial, der, T0, Event(audit.ActionSignAfter, "again")); !errors.Is(err, ca.ErrConflict) {
		t.Fatalf("second completion: %v", err)
	}
	if _, err := s.UpdateCertificateAudited(ctx, c.Serial, revoke, Event(audit.ActionCertRevoke, c.Serial.String())); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, bad); err == nil {
		t.Error("AppendAudit took an invalid event")
	}
	if err := s.AppendAudit(ctx, Event(audit.ActionCRLSign, "issuing")); err != nil {
		t.Fatal(err)
	}
	recs := Records(t, s)
	want := []string{audit.ActionSignBefore, audit.ActionSignAfter, audit.ActionCertIssue, audit.ActionCertRevoke, audit.ActionCRLSign}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d", len(recs), len(want))
	}
	for i, r := range recs {
		if r.Seq != uint64(i+1) || r.Action != want[i] {
			t.Errorf("record %d: seq %d action %s, want %s", i, r.Seq, r.Action, want[i])
		}
	}
	head, err := s.AuditHead(ctx)
	if err != nil || head.Seq != 5 || head.Hash != recs[4].Hash || head.CheckpointSeq != 0 {
		t.Errorf("AuditHead = %+v, %v", head, err)
	}
}

func testAuditCheckpoint(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.AppendAudit(ctx, Event(audit.ActionCRLSign, "a"), Event(audit.ActionCRLSign, "b")); err != nil {
		t.Fatal(err)
	}
	head, err := s.AuditHead(ctx)
	if err != nil || head.Seq != 2 {
		t.Fatalf("AuditHead = %+v, %v", head, err)
	}
	cpEvent := func(seq uint64, h audit.Hash) audit.Event {
		ev := Event(audit.ActionCheckpoint, "")
		ev.Checkpoint = &audit.Checkpoint{Seq: seq, Hash: h, Signature: []byte{1}}
		return ev
	}
	for _, tc := range []struct {
		name  string
		ev    audit.Event
		stale bool
	}{
		{"record not yet written", cpEvent(3, head.Hash), true},
		{"another hash", cpEvent(2, audit.Hash{1}), true},
		{"record zero", cpEvent(0, audit.Hash{}), false},
	} {
		if err := s.AppendAudit(ctx, tc.ev); err == nil || errors.Is(err, audit.ErrStaleCheckpoint) != tc.stale {
			t.Errorf("%s: %v, want an error (stale: %v)", tc.name, err, tc.stale)
		}
	}
	// A real checkpoint, signed by an audit key, that audit.Verify checks.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	at := T0.Add(time.Minute)
	cp, err := audit.NewCheckpointer(audit.CheckpointConfig{Store: s, Signer: key, Clock: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := cp.Checkpoint(ctx); err != nil || !ok {
		t.Fatalf("Checkpoint = %v, %v", ok, err)
	}
	head, _ = s.AuditHead(ctx)
	if head.Seq != 3 || head.CheckpointSeq != 3 || head.CheckpointCovers != 2 || !head.CheckpointTime.Equal(at) {
		t.Errorf("head %+v after the checkpoint", head)
	}
	rep, err := audit.Verify(ctx, s, key.Public())
	if err != nil || rep.Checkpoints != 1 || rep.Signed != 2 || rep.Records != 3 {
		t.Errorf("Verify = %+v, %v", rep, err)
	}
}

func testAuditRecordsFrom(t *testing.T, s Store) {
	ctx := context.Background()
	const n = 2500 // more than a read chunk of either backend
	evs := make([]audit.Event, 0, n)
	for i := range n {
		evs = append(evs, Event(audit.ActionOCSPSign, fmt.Sprint(i)))
	}
	if err := s.AppendAudit(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	for _, from := range []uint64{0, 1, 1000, 1001, 2500, 2501} {
		next := max(from, 1)
		err := s.AuditRecords(ctx, from, func(seq uint64, data []byte) error {
			if seq != next {
				return fmt.Errorf("record %d, want %d", seq, next)
			}
			next++
			var r audit.Record
			return r.UnmarshalBinary(data)
		})
		if err != nil || next != n+1 {
			t.Errorf("AuditRecords(from %d): ended before %d: %v", from, next, err)
		}
	}
	stop := errors.New("stop")
	if err := s.AuditRecords(ctx, 1, func(uint64, []byte) error { return stop }); err != stop {
		t.Errorf("AuditRecords does not return fn's error: %v", err)
	}
}

// testConcurrent issues and revokes from many goroutines with a duplicate
// and a failing write among them, so that writes share transactions and
// one failure must not fail its neighbours.
func testConcurrent(t *testing.T, s Store) {
	const workers, each = 8, 12
	ctx := context.Background()
	dup, _ := Prepared(t, "issuing", "poces")
	if err := s.Reserve(ctx, dup); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*3)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				p, der := Prepared(t, "issuing", "poces")
				if err := s.ReserveAudited(ctx, p, Event(audit.ActionSignBefore, p.Serial.String())); err != nil {
					errs <- err
					continue
				}
				c, err := s.CompleteAudited(ctx, p.Serial, der, T0, Event(audit.ActionCertIssue, p.Serial.String()))
				if err != nil {
					errs <- err
					continue
				}
				if i%3 == 0 {
					_, err := s.UpdateCertificateAudited(ctx, c.Serial, statusFunc(ca.StatusRevoked, T0.Add(time.Hour)), Event(audit.ActionCertRevoke, c.Serial.String()))
					if err != nil {
						errs <- err
					}
				}
				if w == 0 && i%4 == 0 {
					if err := s.ReserveAudited(ctx, dup, Event(audit.ActionSignBefore, "dup")); !errors.Is(err, ca.ErrSerialExists) {
						errs <- fmt.Errorf("duplicate reservation: %v", err)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	recs := Records(t, s)
	if want := workers*each*2 + workers*((each+2)/3); len(recs) != want {
		t.Errorf("%d audit records, want %d", len(recs), want)
	}
	if n, _ := s.CountIssued(ctx, "issuing"); n != workers*each+1 {
		t.Errorf("CountIssued = %d, want %d", n, workers*each+1)
	}
	revoked := 0
	if err := s.ForEachRevoked(ctx, "issuing", func(*ca.Certificate) error { revoked++; return nil }); err != nil || revoked != workers*((each+2)/3) {
		t.Errorf("%d revoked (%v), want %d", revoked, err, workers*((each+2)/3))
	}
}

// testShared runs writers on two handles of one store at once: serials,
// subjects, counters and the audit chain must come out as from one.
func testShared(t *testing.T, a, b Store) {
	const workers, each = 4, 10
	ctx := context.Background()
	stores := []Store{a, b}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		counters []uint64
		won      int
	)
	shared, _ := Prepared(t, "issuing", "poces") // both handles race for this serial
	subject := &ca.Subject{ID: "PID:9208-2002-2-000000000042", Kind: ca.KindPerson, Key: []byte("k"), Created: T0}
	errs := make(chan error, 2*workers*each*3)
	for i := range 2 * workers {
		s := stores[i%2]
		wg.Go(func() {
			q := *shared
			q.NewSubject = subject
			switch err := s.ReserveAudited(ctx, &q, Event(audit.ActionSignBefore, "race")); {
			case err == nil:
				mu.Lock()
				won++
				mu.Unlock()
			case !errors.Is(err, ca.ErrSerialExists) && !errors.Is(err, ca.ErrSubjectExists):
				errs <- err
			}
			for range each {
				p, der := Prepared(t, "issuing", "poces")
				if err := s.ReserveAudited(ctx, p, Event(audit.ActionSignBefore, p.Serial.String())); err != nil {
					errs <- err
					continue
				}
				c, err := s.CompleteAudited(ctx, p.Serial, der, T0, Event(audit.ActionCertIssue, p.Serial.String()))
				if err != nil {
					errs <- err
					continue
				}
				if _, err := s.UpdateCertificateAudited(ctx, c.Serial, statusFunc(ca.StatusSuspended, T0.Add(time.Hour)), Event(audit.ActionCertSuspend, c.Serial.String())); err != nil {
					errs <- err
				}
				n, err := s.NextCounter(ctx, "crl-number", 1)
				if err != nil {
					errs <- err
				}
				mu.Lock()
				counters = append(counters, n)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if won != 1 {
		t.Errorf("%d handles reserved the same serial, want 1", won)
	}
	seen := map[uint64]bool{}
	for _, n := range counters {
		if seen[n] {
			t.Errorf("counter value %d handed out twice", n)
		}
		seen[n] = true
	}
	recs := Records(t, b)
	if want := 1 + 2*workers*each*3; len(recs) != want {
		t.Errorf("%d audit records, want %d", len(recs), want)
	}
	if n, _ := a.CountIssued(ctx, "issuing"); n != 1+2*workers*each {
		t.Errorf("CountIssued = %d, want %d", n, 1+2*workers*each)
	}
	suspended := 0
	if err := a.ForEachChangedSince(ctx, "issuing", T0, func(*ca.Certificate) error { suspended++; return nil }); err != nil || suspended != 2*workers*each {
		t.Errorf("%d changes (%v), want %d", suspended, err, 2*workers*each)
	}
}
