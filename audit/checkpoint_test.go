package audit_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/oces-pki/oces/audit"
)

func TestCheckpointRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := openStore(t, filepath.Join(t.TempDir(), "oces.db"))
	clk := newClock()
	cp := newCheckpointer(t, db, newKey(t), clk, 10) // every 10 records or every hour
	appendN := func(n int) {
		for i := range n {
			if err := db.AppendAudit(ctx, event(clk, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	steps := []struct {
		name    string
		act     func()
		force   bool
		want    bool
		wantSeq uint64 // head after the step
	}{
		{"empty chain", func() {}, true, false, 0},
		{"9 records", func() { appendN(9) }, false, false, 9},
		{"10th record", func() { appendN(1) }, false, true, 11},
		{"idle", func() {}, false, false, 11},
		{"idle past the interval", func() { clk.Add(2 * time.Hour) }, false, false, 11},
		{"1 record after a long idle", func() { appendN(1) }, false, true, 13},
		{"1 record, within the interval", func() { clk.Add(time.Minute); appendN(1) }, false, false, 14},
		{"1 record, past the interval", func() { clk.Add(time.Hour) }, false, true, 15},
		{"forced, nothing new", func() {}, true, false, 15},
		{"forced, 1 new", func() { appendN(1) }, true, true, 17},
	}
	for _, s := range steps {
		s.act()
		do := cp.MaybeCheckpoint
		if s.force {
			do = cp.Checkpoint
		}
		got, err := do(ctx)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		head, err := db.AuditHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got != s.want || head.Seq != s.wantSeq {
			t.Errorf("%s: checkpointed %v, head %d; want %v, %d", s.name, got, head.Seq, s.want, s.wantSeq)
		}
		if got && (head.CheckpointSeq != head.Seq || !head.CheckpointTime.Equal(clk.Now())) {
			t.Errorf("%s: head %+v does not name the new checkpoint", s.name, head)
		}
	}
}

func TestKeyTypes(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	for name, key := range map[string]crypto.Signer{"P-256": newKey(t), "P-384": p384, "RSA-2048": rsaKey, "Ed25519": edKey} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := buildChain(t, t.TempDir(), 25, 10, key)
			rep, err := verifyFile(t, path, key.Public())
			if err != nil || rep.Checkpoints != 3 {
				t.Errorf("Verify = %+v, %v; want 3 checkpoints", rep, err)
			}
		})
	}
}

func selfSigned(t *testing.T, key crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "OCES audit"},
		NotBefore: t0, NotAfter: t0.AddDate(5, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestCertificateRecorded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key := newKey(t)
	cert := selfSigned(t, key)
	if _, err := audit.NewCheckpointer(audit.CheckpointConfig{Store: nil, Signer: key}); err == nil {
		t.Error("NewCheckpointer without a store succeeded")
	}
	path := filepath.Join(t.TempDir(), "oces.db")
	db, closeDB := openStore(t, path)
	if _, err := audit.NewCheckpointer(audit.CheckpointConfig{Store: db, Signer: newKey(t), Certificate: cert}); err == nil {
		t.Error("NewCheckpointer with another key's certificate succeeded")
	}
	clk := newClock()
	cp, err := audit.NewCheckpointer(audit.CheckpointConfig{Store: db, Signer: key, Certificate: cert, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := db.AppendAudit(ctx, event(clk, i)); err != nil {
			t.Fatal(err)
		}
		if _, err := cp.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
	}
	closeDB()
	var cps []*audit.Checkpoint
	for _, r := range records(t, path) {
		if r.Checkpoint != nil {
			cps = append(cps, r.Checkpoint)
		}
	}
	if len(cps) != 2 || string(cps[0].Certificate) != string(cert.Raw) || cps[0].PublicKey == nil ||
		cps[1].Certificate != nil || cps[1].PublicKey != nil {
		t.Errorf("want the key and certificate in the first checkpoint only, got %+v", cps)
	}
	if _, err := verifyFile(t, path, nil); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestRunFinalCheckpoint(t *testing.T) {
	t.Parallel()
	db, _ := openStore(t, filepath.Join(t.TempDir(), "oces.db"))
	clk := newClock()
	cp := newCheckpointer(t, db, newKey(t), clk, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cp.Run(ctx) }()
	if err := db.AppendAudit(ctx, event(clk, 1)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	rep, err := audit.Verify(context.Background(), db, nil)
	if err != nil || rep.Unsigned != 0 || rep.Signed != 1 {
		t.Errorf("after shutdown: %+v, %v; want record 1 signed by the final checkpoint", rep, err)
	}
}

// TestConcurrentAppends appends from many goroutines through the
// group-commit writer while the Checkpointer runs, and checks that they
// form one valid linear chain.
func TestConcurrentAppends(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := openStore(t, filepath.Join(t.TempDir(), "oces.db"))
	key := newKey(t)
	clk := newClock()
	cp, err := audit.NewCheckpointer(audit.CheckpointConfig{Store: db, Signer: key, Every: 50, Poll: time.Millisecond, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cp.Run(runCtx) }()
	const writers, each = 32, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				ev := event(clk, i)
				ev.Target = fmt.Sprintf("writer %d, event %d", w, i)
				if err := db.AppendAudit(ctx, ev, ev); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(ctx, db, key.Public())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if rep.Records-rep.Checkpoints != 2*writers*each || rep.Checkpoints < 2 || rep.Unsigned != 0 {
		t.Errorf("report %+v: want %d events, some checkpoints, all signed", rep, 2*writers*each)
	}
	if s := db.Stats(); s.Commits >= s.Writes {
		t.Logf("no group commit happened: %+v", s)
	}
}
