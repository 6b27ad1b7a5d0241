package audit

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Actions recorded by OCES PKI. An Action is lower-case letters, digits,
// dots, hyphens and underscores; other services may add their own.
const (
	ActionCertIssue   = "cert.issue"
	ActionCertSuspend = "cert.suspend"
	ActionCertRelease = "cert.release"
	ActionCertRevoke  = "cert.revoke"
	ActionSignBefore  = "ca.sign.before" // a CA key is about to sign
	ActionSignAfter   = "ca.sign.after"  // a CA key signed, or failed to
	ActionCRLSign     = "crl.sign"
	ActionOCSPSign    = "ocsp.sign"
	ActionCeremony    = "ca.ceremony"
	ActionCRLGenerate = "crl.generate"       // an officer forces a CRL run
	ActionMatchCPR    = "registry.match-cpr" // an officer or relying party asks whether a PID belongs to a CPR number
	// The admin API records what only it sees: a refused listing or
	// registry look-up, and a client certificate it would not accept.
	ActionCertList     = "cert.list"
	ActionSubjectShow  = "registry.show"
	ActionLoginRefused = "api.login-refused"
	ActionAuditExport  = "audit.export" // an officer starts reading the chain through the admin API
	// The OCSP responder retires a key whose certificate is no longer
	// good, switches to a new key and certificate, and re-signs every
	// pre-signed response with it.
	ActionOCSPRetire = "ocsp.responder.retire"
	ActionOCSPRotate = "ocsp.responder.rotate"
	ActionOCSPResign = "ocsp.responder.resign"
	// The TSA stops granting time-stamps because its certificate is not
	// good, and resumes when it is good again.
	ActionTSASuspend   = "tsa.suspend"
	ActionTSAResume    = "tsa.resume"
	ActionCheckpoint   = "audit.checkpoint" // written by the Checkpointer only
	OutcomeOK          = "ok"
	systemSubject      = "system"
	maxActionLen       = 64
	maxSubjectLen      = 1024
	maxTargetLen       = 256
	maxOutcomeLen      = 1024
	maxDetails         = 16
	maxDetailKeyLen    = 64
	maxDetailValueLen  = 1024
	maxCheckpointField = 16 << 10
)

// Hash is a SHA-256 value: a record's hash or its Prev.
type Hash [sha256.Size]byte

// String is the hash in lower-case hexadecimal.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Actor is who did something: an officer, named by the SHA-256 fingerprint
// and the subject of the certificate that authenticated them, or the
// service itself (System).
type Actor struct {
	Fingerprint Hash   // SHA-256 of the certificate's DER; zero for System
	Subject     string // the certificate's subject, or "system"
}

// System is the service itself, acting on its own schedule.
var System = Actor{Subject: systemSubject}

// ActorOf names the holder of an officer certificate.
func ActorOf(cert *x509.Certificate) Actor {
	return Actor{Fingerprint: sha256.Sum256(cert.Raw), Subject: cert.Subject.String()}
}

// String is "system" or "<subject> (sha256:<fingerprint>)".
func (a Actor) String() string {
	if a.Fingerprint == (Hash{}) {
		return a.Subject
	}
	return fmt.Sprintf("%s (sha256:%s)", a.Subject, a.Fingerprint)
}

// Event is what a caller records: something that happened, who did it, to
// what, and how it ended.
type Event struct {
	Time    time.Time // from the caller's injected clock; stored in UTC
	Actor   Actor
	Action  string            // e.g. "cert.revoke"; see the Action constants
	Target  string            // what was acted on: a serial, a CA name, …
	Outcome string            // "ok", or the error text (see Outcome)
	Details map[string]string // optional, small: at most 16 entries
	// Checkpoint is set on checkpoint records only (Action
	// "audit.checkpoint"), by the Checkpointer.
	Checkpoint *Checkpoint
}

// Checkpoint is the audit key's signature over one earlier record.
type Checkpoint struct {
	Seq       uint64 // the record signed
	Hash      Hash   // that record's hash
	Signature []byte // over CheckpointMessage(Seq, Hash, the checkpoint record's Time)
	// PublicKey is the audit key (PKIX DER), and Certificate its
	// certificate (DER) if one is configured; both are recorded in the first
	// checkpoint and may be empty in later ones.
	PublicKey   []byte
	Certificate []byte
}

// Record is an Event in its place in the chain.
type Record struct {
	Seq uint64
	Event
	Prev Hash // Hash of record Seq-1; zero for record 1
	Hash Hash // SHA-256 of the canonical encoding; see the package documentation
}

// Head is the end of a chain, as a store reports it.
type Head struct {
	Seq  uint64 // the newest record; 0 for an empty chain
	Hash Hash   // its Hash; zero for an empty chain
	// CheckpointSeq is the newest checkpoint record (0 if none),
	// CheckpointCovers the record it signs and CheckpointTime its time.
	CheckpointSeq    uint64
	CheckpointCovers uint64
	CheckpointTime   time.Time
}

// Outcome is "ok" for a nil error and the error's text otherwise, cut to
// the longest length a record accepts.
func Outcome(err error) string {
	if err == nil {
		return OutcomeOK
	}
	return truncate(err.Error(), maxOutcomeLen)
}

// Target cuts s to the longest target a record accepts, ending a cut with
// "…", so that a record naming what a caller sent (a refused request's
// profile, say) can always be written. Callers bound their input first;
// this is the backstop.
func Target(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= maxTargetLen {
		return s
	}
	return truncate(s, maxTargetLen-len("…")) + "…"
}

func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Next chains ev after head: it checks ev and returns record head.Seq+1
// with its Prev and Hash. A store calls it inside the transaction that
// appends the record, with the head read in that transaction.
func Next(head Head, ev Event) (*Record, error) {
	if err := ev.Validate(); err != nil {
		return nil, err
	}
	if head.Seq == ^uint64(0) {
		return nil, errors.New("audit: sequence numbers exhausted")
	}
	ev.Time = ev.Time.UTC()
	ev.Details = cloneDetails(ev.Details)
	if ev.Checkpoint != nil {
		cp := *ev.Checkpoint
		ev.Checkpoint = &cp
	}
	r := &Record{Seq: head.Seq + 1, Event: ev, Prev: head.Hash}
	r.Hash = r.ComputeHash()
	return r, nil
}

func cloneDetails(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Validate checks that ev can be recorded: a time, an actor, an action and
// an outcome, all valid UTF-8 and within their length limits.
func (ev *Event) Validate() error {
	if ev.Time.IsZero() {
		return fmt.Errorf("audit: event %q has no time", ev.Action)
	}
	if err := checkAction(ev.Action); err != nil {
		return err
	}
	fields := []struct {
		name, value string
		max         int
		required    bool
	}{
		{"actor subject", ev.Actor.Subject, maxSubjectLen, true},
		{"target", ev.Target, maxTargetLen, false},
		{"outcome", ev.Outcome, maxOutcomeLen, true},
	}
	for _, f := range fields {
		if err := checkText(ev.Action, f.name, f.value, f.max, f.required); err != nil {
			return err
		}
	}
	if len(ev.Details) > maxDetails {
		return fmt.Errorf("audit: event %s: %d details, at most %d", ev.Action, len(ev.Details), maxDetails)
	}
	for k, v := range ev.Details {
		if err := checkText(ev.Action, "detail key", k, maxDetailKeyLen, true); err != nil {
			return err
		}
		if err := checkText(ev.Action, "detail "+k, v, maxDetailValueLen, false); err != nil {
			return err
		}
	}
	return ev.checkCheckpoint()
}

func (ev *Event) checkCheckpoint() error {
	if (ev.Action == ActionCheckpoint) != (ev.Checkpoint != nil) {
		return fmt.Errorf("audit: event %s: only %s events carry a checkpoint, and they must", ev.Action, ActionCheckpoint)
	}
	cp := ev.Checkpoint
	if cp == nil {
		return nil
	}
	if cp.Seq == 0 || len(cp.Signature) == 0 {
		return errors.New("audit: checkpoint needs a record and a signature")
	}
	if len(cp.Signature) > maxCheckpointField || len(cp.PublicKey) > maxCheckpointField || len(cp.Certificate) > maxCheckpointField {
		return errors.New("audit: checkpoint signature, key or certificate too large")
	}
	return nil
}

func checkAction(a string) error {
	if a == "" || len(a) > maxActionLen {
		return fmt.Errorf("audit: action %q must be 1 to %d characters", a, maxActionLen)
	}
	for _, r := range a {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return fmt.Errorf("audit: action %q may hold only lower-case letters, digits, '.', '-' and '_'", a)
		}
	}
	return nil
}

func checkText(action, name, v string, max int, required bool) error {
	switch {
	case required && v == "":
		return fmt.Errorf("audit: event %s: %s is required", action, name)
	case len(v) > max:
		return fmt.Errorf("audit: event %s: %s is %d bytes, at most %d", action, name, len(v), max)
	case !utf8.ValidString(v):
		return fmt.Errorf("audit: event %s: %s is not valid UTF-8", action, name)
	}
	return nil
}
