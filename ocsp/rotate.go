package ocsp

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
)

// Retiring a responder key. A delegated responder certificate carries
// id-pkix-ocsp-nocheck, so relying parties never ask whether it is revoked
// (RFC 6960 section 4.2.2.2.1): once the CA revokes it, the only protection
// is that the responder stops using it. When any certificate of the
// current key is revoked or suspended, whatever the reason:
//
//  1. the key is retired at once: responses it signed are no longer
//     served, and it signs nothing more; queries are answered on demand
//     with the new key, or tryLater while there is none;
//  2. the rotation is recorded in the audit chain; if it cannot be, no key
//     is made, and Run tries again;
//  3. the next generation of the key is made in the HSM (a new label, see
//     keyURI) and the CA issues its certificate;
//  4. the new key becomes current, and every pre-signed response is signed
//     again with it by a sweep that starts at once; its end is recorded in
//     the audit chain too.
//
// The responder learns of the revocation from the CA's status change
// (StatusChanged) in the same process, and from the store on every tick of
// Run (checkResponders), which covers a revocation made by another process
// on a shared store. A retired key is never used again, also after a
// restart: loadResponder asks the store.

// Auditor appends records to the audit chain; the bolt store satisfies it.
type Auditor interface {
	AppendAudit(ctx context.Context, events ...audit.Event) error
}

// keyState is shared by every signingKey of one HSM key.
type keyState struct {
	retired atomic.Bool
}

var errRetired = errors.New("ocsp: the responder key is retired and no new one is ready yet")

// samePublicKey reports whether a and b are the same public key.
func samePublicKey(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// retire retires the current key of iss if c, a responder certificate that
// is not good, is one of its certificates. It reports whether the key is
// retired now (by this call or before).
func (r *Responder) retire(ctx context.Context, iss *issuer, c *ca.Certificate) bool {
	k := iss.current.Load()
	x, err := c.X509()
	if err != nil || !samePublicKey(k.signer.Public(), x.PublicKey) {
		return false
	}
	if k.key.state.retired.Swap(true) {
		return true
	}
	r.log.ErrorContext(ctx, "ocsp: a responder certificate is no longer good; its key signs nothing more", "ca", iss.name,
		"certificate", c.Serial.String(), "status", c.Status, "reason", c.Reason, "key", keyLabel(k.key.uri))
	r.audit(ctx, audit.ActionOCSPRetire, c.Serial.String(), map[string]string{
		"ca": iss.name, "key": keyLabel(k.key.uri), "status": string(c.Status), "reason": string(c.Reason),
	})
	return true
}

// rotate replaces the retired current key of iss by the next generation
// that is not retired, with a new certificate, and starts a sweep that
// signs every response again. It does nothing if the current key is not
// retired (another call rotated already).
func (r *Responder) rotate(ctx context.Context, iss *issuer) error {
	iss.rotateMu.Lock()
	defer iss.rotateMu.Unlock()
	old := iss.current.Load()
	if !old.key.state.retired.Load() {
		return nil
	}
	// 2. Audit first: no key is made that the chain does not know of.
	details := map[string]string{"ca": iss.name, "retired_key": keyLabel(old.key.uri),
		"retired_certificate": serialOf(old), "algorithm": r.keyAlgorithm()}
	if err := r.auditErr(ctx, audit.ActionOCSPRotate, iss.name, details); err != nil {
		return fmt.Errorf("ocsp: not rotating the responder key of %s, as the audit chain cannot record it: %w", iss.name, err)
	}
	// 3. The next generation whose certificates are all good (normally a
	//    new key; one made by another host meanwhile is taken over).
	var k *signingKey
	for gen := old.key.gen + 1; ; gen++ {
		if gen > maxKeyGenerations {
			return fmt.Errorf("ocsp: %s has used %d responder keys; no more are made", iss.name, maxKeyGenerations)
		}
		key, err := r.openOrGenerate(ctx, iss, gen)
		if err != nil {
			return err
		}
		best, retired, err := r.responderCerts(ctx, iss, key)
		if err != nil {
			return err
		}
		if retired != nil {
			continue
		}
		if k, err = r.certify(ctx, iss, key, best); err != nil {
			return err
		}
		break
	}
	// 4. Switch, and sign everything again.
	iss.current.Store(k)
	iss.resign.Store(true)
	r.log.WarnContext(ctx, "ocsp: switched to a new responder key; re-signing every response", "ca", iss.name,
		"key", keyLabel(k.key.uri), "certificate", serialOf(k), "retired_key", keyLabel(old.key.uri))
	select {
	case r.kick <- struct{}{}:
	default:
	}
	return nil
}

// openOrGenerate opens generation gen of the issuer's key, or makes it.
func (r *Responder) openOrGenerate(ctx context.Context, iss *issuer, gen int) (*hsmKey, error) {
	uri := keyURI(iss.keyURI, iss.name, gen)
	signer, err := r.cfg.Keys.Signer(ctx, uri)
	switch {
	case err == nil:
		return &hsmKey{gen: gen, uri: uri, signer: signer, state: &keyState{}}, nil
	case errors.Is(err, ErrKeyNotFound):
		return r.generateKey(ctx, iss, gen)
	}
	return nil, fmt.Errorf("ocsp: opening responder key %s of %s: %w", keyLabel(uri), iss.name, err)
}

func serialOf(k *signingKey) string {
	s, err := ca.SerialFromBig(k.cert.SerialNumber)
	if err != nil {
		return k.cert.SerialNumber.Text(16)
	}
	return s.String()
}

// checkResponders reads from the store the status of every certificate
// of each issuer's current key, and retires and rotates a key one of whose
// certificates is no longer good: a revocation made by another process on
// a shared store reaches the responder this way. It reads the few records
// by serial (the key's certificates, noted as they are found or issued),
// never scanning the store.
func (r *Responder) checkResponders(ctx context.Context) error {
	var errs []error
	for _, iss := range r.issuers {
		k := iss.current.Load()
		if k.key.state.retired.Load() {
			continue // renewDue rotates it
		}
		for _, s := range k.key.certificates() {
			c, err := r.cfg.Source.Certificate(ctx, s)
			if err != nil {
				errs = append(errs, fmt.Errorf("ocsp: reading responder certificate %s of %s: %w", s, iss.name, err))
				continue
			}
			if c.Status != ca.StatusGood && r.retire(ctx, iss, c) {
				errs = append(errs, r.rotate(ctx, iss))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// resigned records, after a sweep that began with iss's current key, that
// every response of iss is signed with the key a rotation made.
func (r *Responder) resigned(ctx context.Context, iss *issuer, k *signingKey, count int64) {
	if iss.current.Load() != k || k.key.state.retired.Load() || !iss.resign.CompareAndSwap(true, false) {
		return
	}
	r.log.InfoContext(ctx, "ocsp: every response is signed with the new responder key", "ca", iss.name,
		"key", keyLabel(k.key.uri), "responses", count)
	r.audit(ctx, audit.ActionOCSPResign, iss.name, map[string]string{
		"ca": iss.name, "key": keyLabel(k.key.uri), "certificate": serialOf(k), "responses": strconv.FormatInt(count, 10),
	})
}

// auditErr appends one event of the responder (the service itself).
func (r *Responder) auditErr(ctx context.Context, action, target string, details map[string]string) error {
	if r.cfg.Audit == nil {
		return nil
	}
	ev := audit.Event{Time: r.now(), Actor: audit.System, Action: action, Target: audit.Target(target),
		Outcome: audit.OutcomeOK, Details: details}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return r.cfg.Audit.AppendAudit(ctx, ev)
}

// audit is auditErr for records whose loss is only logged: the action
// (retiring a key, finishing a sweep) is done and must stay done.
func (r *Responder) audit(ctx context.Context, action, target string, details map[string]string) {
	if err := r.auditErr(ctx, action, target, details); err != nil {
		r.log.ErrorContext(ctx, "ocsp: writing audit record failed", "action", action, "target", target, "err", err)
	}
}
