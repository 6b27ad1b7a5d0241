package hsm

import (
	"context"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// Check reports whether every token the HSM has opened is usable, for a
// readiness probe: the token is not down, it is logged in, the keys handed
// out from it are bound, and the first of them can still be found in it.
// It signs nothing (a probe must not use a CA key outside the audit trail):
// per token it makes one C_GetSessionInfo and one object search, which is
// what fails on a token whose object store cannot be read. A broken token
// is recovered as after a failed operation, and Check fails until it is
// back. Rate-limit the callers: each call goes to the HSM.
func (h *HSM) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	tokens := make([]*token, 0, len(h.tokens))
	for _, t := range h.tokens {
		tokens = append(tokens, t)
	}
	h.mu.Unlock()
	var errs []error
	for _, t := range tokens {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := t.check(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// check is Check for one token.
func (t *token) check() error {
	t.mu.Lock()
	down := t.failErr
	signers := append([]*signer(nil), t.signers...)
	t.mu.Unlock()
	if down != nil {
		return down
	}
	for _, s := range signers {
		if b := s.cur.Load(); b.err != nil {
			return b.err
		}
	}
	if _, err := t.withAux(); err != nil {
		return fmt.Errorf("hsm: checking token %q: %w", t.ref.token, err)
	}
	err := t.do(func(st *tokenState) error {
		if st.aux == nil {
			return errRawClosed
		}
		if err := st.aux.loggedIn(); err != nil {
			return err
		}
		if len(signers) == 0 {
			return nil
		}
		_, ok, err := st.aux.find(privateKeyTemplate(signers[0].ref))
		if err == nil && !ok {
			err = fmt.Errorf("%w: key %s", errKeyVanished, signers[0].ref.name())
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("hsm: checking token %q: %w", t.ref.token, err)
	}
	return nil
}

// privateKeyTemplate matches the private key ref names.
func privateKeyTemplate(ref keyRef) []*pkcs11.Attribute {
	tmpl := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)}
	if len(ref.id) > 0 {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_ID, ref.id))
	}
	if ref.label != "" {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_LABEL, ref.label))
	}
	return tmpl
}
