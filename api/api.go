// Package api is the admin JSON API under /api/v1/, served over HTTPS with
// client-certificate authentication: CA officers may do everything;
// registration authorities, bound to one CVR number, may enrol and suspend
// employee, organisation and system certificates of that CVR only.
//
// Handlers only decode, authorise, call the CA, map errors and encode; the
// one table of error kinds to HTTP status and exit codes is in errors.go.
package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/internal/conf"
	"github.com/oces-pki/oces/internal/ratelimit"
)

// Authority is what the API needs of the CA.
type Authority interface {
	Issue(ctx context.Context, req ca.IssueRequest) (*ca.Certificate, error)
	Certificate(ctx context.Context, serial ca.Serial) (*ca.Certificate, error)
	Certificates(ctx context.Context, q ca.ListQuery) (*ca.CertificatePage, error)
	Suspend(ctx context.Context, serial ca.Serial, actor audit.Actor) (*ca.Certificate, error)
	Release(ctx context.Context, serial ca.Serial, actor audit.Actor) (*ca.Certificate, error)
	Revoke(ctx context.Context, serial ca.Serial, reason ca.RevocationReason, invalidity time.Time, actor audit.Actor) (*ca.Certificate, error)
	Subject(ctx context.Context, id string) (*ca.Subject, error)
	MatchCPR(ctx context.Context, pid, cpr string) (bool, error)
}

// CRLGenerator forces a CRL run for an issuing CA.
type CRLGenerator interface {
	Generate(ctx context.Context, caName string) error
}

// Auditor appends records to the audit chain. The CA records what it does
// itself (issuance, status changes) in the same transaction as the change;
// the API records what only it sees: refusals by role, registry look-ups,
// forced CRL runs.
type Auditor interface {
	AppendAudit(ctx context.Context, events ...audit.Event) error
}

// Config wires the API.
type Config struct {
	CA     Authority
	CRL    CRLGenerator // optional: enables POST /api/v1/crl/{ca}/generate
	Audit  Auditor      // optional
	Logger *slog.Logger
	// MaxBodyBytes bounds a request body; default 64 KiB.
	MaxBodyBytes int64
	// Signer and Seals enable POST /api/v1/sign for service providers.
	Signer DocumentSigner
	Seals  map[string]*SealAccess
	// AuditLog, when set, serves GET /api/v1/audit/records (auditlog.go).
	AuditLog AuditLog
	// MatchCPR, when set, lets the relying parties it names ask
	// POST /api/v1/subjects/match-cpr (relyingparty.go).
	MatchCPR *RelyingPartyAccess
}

// API is the admin API handler.
type API struct {
	ca       Authority
	crl      CRLGenerator
	audit    Auditor
	log      *slog.Logger
	maxBody  int64
	mux      *http.ServeMux
	signer   DocumentSigner
	seals    map[string]*SealAccess
	logins   loginLimiter // login.go
	rp       *RelyingPartyAccess
	rpLimit  *ratelimit.Limiter
	auditLog AuditLog
}

// New builds the handler. Mount it at the root of the admin listener.
func New(cfg Config) *API {
	a := &API{ca: cfg.CA, crl: cfg.CRL, audit: cfg.Audit, log: cfg.Logger, maxBody: cfg.MaxBodyBytes, mux: http.NewServeMux(),
		signer: cfg.Signer, seals: cfg.Seals, rp: cfg.MatchCPR, auditLog: cfg.AuditLog}
	if a.rp != nil {
		a.rpLimit = ratelimit.New(a.rp.Rate, a.rp.Burst)
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.maxBody <= 0 {
		a.maxBody = 64 << 10
	}
	a.mux.HandleFunc("POST /api/v1/certificates", a.authorised(a.issue))
	a.mux.HandleFunc("GET /api/v1/certificates", a.authorised(a.list))
	a.mux.HandleFunc("GET /api/v1/certificates/{serial}", a.authorised(a.show))
	a.mux.HandleFunc("POST /api/v1/certificates/{serial}/suspend", a.authorised(a.suspend))
	a.mux.HandleFunc("POST /api/v1/certificates/{serial}/release", a.authorised(a.release))
	a.mux.HandleFunc("POST /api/v1/certificates/{serial}/revoke", a.authorised(a.revoke))
	a.mux.HandleFunc("GET /api/v1/subjects/{id}", a.authorised(a.subject))
	a.mux.HandleFunc("POST /api/v1/subjects/match-cpr", a.matchCPREntry)
	a.mux.HandleFunc("GET /api/v1/whoami", a.authorised(a.whoami))
	if a.crl != nil {
		a.mux.HandleFunc("POST /api/v1/crl/{ca}/generate", a.authorised(a.generateCRL))
	}
	if a.signer != nil {
		a.mux.HandleFunc("POST /api/v1/sign", a.sign)
	}
	if a.audit != nil {
		a.mux.HandleFunc("POST /api/v1/audit/events", a.authorised(a.appendEvent))
	}
	if a.auditLog != nil {
		a.mux.HandleFunc("GET /api/v1/audit/records", a.authorised(a.auditRecords))
	}
	return a
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Error is the body of every error response.
type Error struct {
	Error string `json:"error"`
	// Kind names the domain error (the error table in errors.go), so that
	// a client maps the answer back to the same sentinel.
	Kind string `json:"kind,omitempty"`
}

// Sentinels of the API layer.
var (
	ErrUnauthenticated = errors.New("api: a valid client certificate of a CA officer or registration authority is required")
	ErrForbidden       = errors.New("api: forbidden")
	// ErrAuditUnavailable: the audit chain could not take the record of
	// an action, so the action was not done (or its answer not given).
	ErrAuditUnavailable = errors.New("api: the audit chain could not record this action, so it was not done; try again later")
)

var errBadJSON = errors.New("api: malformed JSON body")

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	k := kindOf(err)
	status := k.status
	msg := err.Error()
	if status == http.StatusInternalServerError {
		id := requestID(r)
		a.log.ErrorContext(r.Context(), "api: internal error", "request_id", id, "path", r.URL.Path, "err", err)
		msg = "internal error; the server log has the details under request id " + id
	}
	writeJSON(w, status, Error{Error: msg, Kind: k.kind})
}

func requestID(r *http.Request) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%p%d", r, time.Now().UnixNano()))
	return hex.EncodeToString(sum[:6])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// decode reads a bounded JSON body strictly (conf.DecodeJSON: exact key
// names, no duplicates, valid UTF-8) and checks every field's bound. It is
// the one way handlers read a body.
func (a *API) decode(w http.ResponseWriter, r *http.Request, v bounded) error {
	data, err := a.body(w, r)
	if err != nil {
		return err
	}
	return decodeBody(data, v)
}

// decodeOptional is decode for a body that may be left out: none at all
// is an empty object.
func (a *API) decodeOptional(w http.ResponseWriter, r *http.Request, v bounded) error {
	data, err := a.body(w, r)
	if err != nil || len(bytes.TrimSpace(data)) == 0 {
		return err
	}
	return decodeBody(data, v)
}

// body reads the request body, at most maxBody bytes of it.
func (a *API) body(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: reading the body: %v", errBadJSON, err)
	}
	return data, nil
}

func decodeBody(data []byte, v bounded) error {
	if err := conf.DecodeJSON(data, v); err != nil {
		return fmt.Errorf("%w: %v", errBadJSON, err)
	}
	return checkFields(v.fields()...)
}

// record writes the audit record of an action only the API sees. The
// target is cut to what a record holds (the API bounds its input first).
func (a *API) record(ctx context.Context, p *Principal, action, target string, err error) error {
	if a.audit == nil {
		return nil
	}
	ev := audit.Event{Time: time.Now(), Actor: p.Actor, Action: action, Target: audit.Target(target), Outcome: audit.Outcome(err)}
	if rerr := a.audit.AppendAudit(ctx, ev); rerr != nil {
		a.log.ErrorContext(ctx, "api: writing audit record failed", "action", action, "target", ev.Target, "err", rerr)
		return ErrAuditUnavailable
	}
	return nil
}

// refuse records a refused action and answers the refusal. Nothing
// happened, so a lost record is only logged.
func (a *API) refuse(w http.ResponseWriter, r *http.Request, p *Principal, action, target string, err error) {
	_ = a.record(r.Context(), p, action, target, err)
	a.fail(w, r, err)
}
