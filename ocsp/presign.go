package ocsp

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/oces-pki/oces/ca"
)

// Progress reports a pre-signing sweep.
type Progress struct {
	Done  int64
	Total int64 // an estimate (serials ever reserved); 0 when unknown
	// Rate is responses signed per second since the sweep began.
	Rate     float64
	Elapsed  time.Duration
	Finished bool
}

// Ready reports whether the first pre-signing sweep has completed. Until
// then requests are answered on demand, never wrongly.
func (r *Responder) Ready() bool { return r.ready.Load() }

// Run keeps the responder current until ctx ends: it pre-signs every
// certificate's response in the background at once, re-signs them all when
// RefreshFraction of their validity has passed, renews responder
// certificates that are due, checks that they are still good, and signs
// everything again at once after a key rotation. Serving (Handler) does
// not wait for it.
func (r *Responder) Run(ctx context.Context) error {
	refresh := time.Duration(float64(r.cfg.ResponseValidity) * r.cfg.RefreshFraction)
	next := r.now()
	tick := time.NewTicker(min(time.Minute, refresh/4))
	defer tick.Stop()
	for {
		if err := r.checkResponders(ctx); err != nil {
			r.log.ErrorContext(ctx, "ocsp: checking responder certificates; retrying in a minute", "err", err)
		}
		if err := r.renewDue(ctx); err != nil {
			r.log.ErrorContext(ctx, "ocsp: renewing responder certificate; retrying in a minute", "err", err)
		}
		if r.resignPending() {
			next = r.now()
		}
		if !r.now().Before(next) {
			start := r.now()
			if err := r.Presign(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				r.log.ErrorContext(ctx, "ocsp: pre-signing; retrying in a minute", "err", err)
				next = r.now().Add(time.Minute)
			} else {
				next = start.Add(refresh)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-r.kick:
		}
	}
}

// resignPending reports whether a rotation awaits its sweep.
func (r *Responder) resignPending() bool {
	for _, iss := range r.issuers {
		if iss.resign.Load() {
			return true
		}
	}
	return false
}

// Presign signs a fresh response for every certificate of every issuer,
// with Workers signing in parallel, and returns when all are installed.
// Requests are served throughout. A response that a status change replaced
// during the sweep is not overwritten with the sweep's older reading.
func (r *Responder) Presign(ctx context.Context) error {
	// The sweep reads each record after this seq was current; a status
	// change after it carries a larger seq and wins (see issuer.install).
	seq := r.seq.Load()
	var total int64
	if c, ok := r.cfg.Source.(counter); ok {
		for _, iss := range r.issuers {
			if n, err := c.CountIssued(ctx, iss.name); err == nil {
				total += int64(n)
			}
		}
	}
	r.presigned.Store(0)
	start := time.Now()
	stop := r.reportProgress(start, total)
	var err error
	for _, iss := range r.issuers {
		k, before := iss.current.Load(), r.presigned.Load()
		if err = r.presignIssuer(ctx, iss, seq); err != nil {
			break
		}
		r.resigned(ctx, iss, k, r.presigned.Load()-before)
	}
	stop()
	if err != nil {
		return err
	}
	r.ready.Store(true)
	return nil
}

const presignBatch = 256

func (r *Responder) presignIssuer(ctx context.Context, iss *issuer, seq uint64) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	batches := make(chan []*ca.Certificate, 2*r.cfg.Workers)
	var wg sync.WaitGroup
	for range r.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range batches {
				for _, c := range batch {
					if _, err := r.signRecord(iss, c, seq); err != nil {
						cancel(fmt.Errorf("ocsp: pre-signing %s of %s: %w", c.Serial, iss.name, err))
						return
					}
				}
				r.presigned.Add(int64(len(batch)))
			}
		}()
	}
	batch := make([]*ca.Certificate, 0, presignBatch)
	err := r.cfg.Source.ForEachCertificate(ctx, iss.name, func(c *ca.Certificate) error {
		batch = append(batch, c)
		if len(batch) < presignBatch {
			return nil
		}
		select {
		case batches <- batch:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		batch = make([]*ca.Certificate, 0, presignBatch)
		return nil
	})
	if err == nil && len(batch) > 0 {
		select {
		case batches <- batch:
		case <-ctx.Done():
		}
	}
	close(batches)
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil && err == nil {
		err = cause
	}
	if err != nil {
		return fmt.Errorf("ocsp: pre-signing responses of %s: %w", iss.name, err)
	}
	return nil
}

// reportProgress calls Config.Progress every second and logs every ten
// seconds until the returned stop is called, which reports completion.
func (r *Responder) reportProgress(start time.Time, total int64) (stop func()) {
	report := func(finished bool) Progress {
		p := Progress{Done: r.presigned.Load(), Total: total, Elapsed: time.Since(start), Finished: finished}
		if s := p.Elapsed.Seconds(); s > 0 {
			p.Rate = float64(p.Done) / s
		}
		if r.cfg.Progress != nil {
			r.cfg.Progress(p)
		}
		return p
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for n := 1; ; n++ {
			select {
			case <-done:
				return
			case <-t.C:
				p := report(false)
				if n%10 == 0 {
					r.log.Info("ocsp: pre-signing", "done", p.Done, "total", p.Total, "rate", int(p.Rate))
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
			p := report(true)
			r.log.Info("ocsp: pre-signed responses", "count", p.Done, "seconds", p.Elapsed.Seconds(), "rate", int(p.Rate))
		})
	}
}

// TerminalProgress returns a Config.Progress that draws a progress bar on
// w, a terminal (the CLI passes it only when stderr is one).
func TerminalProgress(w io.Writer) func(Progress) {
	return func(p Progress) {
		const width = 30
		frac := 0.0
		if p.Total > 0 {
			frac = min(1, float64(p.Done)/float64(p.Total))
		}
		n := int(frac * width)
		end := ""
		if p.Finished {
			end = "\n"
		}
		fmt.Fprintf(w, "\rocsp: pre-signing [%s%s] %3.0f%% %d/%d %.0f/s%s",
			strings.Repeat("#", n), strings.Repeat(" ", width-n), frac*100, p.Done, p.Total, p.Rate, end)
	}
}
