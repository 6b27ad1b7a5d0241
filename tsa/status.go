package tsa

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oces-pki/oces/audit"
)

// The TSA's own certificate. A time-stamp is worth no more than the
// certificate that signs it, and the TSA policies of RFC 3628 and ETSI EN
// 319 421 have a TSA stop issuing time-stamps once its key may be
// compromised. So with Config.Status the
// Authority asks, before each token, whether its certificate is still good,
// remembering the answer for Config.StatusTTL. While the certificate is
// revoked or suspended, or its status cannot be read, every request is
// rejected with failInfo systemFailure and a statusString that says why;
// the change is logged once, and recorded in the audit chain (ActionTSASuspend,
// ActionTSAResume) when Config.Audit is set.

// DefaultStatusTTL is how long a status reading is used when
// Config.StatusTTL is zero.
const DefaultStatusTTL = 5 * time.Second

// CertificateStatus is what a StatusChecker says of the TSA certificate.
type CertificateStatus struct {
	Good bool
	// Status is "good", "revoked", "suspended" or "unknown" (not issued
	// by the CA asked).
	Status string
	Reason string    // the CRLReason name of a revocation, or ""
	Since  time.Time // when it was revoked or suspended
}

// String says what the status is, for people.
func (s CertificateStatus) String() string {
	out := s.Status
	if s.Reason != "" && s.Status == "revoked" {
		out += " (" + s.Reason + ")"
	}
	if !s.Since.IsZero() {
		out += " since " + s.Since.UTC().Format(time.RFC3339)
	}
	return out
}

// StatusChecker tells whether the TSA certificate is good. In `oces
// serve` it reads the CA's store, which issued the certificate.
type StatusChecker interface {
	CertificateStatus(ctx context.Context, cert *x509.Certificate) (CertificateStatus, error)
}

// Auditor appends records to the audit chain; the bolt store satisfies it.
type Auditor interface {
	AppendAudit(ctx context.Context, events ...audit.Event) error
}

// statusReading is one answer of the StatusChecker, and when it came.
type statusReading struct {
	at  time.Time
	st  CertificateStatus
	err error
}

// certStatus is the Authority's view of its certificate.
type certStatus struct {
	mu      sync.Mutex // one reading at a time
	reading atomic.Pointer[statusReading]
	refused atomic.Bool // the last reading said the certificate is not good
}

// checkCertificate rejects the request unless the TSA certificate is good.
func (a *Authority) checkCertificate(ctx context.Context) *rejection {
	if a.cfg.Status == nil {
		return nil
	}
	rd := a.statusReading(ctx)
	switch {
	case rd.err != nil:
		return &rejection{fail: FailSystemFailure, text: "TSA certificate status unavailable", logged: true}
	case !rd.st.Good:
		return &rejection{fail: FailSystemFailure, text: "TSA certificate " + rd.st.String(), logged: true}
	}
	return nil
}

// statusReading returns a reading at most StatusTTL old, asking the
// StatusChecker for a new one when it is older.
func (a *Authority) statusReading(ctx context.Context) *statusReading {
	fresh := func(rd *statusReading, now time.Time) bool {
		return rd != nil && !now.Before(rd.at) && now.Sub(rd.at) < a.cfg.StatusTTL
	}
	s := &a.certStatus
	if rd := s.reading.Load(); fresh(rd, a.cfg.Clock()) {
		return rd
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := a.cfg.Clock()
	if rd := s.reading.Load(); fresh(rd, now) {
		return rd
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	st, err := a.cfg.Status.CertificateStatus(cctx, a.cfg.Certificate)
	rd := &statusReading{at: now, st: st, err: err}
	s.reading.Store(rd)
	serial := fmt.Sprintf("%032x", a.cfg.Certificate.SerialNumber) // as the CA writes serials
	switch {
	case err != nil:
		a.cfg.Logger.ErrorContext(ctx, "tsa: cannot read the TSA certificate's status; refusing time-stamps until it can be read",
			slog.String("certificate", serial), slog.Any("err", err))
	case !st.Good && !s.refused.Swap(true):
		a.cfg.Logger.ErrorContext(ctx, "tsa: the TSA certificate is not good; refusing every time-stamp",
			slog.String("certificate", serial), slog.String("status", st.String()))
		a.audit(ctx, audit.ActionTSASuspend, serial, map[string]string{"status": st.Status, "reason": st.Reason})
	case st.Good && s.refused.Swap(false):
		a.cfg.Logger.WarnContext(ctx, "tsa: the TSA certificate is good again; granting time-stamps", slog.String("certificate", serial))
		a.audit(ctx, audit.ActionTSAResume, serial, map[string]string{"status": st.Status})
	}
	return rd
}

// audit records a change of the TSA's state; losing the record is logged
// (the TSA refuses whether or not it is recorded).
func (a *Authority) audit(ctx context.Context, action, serial string, details map[string]string) {
	if a.cfg.Audit == nil {
		return
	}
	ev := audit.Event{Time: a.cfg.Clock(), Actor: audit.System, Action: action, Target: serial,
		Outcome: audit.OutcomeOK, Details: details}
	if err := a.cfg.Audit.AppendAudit(ctx, ev); err != nil {
		a.cfg.Logger.ErrorContext(ctx, "tsa: writing audit record failed", slog.String("action", action), slog.Any("err", err))
	}
}
