package ca

import (
	"context"
	"time"

	"github.com/oces-pki/oces/audit"
)

// CertificateStore is what the CA needs from persistence for certificates.
// Every method that changes state returns only after the change is durable.
type CertificateStore interface {
	// ReserveAudited durably records p, registers p.NewSubject when set,
	// and appends events to the audit chain, all in one transaction. It
	// fails with ErrSerialExists if the serial was ever reserved, on any
	// CA, and with ErrSubjectExists if the new subject's identifier or key
	// is taken; either way nothing is written.
	ReserveAudited(ctx context.Context, p *Prepared, events ...audit.Event) error
	// CompleteAudited durably stores the signed certificate of a reserved
	// serial, marks it good and appends events, in one transaction. It
	// fails with ErrNotFound if the serial is not reserved and ErrConflict
	// if it was completed already.
	CompleteAudited(ctx context.Context, serial Serial, der []byte, issuedAt time.Time, events ...audit.Event) (*Certificate, error)
	// Certificate returns one completed certificate, or ErrNotFound.
	Certificate(ctx context.Context, serial Serial) (*Certificate, error)
	// Certificates lists completed certificates in serial order.
	Certificates(ctx context.Context, q ListQuery) (*CertificatePage, error)
	// UpdateCertificateAudited runs fn on the stored certificate inside one
	// transaction and, if fn returns nil, stores the result together with
	// events. fn may run more than once (a group commit can re-apply it), so
	// it must only change the certificate it is given and must not call the
	// store.
	UpdateCertificateAudited(ctx context.Context, serial Serial, fn func(*Certificate) error, events ...audit.Event) (*Certificate, error)
	// AppendAudit appends events that go with no state change: refusals,
	// failures.
	AppendAudit(ctx context.Context, events ...audit.Event) error
	// CountIssued is how many serials have been reserved for ca.
	CountIssued(ctx context.Context, ca string) (uint64, error)
	// NextCounter durably advances a named counter by n and returns the
	// first value of the range; counters start at 1. The CA draws the
	// sequence numbers that place certificates in CRL partitions from it.
	NextCounter(ctx context.Context, name string, n uint64) (uint64, error)
	// AbandonReservations durably marks every reservation created before
	// before that was never completed (and is not marked yet) as
	// abandoned, appending event(p) for each to the audit chain in the
	// same transaction, and returns them. An abandoned serial is never
	// reused, never completed (CompleteAudited fails with ErrConflict) and
	// not found by Certificate. event may run more than once.
	AbandonReservations(ctx context.Context, before time.Time, event func(*Prepared) audit.Event) ([]*Prepared, error)
}

// ListQuery filters and pages a listing. Empty fields match everything.
type ListQuery struct {
	CA      string
	Profile string
	Status  Status
	After   Serial // exclusive lower bound; zero starts at the beginning
	Limit   int    // at most this many; 0 means the store's default (100)
}

// CertificatePage is one page of a listing. Next is the After of the next
// page, or nil when the listing is complete.
type CertificatePage struct {
	Certificates []*Certificate
	Next         *Serial
}

// RegistryStore reads the subject registry. New subjects are registered
// with their first certificate, through Prepared.NewSubject.
type RegistryStore interface {
	// SubjectByKey finds a subject by its lookup key (for a person, the keyed
	// hash of the CPR number). ErrNotFound if none.
	SubjectByKey(ctx context.Context, kind SubjectKind, key []byte) (*Subject, error)
	// Subject finds a subject by its identifier. ErrNotFound if none.
	Subject(ctx context.Context, id string) (*Subject, error)
}

// SubjectKind tells which registry identifier a subject has.
type SubjectKind string

// Subject kinds, one per OCES identifier.
const (
	KindPerson       SubjectKind = "person"       // PID
	KindEmployee     SubjectKind = "employee"     // RID (OCES2) or UUID (OCES3)
	KindOrganisation SubjectKind = "organisation" // UID (OCES2) or UUID (OCES3)
	KindFunction     SubjectKind = "function"     // FID (OCES2) or UUID (OCES3)
)

// Subject is one entry of the subject registry. A CPR number is never
// stored: Key holds its HMAC under a key that lives in the HSM.
type Subject struct {
	ID      string      `json:"id"` // "PID:9208-2002-2-123456789012", "CVR:12345678-RID:12345678", "UI:DK-E:G:<uuid>"
	Kind    SubjectKind `json:"kind"`
	Key     []byte      `json:"key,omitempty"` // lookup key, e.g. HMAC-SHA256 of the CPR number
	CVR     string      `json:"cvr,omitempty"`
	Name    string      `json:"name,omitempty"`
	Created time.Time   `json:"created"`
}
