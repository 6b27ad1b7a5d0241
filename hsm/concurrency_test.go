package hsm_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/softhsmtest"
)

// TestRecoveryDuringConcurrentSigning is issue 16 item 5: the server
// crashed (SIGSEGV in SoftHSM) when HSM sessions were lost while many
// goroutines signed, because recovery called into the module while
// signatures were in flight. Here two tokens' keys sign from 16
// goroutines, and a secret computes HMACs in two more, while, again and
// again, a second PKCS#11 context closes one token's sessions or finalises
// the whole module. Every signature must succeed and verify, every HMAC be
// the same, and the process must not crash.
//
// The external events themselves are kept between signatures (the pause
// lock): SoftHSM frees a session in C_CloseAllSessions or C_Finalize even
// while another thread is inside C_Sign on it, which no caller can
// prevent. What runs concurrently with the signers is the hsm package's
// own recovery. Not parallel: C_Finalize ends every session in the process.
func TestRecoveryDuringConcurrentSigning(t *testing.T) {
	tokA, tokB := softhsmtest.New(t), softhsmtest.New(t)
	ctx := context.Background()
	h, _ := newLoggedHSM(t)
	sa, err := h.GenerateKey(ctx, tokA.KeyURI("a"), hsm.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := h.GenerateKey(ctx, tokB.KeyURI("b"), hsm.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.GenerateSecret(ctx, tokA.KeyURI("mac")); err != nil {
		t.Fatal(err)
	}
	mac, err := h.MAC(ctx, tokA.KeyURI("mac"), []byte("concurrent recovery"))
	if err != nil {
		t.Fatal(err)
	}
	var (
		pause       sync.RWMutex
		stop        atomic.Bool
		signed, bad atomic.Int64
		errsMu      sync.Mutex
		failures    []string
		wg          sync.WaitGroup
	)
	fail := func(msg string) {
		bad.Add(1)
		errsMu.Lock()
		if len(failures) < 10 {
			failures = append(failures, msg)
		}
		errsMu.Unlock()
	}
	for w := range 16 {
		s := []crypto.Signer{sa, sb}[w%2]
		pub := s.Public().(*ecdsa.PublicKey)
		wg.Go(func() {
			d := digest("concurrent recovery")
			for !stop.Load() {
				pause.RLock()
				sig, err := s.Sign(rand.Reader, d, crypto.SHA256)
				pause.RUnlock()
				switch {
				case err != nil:
					fail(err.Error())
				case !ecdsa.VerifyASN1(pub, d, sig):
					fail("a signature does not verify with the signer's public key")
				default:
					signed.Add(1)
				}
			}
		})
	}
	for range 2 { // HMACs in the token share the recovery
		wg.Go(func() {
			for !stop.Load() {
				pause.RLock()
				got, err := h.MAC(ctx, tokA.KeyURI("mac"), []byte("concurrent recovery"))
				pause.RUnlock()
				switch {
				case err != nil:
					fail(err.Error())
				case !bytes.Equal(got, mac):
					fail("the HMAC changed")
				default:
					signed.Add(1)
				}
			}
		})
	}
	const rounds = 150
	for i := range rounds {
		time.Sleep(10 * time.Millisecond)
		pause.Lock()
		switch i % 3 {
		case 0:
			softhsmtest.FinalizeModule(t)
		case 1:
			tokA.CloseAllSessions(t)
		case 2:
			tokB.CloseAllSessions(t)
		}
		pause.Unlock()
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d events, %d signatures, %d failures", rounds, signed.Load(), bad.Load())
	if bad.Load() > 0 {
		t.Errorf("%d signatures failed; the first:\n%s", bad.Load(), strings.Join(failures, "\n"))
	}
	if signed.Load() < rounds {
		t.Errorf("only %d signatures in %d events", signed.Load(), rounds)
	}
	signAndVerify(t, sa)
	signAndVerify(t, sb)
}
