package citizen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ErrUnavailable: a resource a signature needs (a pre-generated one-time
// key) is not there in time; retry in a moment.
var ErrUnavailable = errors.New("citizen: the signing service is busy; retry in a moment")

// KeyPool holds one-time keys made ahead of time, for key types too slow
// to make on the request path (an RSA-3072 key pair takes SoftHSM about
// 0.2 s). Each key is handed out once, by Take; the taker signs with it
// and destroys it. The pool refills in the background as keys are taken,
// with a bounded number of concurrent generations, so that refilling
// never takes every core. Close destroys the keys still in the pool. The
// keys are session objects in the HSM, so those of a process that dies
// die with it.
type KeyPool struct {
	newKey func(ctx context.Context) (OneTimeKey, error)
	wait   time.Duration
	log    *slog.Logger

	keys   chan OneTimeKey
	room   chan struct{}   // a token for each key the pool may still make
	ctx    context.Context // ends at Close: stops the refillers
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
}

// PoolConfig sizes a KeyPool.
type PoolConfig struct {
	// New makes one key (hsm.GenerateSessionRSAKey, say); required.
	New func(ctx context.Context) (OneTimeKey, error)
	// Size is how many keys the pool holds when full; at least 1.
	Size int
	// Refill is how many keys are made at once; 1 by default.
	Refill int
	// Wait bounds how long Take waits for a key when the pool is empty;
	// 2 seconds by default.
	Wait   time.Duration
	Logger *slog.Logger
}

// poolRetry bounds the pause after a failed generation.
const poolRetry = 30 * time.Second

// NewKeyPool starts filling a pool.
func NewKeyPool(cfg PoolConfig) (*KeyPool, error) {
	if cfg.New == nil || cfg.Size < 1 {
		return nil, errors.New("citizen: a key pool needs a key maker and a size of at least 1")
	}
	if cfg.Refill < 1 {
		cfg.Refill = 1
	}
	if cfg.Refill > cfg.Size {
		cfg.Refill = cfg.Size
	}
	if cfg.Wait <= 0 {
		cfg.Wait = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &KeyPool{newKey: cfg.New, wait: cfg.Wait, log: cfg.Logger,
		keys: make(chan OneTimeKey, cfg.Size), room: make(chan struct{}, cfg.Size)}
	for range cfg.Size {
		p.room <- struct{}{}
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(cfg.Refill)
	for range cfg.Refill {
		go p.refill()
	}
	return p, nil
}

// refill makes keys while there is room, until Close. A refiller holds a
// token of room while it makes a key and hands it to the key; Take gives
// it back. Keys held, keys being made and tokens left always add up to
// the pool's size.
func (p *KeyPool) refill() {
	defer p.wg.Done()
	pause := time.Second
	for {
		select {
		case <-p.room:
		case <-p.ctx.Done():
			return
		}
		k, err := p.newKey(p.ctx)
		if err != nil {
			p.room <- struct{}{}
			if p.ctx.Err() != nil {
				return
			}
			p.log.Error("citizen: making a one-time key for the pool failed", "err", err, "retry_in", pause)
			select {
			case <-time.After(pause):
			case <-p.ctx.Done():
				return
			}
			pause = min(2*pause, poolRetry)
			continue
		}
		pause = time.Second
		p.mu.Lock()
		if p.closed { // Close is draining the pool: this key goes too
			p.mu.Unlock()
			p.destroy(k)
			return
		}
		p.keys <- k // never blocks: the room token was for it
		p.mu.Unlock()
	}
}

// Take hands out one key, waiting up to the pool's bound (or ctx) when it
// is empty; ErrUnavailable when none came or the pool is closed. The
// caller owns the key: it signs once with it and destroys it. A key that
// says it can no longer sign (see validKey: its token was reopened since
// it was made) is destroyed and the next one taken.
func (p *KeyPool) Take(ctx context.Context) (OneTimeKey, error) {
	t := time.NewTimer(p.wait)
	defer t.Stop()
	for {
		var k OneTimeKey
		var ok bool
		select { // a key at hand is taken before the timer is looked at
		case k, ok = <-p.keys:
		default:
			select {
			case k, ok = <-p.keys:
			case <-t.C:
				return nil, fmt.Errorf("%w: no pre-generated key came within %s", ErrUnavailable, p.wait)
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if !ok {
			return nil, fmt.Errorf("%w: the key pool is closed", ErrUnavailable)
		}
		p.room <- struct{}{} // never blocks: see refill
		if v, can := k.(validKey); can && !v.Valid() {
			p.log.Warn("citizen: a pooled one-time key died with its token's sessions; dropped", "key", k.Label())
			_ = p.destroy(k)
			continue
		}
		return k, nil
	}
}

// validKey is a key that can tell whether it can still sign
// (hsm.RSASessionKey).
type validKey interface{ Valid() bool }

// Len is the number of keys ready in the pool.
func (p *KeyPool) Len() int { return len(p.keys) }

// Cap is the pool's size.
func (p *KeyPool) Cap() int { return cap(p.keys) }

// Close stops the refilling, waits for the generations under way and
// destroys every key left in the pool. Keys already taken are their
// takers' to destroy. Take fails with ErrUnavailable afterwards.
func (p *KeyPool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	close(p.keys)
	var errs []error
	for k := range p.keys {
		if err := p.destroy(k); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (p *KeyPool) destroy(k OneTimeKey) error {
	err := k.Destroy()
	if err != nil {
		p.log.Error("citizen: destroying a pooled one-time key failed", "key", k.Label(), "err", err)
	}
	return err
}
