// Package citizen is the citizens' sole control over their signing keys:
// enrolment, the password, the code card and the code app, lockout, and the
// NSIS assurance level of a session; and the signing keys held under it.
//
// Authentication follows the two-factor pattern of NemID and MitID, mapped
// onto the Danish NSIS levels (Nationale Standard for Identiteters
// Sikringsniveauer, after eIDAS Implementing Regulation (EU) 2015/1502):
// a password alone gives a session at level low; a password and a
// one-time code from a possession factor (a code card key, or an RFC 6238
// TOTP from the code app) give level substantial, which signing needs.
//
// Secrets are never kept in the clear:
//   - the password is stretched with argon2id (RFC 9106; m=19 MiB, t=2,
//     p=1, 16-byte salt) over an HMAC-SHA256 of it under a pepper key that
//     lives in the HSM, so a copy of the store alone cannot be attacked
//     offline;
//   - each code card code is stored as an HMAC-SHA256 under a key in the
//     HSM, with a salt of its own;
//   - the CPR number reaches only the subject registry's keyed hash.
//
// Every login, failure, lock and support action is in the audit chain,
// written in the same transaction as the change it records. Failures are
// answered with ErrAuthFailed whether the user exists or not.
package citizen

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
)

// Sentinels; one table in each transport maps them to a status.
var (
	// ErrAuthFailed: wrong user ID, password or code, or an account that
	// is locked or over its hourly failures. The same error whether the
	// user exists or not, and whatever the lock: a different answer during
	// a lock would tell an attacker that the account exists.
	ErrAuthFailed = errors.New("citizen: wrong user ID, password or code")
	// ErrCardSuspended: the code card is suspended after wrong codes; ask
	// support for a new card.
	ErrCardSuspended = errors.New("citizen: the code card is suspended")
	// ErrSuspended: support suspended the account.
	ErrSuspended = errors.New("citizen: the account is suspended")
	// ErrInvalidRequest: the request itself is wrong.
	ErrInvalidRequest = errors.New("citizen: invalid request")
	// ErrNotFound: no such citizen (support commands only; logins say ErrAuthFailed).
	ErrNotFound = errors.New("citizen: not found")
	// ErrExists: the person or the user ID is enrolled already.
	ErrExists = errors.New("citizen: already enrolled")
	// ErrLevel: the session's NSIS level is too low for the operation, or
	// the session is unknown or expired.
	ErrLevel = errors.New("citizen: the session's assurance level is too low")
	// ErrPasswordChange: the initial password must be changed first.
	ErrPasswordChange = errors.New("citizen: the initial password must be changed first")
)

// Audit actions.
const (
	ActionEnrol          = "citizen.enrol"
	ActionLogin          = "citizen.login"          // a factor accepted: details say which and the level
	ActionLoginFail      = "citizen.login.fail"     // a factor refused
	ActionLock           = "citizen.lock"           // a temporary or permanent lock
	ActionCardSuspend    = "citizen.card.suspend"   // too many wrong codes
	ActionCardNew        = "citizen.card.new"       // support issued a new code card
	ActionUnlock         = "citizen.unlock"         // support lifted the locks
	ActionSuspend        = "citizen.suspend"        // support suspended the account
	ActionPasswordReset  = "citizen.password.reset" // support set a new initial password
	ActionPasswordChange = "citizen.password.change"
	ActionAppActivate    = "citizen.app.activate"
	ActionSignConfirm    = "citizen.sign.confirm" // a signature confirmed with a one-time code
)

// Store keeps citizen records. Each method returns once the change and its
// audit records are durable in one transaction.
type Store interface {
	// CreateCitizen stores a new citizen, registers subject when it is not
	// nil, and appends events. ErrExists if the user ID or the PID is taken.
	CreateCitizen(ctx context.Context, c *Citizen, subject *ca.Subject, events ...audit.Event) error
	// Citizen returns a citizen by user ID, or ErrNotFound.
	Citizen(ctx context.Context, userID string) (*Citizen, error)
	// UpdateCitizen runs fn on the stored record and stores the result with
	// the events fn returns. fn may run more than once and must touch only
	// its argument. ErrNotFound if there is no such citizen.
	UpdateCitizen(ctx context.Context, userID string, fn func(*Citizen) ([]audit.Event, error)) (*Citizen, error)
	// AppendAudit appends events that go with no change.
	AppendAudit(ctx context.Context, events ...audit.Event) error
}

// Registry draws a citizen's PID from the CA's subject registry; *ca.CA
// implements it.
type Registry interface {
	ResolvePerson(ctx context.Context, name, cpr string) (*ca.Subject, bool, error)
}

// Keys are the HSM operations sole control needs; *hsm.HSM implements it.
type Keys interface {
	MAC(ctx context.Context, keyURI string, data []byte) ([]byte, error)
}

// Config wires a Service.
type Config struct {
	Store    Store
	Registry Registry
	Keys     Keys
	// PepperKey is the HSM secret the password is peppered with; CodeKey
	// the one the code card codes are hashed under (RFC 7512 URIs).
	PepperKey, CodeKey string
	// Sealer and AppKey seal the code app's seeds; without them the code
	// app cannot be activated.
	Sealer Sealer
	AppKey string
	Policy Policy
	Argon2 Argon2Params // DefaultArgon2 when zero
	Clock  func() time.Time
	Rand   io.Reader
	Logger *slog.Logger
}

// Service is citizens' sole control. It is safe for concurrent use.
type Service struct {
	store    Store
	registry Registry
	keys     Keys
	pepper   string
	codeKey  string
	sealer   Sealer
	appKey   string
	policy   Policy
	argon    Argon2Params
	now      func() time.Time
	rand     io.Reader
	log      *slog.Logger
	sessions *sessions
	sads     sads
	signing  *Signing
	keyLocks sync.Map      // user ID -> *sync.Mutex, for long-term key creation
	dummy    *PasswordHash // verified against for unknown users, so they cost the same
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Keys == nil {
		return nil, errors.New("citizen: a store and the HSM keys are required")
	}
	if cfg.PepperKey == "" || cfg.CodeKey == "" {
		return nil, errors.New("citizen: the pepper key and the code card key are required")
	}
	if cfg.Policy == (Policy{}) {
		cfg.Policy = DefaultPolicy()
	}
	if err := cfg.Policy.Validate(); err != nil {
		return nil, err
	}
	if cfg.Argon2 == (Argon2Params{}) {
		cfg.Argon2 = DefaultArgon2
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		store: cfg.Store, registry: cfg.Registry, keys: cfg.Keys, pepper: cfg.PepperKey, codeKey: cfg.CodeKey,
		sealer: cfg.Sealer, appKey: cfg.AppKey,
		policy: cfg.Policy, argon: cfg.Argon2, now: cfg.Clock, rand: cfg.Rand, log: cfg.Logger,
	}
	s.sessions = newSessions(cfg.Policy.SessionTTL, cfg.Policy.MaxSessions)
	s.sads.m = make(map[string]*SAD)
	dummy := make([]byte, 16)
	if _, err := io.ReadFull(s.rand, dummy); err != nil {
		return nil, fmt.Errorf("citizen: reading randomness: %w", err)
	}
	s.dummy = &PasswordHash{Salt: dummy, Hash: make([]byte, 32), Params: s.argon}
	return s, nil
}

// Status of an account as support sees it.
type Status string

// Account states.
const (
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended"
)

// Citizen is one enrolled person. It holds no secret in the clear.
type Citizen struct {
	UserID string `json:"user_id"`
	PID    string `json:"pid"`
	// UUID is the person's OCES3 identifier, the <uuid> of
	// serialNumber=UI:DK-P:G:<uuid> in one-time qualified certificates.
	UUID    string    `json:"uuid"`
	Name    string    `json:"name"`
	Status  Status    `json:"status"`
	Created time.Time `json:"created"`

	Password           PasswordHash `json:"password"`
	MustChangePassword bool         `json:"must_change_password,omitempty"`
	Card               *CodeCard    `json:"card,omitempty"`
	App                *CodeApp     `json:"app,omitempty"`
	LongTerm           *LongTermKey `json:"long_term,omitempty"`
	Lock               Lockout      `json:"lock"`
	// Certificates are the serials of the citizen's certificates, newest last.
	Certificates []string `json:"certificates,omitempty"`
	// CardOrdered is when the citizen ordered a new code card, until
	// support issues it (NewCard); zero when none is pending.
	CardOrdered time.Time `json:"card_ordered,omitzero"`
}

// event is an audit record about the citizen with user ID target.
func (s *Service) event(action, target string, err error, details map[string]string) audit.Event {
	return audit.Event{Time: s.now(), Actor: audit.System, Action: action, Target: audit.Target(target), Outcome: audit.Outcome(err), Details: details}
}

// readRandom fills b from the service's randomness.
func (s *Service) readRandom(b []byte) error {
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return fmt.Errorf("citizen: reading randomness: %w", err)
	}
	return nil
}
