package hsm_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/softhsmtest"
)

// newLoggedHSM returns an HSM whose WARN and above go to the returned buffer.
func newLoggedHSM(t *testing.T) (*hsm.HSM, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	h := hsm.New(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	t.Cleanup(func() { _ = h.Close() })
	return h, logs
}

func TestRecoveryAfterSessionsClosed(t *testing.T) {
	t.Parallel()
	tok := softhsmtest.New(t)
	ctx := context.Background()
	h, logs := newLoggedHSM(t)
	if _, err := h.GenerateKey(ctx, tok.KeyURI("issuing"), hsm.RSA2048); err != nil {
		t.Fatal(err)
	}
	if err := h.GenerateSecret(ctx, tok.KeyURI("cpr")); err != nil {
		t.Fatal(err)
	}
	s, err := h.Signer(ctx, tok.KeyURI("issuing"))
	if err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, s)
	mac1, err := h.MAC(ctx, tok.KeyURI("cpr"), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		// Another PKCS#11 user closes all sessions: handles and login are gone.
		tok.CloseAllSessions(t)
		signAndVerify(t, s) // the same signer value, nothing reopened by hand
		tok.CloseAllSessions(t)
		mac2, err := h.MAC(ctx, tok.KeyURI("cpr"), []byte("x"))
		if err != nil {
			t.Fatalf("round %d: MAC after sessions closed: %v", round, err)
		}
		if string(mac1) != string(mac2) {
			t.Fatalf("round %d: MAC changed across recovery", round)
		}
	}
	if got := strings.Count(logs.String(), "recovered PKCS#11 token"); got < 4 {
		t.Errorf("want 4 WARN recovery logs, got %d:\n%s", got, logs)
	}
	if !strings.Contains(logs.String(), "CKR_SESSION_HANDLE_INVALID") {
		t.Errorf("recovery log does not name the cause:\n%s", logs)
	}
}

func TestRecoveryConcurrentSigners(t *testing.T) {
	t.Parallel()
	tok := softhsmtest.New(t)
	ctx := context.Background()
	h, logs := newLoggedHSM(t)
	if _, err := h.GenerateKey(ctx, tok.KeyURI("ocsp"), hsm.ECP256); err != nil {
		t.Fatal(err)
	}
	s, err := h.Signer(ctx, tok.KeyURI("ocsp"))
	if err != nil {
		t.Fatal(err)
	}
	// SoftHSM frees a session in C_CloseAllSessions even while another
	// thread is inside C_Sign on it (and crashes), so the sessions are closed
	// between signatures: the pause lock keeps signatures out meanwhile.
	// Every worker then fails on a dead session at about the same time.
	const workers, perWorker = 8, 40
	var (
		wg       sync.WaitGroup
		started  sync.WaitGroup
		pause    sync.RWMutex
		errsMu   sync.Mutex
		failures []error
	)
	started.Add(workers)
	for range workers {
		wg.Go(func() {
			d := digest("concurrent")
			for i := range perWorker {
				if i == 5 {
					started.Done()
				}
				pause.RLock()
				_, err := s.Sign(rand.Reader, d, crypto.SHA256)
				pause.RUnlock()
				if err != nil {
					errsMu.Lock()
					failures = append(failures, err)
					errsMu.Unlock()
				}
			}
		})
	}
	started.Wait()
	pause.Lock()
	tok.CloseAllSessions(t)
	pause.Unlock()
	wg.Wait()
	for _, err := range failures {
		t.Error(err)
	}
	signAndVerify(t, s)
	// Single flight: one reopen for the one failure event.
	if got := strings.Count(logs.String(), "recovered PKCS#11 token"); got != 1 {
		t.Errorf("want exactly 1 recovery, got %d:\n%s", got, logs)
	}
}

// TestRecoveryAfterFinalize finalises the module under the HSM. It must not
// run in parallel: C_Finalize ends every session in the process.
func TestRecoveryAfterFinalize(t *testing.T) {
	tok := softhsmtest.New(t)
	ctx := context.Background()
	h, logs := newLoggedHSM(t)
	s, err := h.GenerateKey(ctx, tok.KeyURI("tsa"), hsm.ECP384)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.GenerateSecret(ctx, tok.KeyURI("cpr")); err != nil {
		t.Fatal(err)
	}
	softhsmtest.FinalizeModule(t)
	signAndVerify(t, s)
	if _, err := h.MAC(ctx, tok.KeyURI("cpr"), []byte("x")); err != nil {
		t.Fatalf("MAC after C_Finalize: %v", err)
	}
	if !strings.Contains(logs.String(), "CKR_CRYPTOKI_NOT_INITIALIZED") {
		t.Errorf("recovery log does not name the cause:\n%s", logs)
	}
	// Tokens made after the re-initialisation still work.
	tok2 := softhsmtest.New(t)
	s2, err := newHSM(t).GenerateKey(ctx, tok2.KeyURI("k"), hsm.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, s2)
}

// TestRecoveryRefusedPINIsNotRetried: a reopen that the token refuses
// for its PIN is not retried in the background, which would lock the
// token; the token stays down, and says why, until an operator acts.
func TestRecoveryRefusedPINIsNotRetried(t *testing.T) {
	t.Parallel()
	tok := softhsmtest.New(t)
	ctx := context.Background()
	h, logs := newLoggedHSM(t)
	s, err := h.GenerateKey(ctx, tok.KeyURI("k"), hsm.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tok.PINFile(), []byte("not-the-pin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok.CloseAllSessions(t) // the login is gone; a reopen needs the PIN
	if _, err := s.Sign(rand.Reader, digest("x"), crypto.SHA256); err == nil || !strings.Contains(err.Error(), "wrong PIN") {
		t.Fatalf("Sign with the PIN file changed: %v, want an error saying wrong PIN", err)
	}
	time.Sleep(time.Second) // a background retry would have run three times by now
	if strings.Contains(logs.String(), "token still unusable") {
		t.Errorf("the refused PIN was retried:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "refuses the PIN") {
		t.Errorf("the log does not say the PIN was refused:\n%s", logs)
	}
	if err := h.Check(ctx); err == nil || !strings.Contains(err.Error(), "wrong PIN") {
		t.Errorf("Check: %v, want the wrong PIN", err)
	}
}

func TestClosedHSM(t *testing.T) {
	t.Parallel()
	tok := softhsmtest.New(t)
	h := hsm.New(nil)
	s, err := h.GenerateKey(context.Background(), tok.KeyURI("k"), hsm.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sign(rand.Reader, digest("x"), crypto.SHA256); err == nil {
		t.Fatal("Sign after Close succeeded")
	}
	if _, err := h.Signer(context.Background(), tok.KeyURI("k")); err == nil {
		t.Fatal("Signer after Close succeeded")
	}
}

func BenchmarkSign(b *testing.B) {
	for _, alg := range []hsm.KeyAlgorithm{hsm.RSA3072, hsm.ECP256} {
		b.Run(alg.String(), func(b *testing.B) {
			tok := softhsmtest.New(b)
			h := hsm.New(nil)
			b.Cleanup(func() { _ = h.Close() })
			s, err := h.GenerateKey(context.Background(), tok.KeyURI("bench"), alg)
			if err != nil {
				b.Fatal(err)
			}
			softhsmtest.BenchmarkSigner(b, s)
		})
	}
}
