package audit

import (
	"context"
	"crypto"
	"encoding/hex"
	"io"
	"time"
)

// Appender appends events to the chain.
type Appender interface {
	AppendAudit(ctx context.Context, events ...Event) error
}

// Signer wraps a CA key so that every signature it makes is in the chain:
// ActionSignBefore with the digest, then ActionSignAfter with the outcome.
// It is for the uses of a CA key that are not certificate issuance (which
// records both in the same transactions as the certificate): CRLs, OCSP
// responses signed by the CA itself. If the "before" record cannot be
// written, nothing is signed.
type Signer struct {
	crypto.Signer
	Log     Appender
	Purpose string // e.g. "crl issuing-1"; the records' target
	Clock   func() time.Time
}

// Sign records, signs, records.
func (s *Signer) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	now := time.Now
	if s.Clock != nil {
		now = s.Clock
	}
	ctx := context.Background()
	details := map[string]string{"digest": hex.EncodeToString(digest)}
	before := Event{Time: now(), Actor: System, Action: ActionSignBefore, Target: s.Purpose, Outcome: Outcome(nil), Details: details}
	if err := s.Log.AppendAudit(ctx, before); err != nil {
		return nil, err
	}
	sig, err := s.Signer.Sign(rand, digest, opts)
	after := Event{Time: now(), Actor: System, Action: ActionSignAfter, Target: s.Purpose, Outcome: Outcome(err), Details: details}
	if aerr := s.Log.AppendAudit(ctx, after); aerr != nil && err == nil {
		err = aerr
	}
	if err != nil {
		return nil, err
	}
	return sig, nil
}
