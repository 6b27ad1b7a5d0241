package citizen

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/oces-pki/oces/audit"
)

// A service provider's signing request, as NemLog-in's signing client
// runs it: the service provider (authenticated by its client certificate)
// posts a document and a return URL; the citizen logs in at the signing
// address, sees the document, confirms with a fresh one-time code and is
// sent back to the return URL with a one-time reference, for which the
// service provider then fetches the signed document, once. Requests live
// in memory for the retention and no longer.

// Errors of signing requests.
var (
	// ErrRequestNotFound: no such request or reference (or it expired).
	ErrRequestNotFound = errors.New("citizen: no such signing request")
	// ErrRequestGone: the request was cancelled, or its signed document
	// was fetched already.
	ErrRequestGone = errors.New("citizen: the signing request is closed")
)

// Audit actions of signing requests.
const (
	ActionRequestCreate  = "citizen.request.create"
	ActionRequestSign    = "citizen.request.sign"
	ActionRequestCancel  = "citizen.request.cancel"
	ActionRequestCollect = "citizen.request.collect"
)

// RequestState is where a signing request is.
type RequestState string

// States of a signing request.
const (
	RequestPending   RequestState = "pending"
	RequestSigned    RequestState = "signed"
	RequestCancelled RequestState = "cancelled"
	RequestCollected RequestState = "collected"
)

// Auditor appends audit records; a Store is one.
type Auditor interface {
	AppendAudit(ctx context.Context, events ...audit.Event) error
}

// RequestsConfig wires SigningRequests.
type RequestsConfig struct {
	Audit Auditor
	// Retention is how long a request, and its signed document, is kept
	// after it was made; 15 minutes by default.
	Retention time.Duration
	// MaxRequests bounds the requests held at once; 1000 by default.
	MaxRequests int
	Clock       func() time.Time
	Rand        io.Reader
}

// SigningRequests holds the service providers' signing requests. It is
// safe for concurrent use.
type SigningRequests struct {
	cfg  RequestsConfig
	mu   sync.Mutex
	byID map[string]*SigningRequest
	refs map[string]string // reference → request ID
}

// SigningRequest is one request. Document and Signed are shared: do not
// modify them.
type SigningRequest struct {
	ID        string
	Client    string
	Document  []byte
	SHA256    [32]byte
	ReturnURL string
	// UserHint is the user ID the service provider expects; the login
	// page offers it, but it binds nothing: whoever logs in signs.
	UserHint  string
	Created   time.Time
	Expires   time.Time
	State     RequestState
	Reference string
	Signed    []byte
	SignedBy  string
}

// ServiceProvider is the client making a request, with the origins its
// return URLs may have (scheme://host[:port]).
type ServiceProvider struct {
	ID            string
	ReturnOrigins []string
}

// NewRequest is what a service provider posts.
type NewRequest struct {
	Document  []byte
	ReturnURL string
	UserHint  string
}

// NewSigningRequests returns an empty table.
func NewSigningRequests(cfg RequestsConfig) *SigningRequests {
	if cfg.Retention <= 0 {
		cfg.Retention = 15 * time.Minute
	}
	if cfg.MaxRequests <= 0 {
		cfg.MaxRequests = 1000
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	return &SigningRequests{cfg: cfg, byID: map[string]*SigningRequest{}, refs: map[string]string{}}
}

// Create checks the return URL against the provider's origins and stores
// a pending request for the document.
func (t *SigningRequests) Create(ctx context.Context, sp ServiceProvider, req NewRequest) (*SigningRequest, error) {
	if len(req.Document) == 0 {
		return nil, fmt.Errorf("%w: the document is empty", ErrInvalidRequest)
	}
	if err := checkReturnURL(req.ReturnURL, sp.ReturnOrigins); err != nil {
		return nil, err
	}
	if req.UserHint != "" {
		if err := checkUserID(req.UserHint); err != nil {
			return nil, fmt.Errorf("%w (user_hint)", err)
		}
	}
	id, err := t.token()
	if err != nil {
		return nil, err
	}
	now := t.cfg.Clock()
	r := &SigningRequest{ID: id, Client: sp.ID, Document: req.Document, SHA256: sha256.Sum256(req.Document),
		ReturnURL: req.ReturnURL, UserHint: req.UserHint, Created: now, Expires: now.Add(t.cfg.Retention), State: RequestPending}
	t.mu.Lock()
	t.sweepLocked(now)
	if len(t.byID) >= t.cfg.MaxRequests {
		t.mu.Unlock()
		return nil, fmt.Errorf("citizen: too many open signing requests; retry in a minute")
	}
	t.byID[id] = r
	t.mu.Unlock()
	t.record(ctx, ActionRequestCreate, "service provider "+sp.ID, r, nil)
	out := *r
	return &out, nil
}

// checkReturnURL wants an absolute http(s) URL without user info or
// fragment whose origin is one of origins.
func checkReturnURL(raw string, origins []string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || !plainHost(u.Host) || u.User != nil || u.Fragment != "" || len(raw) > 2048 {
		return fmt.Errorf("%w: return_url must be an absolute http(s) URL without user info or fragment, at most 2048 bytes", ErrInvalidRequest)
	}
	origin := strings.ToLower(u.Scheme + "://" + u.Host)
	for _, o := range origins {
		if strings.ToLower(strings.TrimRight(o, "/")) == origin {
			return nil
		}
	}
	return fmt.Errorf("%w: return_url's origin %s is not one this service provider registered", ErrInvalidRequest, origin)
}

// plainHost reports whether host is a DNS name or an IP address, with an
// optional port: nothing that could mean more where the origin is written
// (a Content-Security-Policy, a Location header).
func plainHost(host string) bool {
	if host == "" || len(host) > 262 {
		return false
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-:[]", r)) {
			return false
		}
	}
	return true
}

// Pending returns a pending request by ID, for the signing page.
func (t *SigningRequests) Pending(id string) (*SigningRequest, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.byID[id]
	if !ok || !t.cfg.Clock().Before(r.Expires) {
		return nil, ErrRequestNotFound
	}
	if r.State != RequestPending {
		return nil, ErrRequestGone
	}
	out := *r
	return &out, nil
}

// Complete records the signed document of a pending request, signed by
// userID, and returns the address to send the citizen back to: the return
// URL with status=signed and a one-time reference.
func (t *SigningRequests) Complete(ctx context.Context, id, userID string, signed []byte) (string, error) {
	return t.close(ctx, id, userID, signed, RequestSigned)
}

// Cancel closes a pending request the citizen refused and returns the
// address to send them back to, with status=cancelled.
func (t *SigningRequests) Cancel(ctx context.Context, id, userID string) (string, error) {
	return t.close(ctx, id, userID, nil, RequestCancelled)
}

func (t *SigningRequests) close(ctx context.Context, id, userID string, signed []byte, state RequestState) (string, error) {
	ref, err := t.token()
	if err != nil {
		return "", err
	}
	t.mu.Lock()
	r, ok := t.byID[id]
	switch {
	case !ok || !t.cfg.Clock().Before(r.Expires):
		t.mu.Unlock()
		return "", ErrRequestNotFound
	case r.State != RequestPending:
		t.mu.Unlock()
		return "", ErrRequestGone
	}
	r.State, r.Reference, r.Signed, r.SignedBy = state, ref, signed, userID
	t.refs[ref] = id
	back := r.ReturnURL
	t.mu.Unlock()
	action := ActionRequestSign
	if state == RequestCancelled {
		action = ActionRequestCancel
	}
	t.record(ctx, action, "citizen "+userID, r, nil)
	u, _ := url.Parse(back) // checked at Create
	q := u.Query()
	q.Set("status", string(state))
	q.Set("reference", ref)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Collect hands the service provider clientID the signed document of a
// reference, once: after that, and for a cancelled request, it is
// ErrRequestGone; for another provider's or an unknown reference,
// ErrRequestNotFound. The document is dropped from memory when collected.
func (t *SigningRequests) Collect(ctx context.Context, clientID, reference string) (*SigningRequest, error) {
	t.mu.Lock()
	id, ok := t.refs[reference]
	r := t.byID[id]
	if !ok || r == nil || !t.cfg.Clock().Before(r.Expires) || subtle.ConstantTimeCompare([]byte(r.Client), []byte(clientID)) != 1 {
		t.mu.Unlock()
		return nil, ErrRequestNotFound
	}
	if r.State != RequestSigned {
		t.mu.Unlock()
		return nil, fmt.Errorf("%w: it is %s", ErrRequestGone, r.State)
	}
	out := *r
	r.State, r.Signed, r.Document = RequestCollected, nil, nil
	t.mu.Unlock()
	t.record(ctx, ActionRequestCollect, "service provider "+clientID, &out, nil)
	return &out, nil
}

// Sweep forgets requests past their retention; it returns how many went.
func (t *SigningRequests) Sweep() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sweepLocked(t.cfg.Clock())
}

func (t *SigningRequests) sweepLocked(now time.Time) int {
	n := 0
	for id, r := range t.byID {
		if !now.Before(r.Expires) {
			delete(t.byID, id)
			if r.Reference != "" {
				delete(t.refs, r.Reference)
			}
			n++
		}
	}
	return n
}

// Len is the number of requests held.
func (t *SigningRequests) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID)
}

// token draws 256 random bits, base64url.
func (t *SigningRequests) token() (string, error) {
	var b [32]byte
	if _, err := io.ReadFull(t.cfg.Rand, b[:]); err != nil {
		return "", fmt.Errorf("citizen: reading randomness: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// record audits a step of a request; the document is named by its digest.
func (t *SigningRequests) record(ctx context.Context, action, actor string, r *SigningRequest, err error) {
	if t.cfg.Audit == nil {
		return
	}
	ev := audit.Event{Time: t.cfg.Clock(), Actor: audit.Actor{Subject: actor}, Action: action, Target: audit.Target("request " + r.ID[:8]),
		Outcome: audit.Outcome(err), Details: map[string]string{"client": r.Client, "document_sha256": hex.EncodeToString(r.SHA256[:])}}
	_ = t.cfg.Audit.AppendAudit(ctx, ev)
}
