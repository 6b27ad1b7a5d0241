package tsa

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oces-pki/oces/audit"
)

// chain is an audit chain in memory, linked by audit.Next as a store
// links it. (The bbolt store cannot be imported here: it imports the
// citizen service, which reaches this package through the signer.)
type chain struct {
	mu   sync.Mutex
	head audit.Head
	recs []*audit.Record
}

func (c *chain) AppendAudit(_ context.Context, events ...audit.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ev := range events {
		r, err := audit.Next(c.head, ev)
		if err != nil {
			return err
		}
		c.recs = append(c.recs, r)
		c.head.Seq, c.head.Hash = r.Seq, r.Hash
	}
	return nil
}

func (c *chain) records() []*audit.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*audit.Record(nil), c.recs...)
}

// settableStatus is a StatusChecker whose answer the test sets. The real
// one reads the CA's store, which this package does not know (cmd/oces
// wires it and tests it end to end); this one counts its calls.
type settableStatus struct {
	mu    sync.Mutex
	st    CertificateStatus
	err   error
	calls int
}

func (s *settableStatus) CertificateStatus(_ context.Context, _ *x509.Certificate) (CertificateStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	return s.st, s.err
}

func (s *settableStatus) set(st CertificateStatus, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st, s.err = st, err
}

// movingClock is a clock the test moves.
type movingClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *movingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *movingClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// syncWriter is a log destination safe for concurrent use.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestCertificateStatus: a TSA whose certificate is revoked refuses with
// systemFailure and says why, logs it once, records it in the audit chain,
// and resumes when the certificate is good again; readings are cached for
// StatusTTL; a status that cannot be read refuses too.
func TestCertificateStatus(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t, "p256")
	db := &chain{}
	checker := &settableStatus{st: CertificateStatus{Good: true, Status: "good"}}
	clock := &movingClock{now: testNow}
	logs := &syncWriter{}
	a := newTestAuthority(t, p, func(c *Config) {
		c.Status, c.StatusTTL, c.Audit, c.Clock = checker, 10*time.Second, db, clock.Now
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	ask := func() (int, []byte) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/tsa", bytes.NewReader(encodeReq(t, reqFields{certReq: true})))
		req.Header.Set("Content-Type", ContentTypeQuery)
		a.ServeHTTP(rec, req)
		return rec.Code, rec.Body.Bytes()
	}
	granted := func(step string) {
		t.Helper()
		code, body := ask()
		if _, err := ParseResponse(body); code != http.StatusOK || err != nil {
			t.Fatalf("%s: HTTP %d, %v; want a token", step, code, err)
		}
	}
	refused := func(step, want string) {
		t.Helper()
		code, body := ask()
		_, err := ParseResponse(body)
		var rej *RejectionError
		if code != http.StatusServiceUnavailable || !errors.As(err, &rej) || rej.FailInfo != FailSystemFailure || !strings.Contains(rej.Text, want) {
			t.Fatalf("%s: HTTP %d, %v; want 503 and systemFailure saying %q", step, code, err, want)
		}
	}
	granted("good")
	granted("good again")
	if checker.calls != 1 {
		t.Fatalf("%d status readings within the TTL, want 1", checker.calls)
	}
	since := testNow.Add(-time.Minute)
	checker.set(CertificateStatus{Status: "revoked", Reason: "keyCompromise", Since: since}, nil)
	granted("revoked but not yet read") // the reading is 10s fresh
	clock.advance(11 * time.Second)
	refused("revoked", "TSA certificate revoked (keyCompromise) since "+since.UTC().Format(time.RFC3339))
	refused("still revoked", "revoked (keyCompromise)")
	clock.advance(11 * time.Second)
	refused("revoked, read again", "keyCompromise")
	if n := strings.Count(logs.String(), "the TSA certificate is not good"); n != 1 {
		t.Errorf("the refusal is logged %d times, want once:\n%s", n, logs)
	}
	checker.set(CertificateStatus{Good: true, Status: "good"}, nil)
	clock.advance(11 * time.Second)
	granted("good once more")
	checker.set(CertificateStatus{}, errors.New("store: closed"))
	clock.advance(11 * time.Second)
	refused("status unavailable", "status unavailable")
	var actions []string
	for _, r := range db.records() {
		actions = append(actions, r.Action+" "+r.Details["reason"])
		if r.Target != fmt.Sprintf("%032x", p.tsa.SerialNumber) {
			t.Errorf("record %d names %q, not the TSA certificate", r.Seq, r.Target)
		}
	}
	if got, want := strings.Join(actions, ","), "tsa.suspend keyCompromise,tsa.resume "; got != want {
		t.Errorf("audit chain: %q, want %q", got, want)
	}
}
