package bolt

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
)

func auditEvent(action, target string) audit.Event {
	return audit.Event{Time: t0, Actor: audit.System, Action: action, Target: target, Outcome: audit.OutcomeOK}
}

// auditRecords decodes the whole chain and checks it with audit.Verify.
func auditRecords(tb testing.TB, db *DB) []audit.Record {
	tb.Helper()
	ctx := context.Background()
	if _, err := audit.Verify(ctx, db, nil); err != nil {
		tb.Fatalf("Verify: %v", err)
	}
	var out []audit.Record
	err := db.AuditRecords(ctx, 1, func(_ uint64, data []byte) error {
		var r audit.Record
		err := r.UnmarshalBinary(data)
		out = append(out, r)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestAuditSameTransaction checks that a change and its audit records are
// stored together or not at all.
func TestAuditSameTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	revoke := func(c *ca.Certificate) error {
		c.Status, c.Reason, c.RevokedAt, c.StatusChanged = ca.StatusRevoked, ca.ReasonKeyCompromise, t0, t0
		return nil
	}
	refuse := func(*ca.Certificate) error { return fmt.Errorf("refused: %w", ca.ErrConflict) }
	bad := auditEvent(audit.ActionCertRevoke, "x")
	bad.Time = time.Time{}
	for _, tc := range []struct {
		name       string
		run        func(db *DB, c *ca.Certificate) error
		wantErr    bool
		wantStatus ca.Status
		wantAudit  int
	}{
		{"status change", func(db *DB, c *ca.Certificate) error {
			_, err := db.UpdateCertificateAudited(ctx, c.Serial, revoke, auditEvent(audit.ActionCertRevoke, c.Serial.String()))
			return err
		}, false, ca.StatusRevoked, 1},
		{"status change refused", func(db *DB, c *ca.Certificate) error {
			_, err := db.UpdateCertificateAudited(ctx, c.Serial, refuse, auditEvent(audit.ActionCertRevoke, c.Serial.String()))
			return err
		}, true, ca.StatusGood, 0},
		{"status change with an invalid audit event", func(db *DB, c *ca.Certificate) error {
			_, err := db.UpdateCertificateAudited(ctx, c.Serial, revoke, bad)
			return err
		}, true, ca.StatusGood, 0},
		{"unknown certificate", func(db *DB, _ *ca.Certificate) error {
			_, err := db.UpdateCertificateAudited(ctx, randSerial(t), revoke, auditEvent(audit.ActionCertRevoke, "?"))
			return err
		}, true, ca.StatusGood, 0},
		{"reservation of a used serial", func(db *DB, c *ca.Certificate) error {
			p, _ := prepared(t, "issuing-1", "poces")
			p.Serial = c.Serial
			return db.ReserveAudited(ctx, p, auditEvent(audit.ActionSignBefore, c.Serial.String()))
		}, true, ca.StatusGood, 0},
		{"completion of an unreserved serial", func(db *DB, _ *ca.Certificate) error {
			s := randSerial(t)
			_, der := fakeCert(t, s, 600)
			_, err := db.CompleteAudited(ctx, s, der, t0, auditEvent(audit.ActionSignAfter, s.String()))
			return err
		}, true, ca.StatusGood, 0},
		{"issuance", func(db *DB, _ *ca.Certificate) error {
			p, der := prepared(t, "issuing-1", "poces")
			if err := db.ReserveAudited(ctx, p, auditEvent(audit.ActionSignBefore, p.Serial.String())); err != nil {
				return err
			}
			_, err := db.CompleteAudited(ctx, p.Serial, der, t0,
				auditEvent(audit.ActionSignAfter, p.Serial.String()), auditEvent(audit.ActionCertIssue, p.Serial.String()))
			return err
		}, false, ca.StatusGood, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := openTest(t)
			c := issue(t, db, "issuing-1", "poces")
			err := tc.run(db, c)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			got, err := db.Certificate(ctx, c.Serial)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tc.wantStatus {
				t.Errorf("status %s, want %s", got.Status, tc.wantStatus)
			}
			if recs := auditRecords(t, db); len(recs) != tc.wantAudit {
				t.Errorf("%d audit records, want %d", len(recs), tc.wantAudit)
			}
		})
	}
}

// TestAuditGroupCommitFailure queues audited writes behind a held writer
// so that they share a transaction, one of them failing: the others are
// re-applied without it and still form one gapless chain.
func TestAuditGroupCommitFailure(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	release := hold(t, db)
	var fns []func(*bbolt.Tx) error
	for i := range 20 {
		fns = append(fns, withAudit([]audit.Event{auditEvent(audit.ActionCRLSign, fmt.Sprint(i))}, func(*bbolt.Tx) error {
			if i == 10 {
				return errors.New("this write fails")
			}
			return nil
		}))
	}
	results := queue(t, db, fns)
	release()
	for i, r := range results {
		if err := <-r; (err != nil) != (i == 10) {
			t.Errorf("write %d: %v", i, err)
		}
	}
	recs := auditRecords(t, db)
	if len(recs) != 19 {
		t.Fatalf("%d records, want 19", len(recs))
	}
	for _, r := range recs {
		if r.Target == "10" {
			t.Error("the failed write's record was stored")
		}
	}
	if s := db.Stats(); s.Commits > 4 {
		t.Logf("writes were not grouped: %+v", s)
	}
}

func TestAuditStaleCheckpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	if err := db.AppendAudit(ctx, auditEvent(audit.ActionCRLSign, "a"), auditEvent(audit.ActionCRLSign, "b")); err != nil {
		t.Fatal(err)
	}
	head, err := db.AuditHead(ctx)
	if err != nil || head.Seq != 2 {
		t.Fatalf("AuditHead = %+v, %v", head, err)
	}
	cpEvent := func(seq uint64, h audit.Hash) audit.Event {
		ev := auditEvent(audit.ActionCheckpoint, "")
		ev.Checkpoint = &audit.Checkpoint{Seq: seq, Hash: h, Signature: []byte{1}}
		return ev
	}
	for _, tc := range []struct {
		name  string
		ev    audit.Event
		stale bool // else refused as invalid
	}{
		{"record not yet written", cpEvent(3, head.Hash), true},
		{"another hash", cpEvent(2, audit.Hash{1}), true},
		{"record zero", cpEvent(0, audit.Hash{}), false},
	} {
		err := db.AppendAudit(ctx, tc.ev)
		if err == nil || errors.Is(err, audit.ErrStaleCheckpoint) != tc.stale {
			t.Errorf("%s: %v, want an error (stale: %v)", tc.name, err, tc.stale)
		}
	}
	if err := db.AppendAudit(ctx, cpEvent(2, head.Hash)); err != nil {
		t.Errorf("a checkpoint over the head: %v", err)
	}
	head, _ = db.AuditHead(ctx)
	if head.Seq != 3 || head.CheckpointSeq != 3 || head.CheckpointCovers != 2 || !head.CheckpointTime.Equal(t0) {
		t.Errorf("head %+v after the checkpoint", head)
	}
}

func TestAuditRecordsChunked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	db.chunk = 7
	var evs []audit.Event
	for i := range 50 {
		evs = append(evs, auditEvent(audit.ActionOCSPSign, fmt.Sprint(i)))
	}
	if err := db.AppendAudit(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	for _, tc := range []struct {
		from, stopAt uint64
		want         int
	}{{1, 0, 50}, {20, 0, 31}, {50, 0, 1}, {51, 0, 0}, {1, 15, 15}} {
		var got int
		next := tc.from
		err := db.AuditRecords(ctx, tc.from, func(seq uint64, data []byte) error {
			if seq != next {
				t.Errorf("from %d: got record %d, want %d", tc.from, seq, next)
			}
			next++
			got++
			if seq == tc.stopAt {
				return stop
			}
			return nil
		})
		if got != tc.want || (tc.stopAt != 0) != errors.Is(err, stop) {
			t.Errorf("from %d: %d records, err %v; want %d", tc.from, got, err, tc.want)
		}
	}
}

// BenchmarkAppendAudit measures standalone appends from 8 concurrent
// writers, through the group-commit writer and through one bbolt.DB.Update
// per append, with the Checkpointer running (every 1000 records). Run it
// with -cpu 2 so that the writer count is exact.
func BenchmarkAppendAudit(b *testing.B) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, mode := range []struct {
		name   string
		direct bool
	}{{"group", false}, {"update", true}} {
		const writers = 8
		par := max(1, (writers+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0))
		b.Run(fmt.Sprintf("%s/writers=%d", mode.name, par*runtime.GOMAXPROCS(0)), func(b *testing.B) {
			db := openTest(b)
			db.direct = mode.direct
			ctx := context.Background()
			cp, err := audit.NewCheckpointer(audit.CheckpointConfig{Store: db, Signer: key, Poll: 10 * time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- cp.Run(runCtx) }()
			before := db.Stats()
			b.SetParallelism(par)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ev := auditEvent(audit.ActionOCSPSign, "0123456789abcdef0123456789abcdef")
					ev.Actor = audit.Actor{Fingerprint: audit.Hash{1}, Subject: "CN=Officer One,O=OCES,C=DK"}
					ev.Details = map[string]string{"ca": "issuing-1", "responder": "ocsp-1"}
					if err := db.AppendAudit(ctx, ev); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			stop()
			if err := <-done; err != nil {
				b.Error(err)
			}
			commits := db.Stats().Commits - before.Commits
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(commits)/float64(b.N), "commits/op")
			if rep, err := audit.Verify(ctx, db, key.Public()); err != nil || rep.Records < uint64(b.N) {
				b.Errorf("Verify = %+v, %v", rep, err)
			}
		})
	}
}

// BenchmarkReserveCompleteAudited is BenchmarkReserveComplete's group mode
// with 8 writers, with the audit records issuance writes (ca.sign.before in
// Reserve's transaction, ca.sign.after and cert.issue in Complete's).
func BenchmarkReserveCompleteAudited(b *testing.B) {
	const writers = 8
	par := max(1, (writers+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0))
	for _, audited := range []bool{false, true} {
		b.Run(fmt.Sprintf("audited=%v/writers=%d", audited, par*runtime.GOMAXPROCS(0)), func(b *testing.B) {
			db := openTest(b)
			ctx := context.Background()
			b.SetParallelism(par)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					p, der := preparedSize(b, "issuing-1", "poces", 1500)
					var before, after []audit.Event
					if audited {
						s := p.Serial.String()
						before = []audit.Event{auditEvent(audit.ActionSignBefore, s)}
						after = []audit.Event{auditEvent(audit.ActionSignAfter, s), auditEvent(audit.ActionCertIssue, s)}
					}
					if err := db.ReserveAudited(ctx, p, before...); err != nil {
						b.Error(err)
						return
					}
					if _, err := db.CompleteAudited(ctx, p.Serial, der, time.Now(), after...); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}
