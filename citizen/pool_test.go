package citizen_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/oces-pki/oces/citizen"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/softhsmtest"
)

// rsaMaker makes real RSA-3072 session keys in a SoftHSM token, remembers
// their labels, and makes no more than allow lets it (a gate the test
// opens key by key).
type rsaMaker struct {
	h     *hsm.HSM
	tok   *softhsmtest.Token // set by newRSAMaker
	token string
	allow chan struct{}

	mu     sync.Mutex
	labels []string
}

func newRSAMaker(t *testing.T) *rsaMaker {
	t.Helper()
	tok := softhsmtest.New(t)
	h := hsm.New(nil)
	t.Cleanup(func() { h.Close() })
	return &rsaMaker{h: h, tok: tok, token: tok.TokenURI(), allow: make(chan struct{}, 100)}
}

func (m *rsaMaker) open(n int) {
	for range n {
		m.allow <- struct{}{}
	}
}

func (m *rsaMaker) New(ctx context.Context) (citizen.OneTimeKey, error) {
	select {
	case <-m.allow:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	k, err := m.h.GenerateSessionRSAKey(ctx, m.token)
	if err == nil {
		m.mu.Lock()
		m.labels = append(m.labels, k.Label())
		m.mu.Unlock()
	}
	return k, err
}

// live lists the keys made that are still in the token.
func (m *rsaMaker) live(t *testing.T) []string {
	t.Helper()
	m.mu.Lock()
	labels := append([]string(nil), m.labels...)
	m.mu.Unlock()
	var out []string
	for _, l := range labels {
		ok, err := m.h.ObjectExists(context.Background(), m.token, l)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// waitLen waits until the pool holds n keys.
func waitLen(t testing.TB, p *citizen.KeyPool, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for p.Len() != n {
		if time.Now().After(deadline) {
			t.Fatalf("the pool holds %d keys, want %d", p.Len(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestKeyPool(t *testing.T) {
	t.Parallel()
	m := newRSAMaker(t)
	m.open(2)
	p, err := citizen.NewKeyPool(citizen.PoolConfig{New: m.New, Size: 2, Refill: 2, Wait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()

	// Full: two keys, made without anyone asking.
	waitLen(t, p, 2)
	if p.Cap() != 2 {
		t.Fatalf("capacity %d", p.Cap())
	}

	// Concurrent takers get distinct keys: two from the pool, two as the
	// pool refills; each key signs and verifies.
	m.open(2)
	const takers = 4
	var wg sync.WaitGroup
	got := make([]citizen.OneTimeKey, takers)
	errs := make([]error, takers)
	for i := range takers {
		wg.Go(func() {
			tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			for {
				got[i], errs[i] = p.Take(tctx)
				if !errors.Is(errs[i], citizen.ErrUnavailable) {
					return
				}
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	digest := sha256.Sum256([]byte("document"))
	for i, k := range got {
		if errs[i] != nil {
			t.Fatalf("taker %d: %v", i, errs[i])
		}
		if seen[k.Label()] {
			t.Fatalf("key %s handed out twice", k.Label())
		}
		seen[k.Label()] = true
		sig, err := k.Sign(nil, digest[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if err := rsa.VerifyPKCS1v15(k.Public().(*rsa.PublicKey), crypto.SHA256, digest[:], sig); err != nil {
			t.Fatal(err)
		}
		if err := k.Destroy(); err != nil {
			t.Fatal(err)
		}
	}

	// Empty, and no key being made: Take waits its bound, then says so.
	start := time.Now()
	if _, err := p.Take(ctx); !errors.Is(err, citizen.ErrUnavailable) {
		t.Fatalf("Take from an empty pool: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 5*time.Second {
		t.Fatalf("Take waited %s, want about 50ms", d)
	}
	// A caller's deadline shorter than the bound wins.
	short, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	if _, err := p.Take(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Take with an expired context: %v", err)
	}

	// Refilled, then closed: every key left in the pool is destroyed.
	m.open(2)
	waitLen(t, p, 2)
	if live := m.live(t); len(live) != 2 {
		t.Fatalf("%d keys in the token before Close, want the pool's 2: %v", len(live), live)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if live := m.live(t); len(live) != 0 {
		t.Fatalf("keys left in the token after Close: %v", live)
	}
	if _, err := p.Take(ctx); !errors.Is(err, citizen.ErrUnavailable) {
		t.Fatalf("Take after Close: %v, want ErrUnavailable", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestKeyPoolCloseWhileMaking closes a pool while a key is being made:
// that key is destroyed too, and Close waits for it.
func TestKeyPoolCloseWhileMaking(t *testing.T) {
	t.Parallel()
	m := newRSAMaker(t)
	made := make(chan struct{})
	slow := func(ctx context.Context) (citizen.OneTimeKey, error) {
		k, err := m.New(ctx)
		close(made)
		time.Sleep(100 * time.Millisecond) // Close comes while this key is not yet in the pool
		return k, err
	}
	m.open(1)
	p, err := citizen.NewKeyPool(citizen.PoolConfig{New: slow, Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	<-made
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if live := m.live(t); len(live) != 0 {
		t.Fatalf("keys left in the token after Close: %v", live)
	}
}

func TestKeyPoolConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  citizen.PoolConfig
	}{
		{"no maker", citizen.PoolConfig{Size: 1}},
		{"size 0", citizen.PoolConfig{New: func(context.Context) (citizen.OneTimeKey, error) { return nil, errors.New("unused") }}},
	} {
		if _, err := citizen.NewKeyPool(tc.cfg); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

// TestKeyPoolDropsDeadKeys: the token loses its sessions, and with them
// the pool's session objects; Take drops the dead keys and hands out one
// made after the token recovered.
func TestKeyPoolDropsDeadKeys(t *testing.T) {
	t.Parallel()
	m := newRSAMaker(t)
	m.open(2)
	p, err := citizen.NewKeyPool(citizen.PoolConfig{New: m.New, Size: 2, Wait: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	waitLen(t, p, 2)
	dead := m.live(t)
	m.tok.CloseAllSessions(t) // another PKCS#11 user closes every session
	m.open(1)
	k, err := p.Take(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer k.Destroy()
	for _, l := range dead {
		if k.Label() == l {
			t.Fatalf("Take handed out %s, which died with the sessions", l)
		}
	}
	digest := sha256.Sum256([]byte("document"))
	if _, err := k.Sign(nil, digest[:], crypto.SHA256); err != nil {
		t.Fatalf("the key handed out does not sign: %v", err)
	}
}
