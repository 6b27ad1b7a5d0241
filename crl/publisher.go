package crl

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oces-pki/oces/ca"
)

// ErrNotFound: no such CA or partition.
var ErrNotFound = errors.New("crl: not found")

// DefaultMinGap bounds how often status changes regenerate a CA's CRLs.
const DefaultMinGap = time.Minute

var _ ca.StatusObserver = (*Publisher)(nil)

// Config wires a Publisher.
type Config struct {
	Source  Source
	Issuers []*ca.Issuer
	// BaseURL is the public base URL the CA writes into certificates.
	BaseURL string
	// Dir, when set, receives every CRL for static hosting:
	// <Dir>/<ca>.crl, <Dir>/<ca>/<n>.crl and <Dir>/<ca>/delta.crl.
	Dir string
	// Validity is nextUpdate - thisUpdate; 0 means 12 hours.
	Validity time.Duration
	// Interval is how often every CRL is regenerated; 0 means Validity/2.
	Interval time.Duration
	// MinGap is the least time between two runs for one CA caused by
	// status changes; 0 means one minute.
	MinGap time.Duration
	// ExpiredCertsOnCRL keeps the entries of expired certificates on the
	// CRLs (see Request.ExpiredCertsOnCRL); by default they leave.
	ExpiredCertsOnCRL bool
	Clock             func() time.Time // time.Now when nil
	Rand              io.Reader        // crypto/rand when nil
	Logger            *slog.Logger
}

// Publisher keeps the CRLs of the issuing CAs current: it regenerates them
// every Interval and at most MinGap after a status change, holds the latest
// of each in memory for Handler and writes them to Dir. Requests never wait
// for a run.
type Publisher struct {
	gen      *Generator
	dir      string
	interval time.Duration
	minGap   time.Duration
	now      func() time.Time
	log      *slog.Logger
	cas      map[string]*caState
	order    []string
	kick     chan struct{}
	expired  bool // Config.ExpiredCertsOnCRL
}

// caState is the Publisher's state for one CA.
type caState struct {
	iss *ca.Issuer

	full  atomic.Pointer[document]
	delta atomic.Pointer[document]
	parts atomic.Pointer[map[int]*document] // replaced, never changed

	run      sync.Mutex // one run at a time; guards the fields below
	base     *Base      // the complete CRL deltas are relative to
	pending  *Base      // the next base: the latest scheduled full run
	due      time.Time  // next scheduled full run
	lastRun  time.Time
	sizeHint int
	restored bool // base, pending and due were read from the store

	mu    sync.Mutex // guards dirty
	dirty map[int]bool
}

// document is one published CRL.
type document struct {
	der        []byte
	etag       string
	number     uint64
	thisUpdate time.Time
	nextUpdate time.Time
}

// New checks the configuration. Nothing is generated until Run or Generate.
func New(cfg Config) (*Publisher, error) {
	if len(cfg.Issuers) == 0 {
		return nil, errors.New("crl: no issuing CA configured")
	}
	gen, err := NewGenerator(cfg.Source, cfg.BaseURL, cfg.Validity, cfg.Clock, cfg.Rand)
	if err != nil {
		return nil, err
	}
	p := &Publisher{
		gen: gen, dir: cfg.Dir, interval: cfg.Interval, minGap: cfg.MinGap, now: gen.now,
		log: cfg.Logger, cas: map[string]*caState{}, kick: make(chan struct{}, 1), expired: cfg.ExpiredCertsOnCRL,
	}
	if p.interval == 0 {
		p.interval = gen.validity / 2
	}
	if p.interval <= 0 || p.interval >= gen.validity {
		return nil, fmt.Errorf("crl: interval %s must be positive and shorter than the validity %s", p.interval, gen.validity)
	}
	if p.minGap == 0 {
		p.minGap = DefaultMinGap
	}
	if p.minGap < 0 || p.minGap > p.interval {
		return nil, fmt.Errorf("crl: min gap %s must be positive and at most the interval %s", p.minGap, p.interval)
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	for _, iss := range cfg.Issuers {
		if iss == nil || iss.Name == "" || iss.Certificate == nil || iss.Signer == nil {
			return nil, errors.New("crl: every issuer needs a name, a certificate and a key")
		}
		if _, dup := p.cas[iss.Name]; dup {
			return nil, fmt.Errorf("crl: issuer %q configured twice", iss.Name)
		}
		st := &caState{iss: iss, dirty: map[int]bool{}}
		st.parts.Store(&map[int]*document{})
		p.cas[iss.Name] = st
		p.order = append(p.order, iss.Name)
	}
	return p, nil
}

// StatusChanged marks the certificate's CA and partition for the next run;
// it never blocks and never generates on the caller's path.
func (p *Publisher) StatusChanged(_ context.Context, c *ca.Certificate) {
	st, ok := p.cas[c.CA]
	if !ok {
		return
	}
	st.mu.Lock()
	st.dirty[c.Partition] = true
	st.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Generate regenerates every CRL of the named CA now.
func (p *Publisher) Generate(ctx context.Context, caName string) error {
	st, ok := p.cas[caName]
	if !ok {
		return fmt.Errorf("%w: no issuing CA %q", ErrNotFound, caName)
	}
	return p.runFull(ctx, st)
}

// Run generates every CA's CRLs at once, then keeps them current until ctx
// ends. Failed runs are logged and retried after MinGap.
func (p *Publisher) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-p.kick:
		}
		p.tick(ctx)
		timer.Stop()
		timer.Reset(p.nextWake())
	}
}

// tick runs what is due: scheduled full runs, then on-change runs of the
// CAs whose last run is at least MinGap ago.
func (p *Publisher) tick(ctx context.Context) {
	for _, name := range p.order {
		if ctx.Err() != nil {
			return
		}
		st := p.cas[name]
		st.run.Lock()
		now := p.now()
		full, last := !now.Before(st.due), st.lastRun
		st.run.Unlock()
		var err error
		switch {
		case full:
			err = p.runFull(ctx, st)
		case st.isDirty() && now.Sub(last) >= p.minGap:
			err = p.runDirty(ctx, st)
		}
		if err != nil && ctx.Err() == nil {
			p.log.ErrorContext(ctx, "generating CRLs failed; retrying", "ca", name, "err", err, "retry_in", p.minGap)
		}
	}
}

// nextWake is how long Run may sleep before something is due.
func (p *Publisher) nextWake() time.Duration {
	now := p.now()
	wake := p.interval
	for _, st := range p.cas {
		st.run.Lock()
		due, next := st.due, st.lastRun.Add(p.minGap)
		st.run.Unlock()
		wake = min(wake, due.Sub(now))
		if st.isDirty() {
			wake = min(wake, next.Sub(now))
		}
	}
	return max(wake, 10*time.Millisecond)
}

func (st *caState) isDirty() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.dirty) > 0
}

// runFull regenerates the full CRL, every partition and the delta, and
// moves the delta base along: deltas are relative to the previous scheduled
// full CRL, so a client holding a complete CRL up to one Interval old can
// still apply them.
//
// The bases and the time of the next scheduled run are saved in the store
// after every full run and read back before the first, so that a restart
// neither empties the delta nor moves its base: a full run before the
// scheduled time (the first after a restart, or one asked for) keeps them.
func (p *Publisher) runFull(ctx context.Context, st *caState) error {
	st.run.Lock()
	defer st.run.Unlock()
	if err := p.restore(ctx, st); err != nil {
		st.due = p.now().Add(p.minGap)
		return err
	}
	st.mu.Lock()
	st.dirty = map[int]bool{} // a full run covers every change so far
	st.mu.Unlock()
	scheduled := !p.now().Before(st.due)
	set, err := p.generate(ctx, st, nil)
	if err != nil {
		st.due = p.now().Add(p.minGap)
		return err
	}
	if scheduled || st.base == nil {
		this := &Base{Number: set.Number, ThisUpdate: set.ThisUpdate}
		switch {
		case st.pending != nil:
			st.base = st.pending
		case st.base == nil:
			st.base = this
		}
		st.pending = this
		st.due = set.ThisUpdate.Add(p.interval)
	}
	if err := p.save(ctx, st); err != nil {
		// The CRLs are out; only a restart before the next save would
		// publish an empty delta.
		p.log.ErrorContext(ctx, "saving the delta CRL base failed", "ca", st.iss.Name, "err", err)
	}
	p.prune(ctx, st)
	return nil
}

// savedState is what the Publisher keeps in the store per CA.
type savedState struct {
	Base    *Base     `json:"base"`
	Pending *Base     `json:"pending"`
	Due     time.Time `json:"due"`
}

// restore reads the CA's saved bases once. st.run is held.
func (p *Publisher) restore(ctx context.Context, st *caState) error {
	if st.restored {
		return nil
	}
	data, err := p.gen.source.CRLState(ctx, st.iss.Name)
	if err != nil {
		return fmt.Errorf("crl: reading the saved state of %s: %w", st.iss.Name, err)
	}
	if data != nil {
		var s savedState
		if err := json.Unmarshal(data, &s); err != nil {
			return fmt.Errorf("crl: the saved state of %s is unreadable: %w", st.iss.Name, err)
		}
		st.base, st.pending, st.due = s.Base, s.Pending, s.Due
	}
	st.restored = true
	return nil
}

// save writes the CA's bases to the store. st.run is held.
func (p *Publisher) save(ctx context.Context, st *caState) error {
	data, err := json.Marshal(savedState{Base: st.base, Pending: st.pending, Due: st.due})
	if err != nil {
		return fmt.Errorf("crl: encoding the state of %s: %w", st.iss.Name, err)
	}
	return p.gen.source.SetCRLState(ctx, st.iss.Name, data)
}

// runDirty regenerates the full CRL, the delta and the partitions with
// status changes since the last run.
func (p *Publisher) runDirty(ctx context.Context, st *caState) error {
	st.run.Lock()
	defer st.run.Unlock()
	st.mu.Lock()
	dirty := st.dirty
	st.dirty = map[int]bool{}
	st.mu.Unlock()
	if len(dirty) == 0 {
		return nil
	}
	if _, err := p.generate(ctx, st, dirty); err != nil {
		st.mu.Lock()
		maps.Copy(st.dirty, dirty)
		st.mu.Unlock()
		return err
	}
	return nil
}

// generate runs the generator and publishes its output. st.run is held.
func (p *Publisher) generate(ctx context.Context, st *caState, partitions map[int]bool) (*Set, error) {
	st.lastRun = p.now()
	start := time.Now()
	set, err := p.gen.Generate(ctx, Request{Issuer: st.iss, Partitions: partitions, Base: st.base, SizeHint: st.sizeHint,
		ExpiredCertsOnCRL: p.expired})
	if err != nil {
		return nil, err
	}
	st.sizeHint = len(set.Full) + len(set.Full)/8
	p.publish(st, set)
	p.log.InfoContext(ctx, "CRLs generated", "ca", st.iss.Name, "number", set.Number, "entries", set.Entries,
		"full_bytes", len(set.Full), "partitions", len(set.Partitions), "delta_base", set.DeltaBase.Number,
		"took", time.Since(start).Round(time.Millisecond))
	if err := p.write(st.iss.Name, set); err != nil {
		return nil, err
	}
	return set, nil
}

// publish swaps the new CRLs in for Handler.
func (p *Publisher) publish(st *caState, set *Set) {
	doc := func(der []byte) *document {
		sum := sha256.Sum256(der)
		return &document{der: der, etag: `"` + hex.EncodeToString(sum[:16]) + `"`, number: set.Number,
			thisUpdate: set.ThisUpdate, nextUpdate: set.NextUpdate}
	}
	parts := maps.Clone(*st.parts.Load())
	for n, der := range set.Partitions {
		parts[n] = doc(der)
	}
	st.parts.Store(&parts)
	st.full.Store(doc(set.Full))
	st.delta.Store(doc(set.Delta))
}

// write stores the new CRLs in the directory, each atomically.
func (p *Publisher) write(caName string, set *Set) error {
	if p.dir == "" {
		return nil
	}
	if err := writeAtomic(filepath.Join(p.dir, caName+".crl"), set.Full); err != nil {
		return err
	}
	sub := filepath.Join(p.dir, caName)
	for n, der := range set.Partitions {
		if err := writeAtomic(filepath.Join(sub, strconv.Itoa(n)+".crl"), der); err != nil {
			return err
		}
	}
	return writeAtomic(filepath.Join(sub, "delta.crl"), set.Delta)
}

// writeAtomic replaces path with data so that a reader sees the old or the
// new file, never a part: temporary file, fsync, rename, fsync of the
// directory.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("crl: creating directory %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("crl: writing %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("crl: writing %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: the rename is durable on the next sync anyway
		_ = d.Close()
	}
	return nil
}

// pruner is the optional ability of a Source to forget old status changes.
type pruner interface {
	PruneChanges(ctx context.Context, ca string, before time.Time) (int, error)
}

// prune drops status changes older than any base a delta can still need.
func (p *Publisher) prune(ctx context.Context, st *caState) {
	pr, ok := p.gen.source.(pruner)
	if !ok || st.base == nil {
		return
	}
	before := st.base.ThisUpdate.Add(-time.Hour)
	if n, err := pr.PruneChanges(ctx, st.iss.Name, before); err != nil {
		p.log.WarnContext(ctx, "pruning status changes failed", "ca", st.iss.Name, "err", err)
	} else if n > 0 {
		p.log.DebugContext(ctx, "pruned status changes", "ca", st.iss.Name, "count", n)
	}
}
