// Package hsm owns every private key of the PKI. Keys live in PKCS#11 tokens
// (OASIS PKCS#11 Cryptographic Token Interface Base Specification v2.40) and
// are named by PKCS#11 URIs as defined in RFC 7512, for example
//
//	pkcs11:module-path=/usr/lib/softhsm/libsofthsm2.so;token=oces-dev;object=issuing-ca-1?pin-source=/etc/oces/pin
//
// Outside this package a key is only a crypto.Signer. The package
// generates keys inside the token (CKA_SENSITIVE true, CKA_EXTRACTABLE
// false, CKA_TOKEN true), looks each key up once and caches its handle,
// pools sessions per token (max-sessions URI attribute), and recovers from a
// lost session, a lost login, a stale handle or a re-initialised module by
// reopening the token once and retrying, without a process restart. If that
// reopen fails the token is down: its operations fail at once while it is
// reopened in the background at growing intervals (100 ms doubling to 5 s),
// re-initialising the module (C_Finalize, C_Initialize) when a plain reopen
// does not do, as SoftHSM needs after the process ran out of file
// descriptors. A PIN the token refuses is not retried. Reopening excludes
// every call into the same module (see module), so recovery never pulls a
// session from under a signature in flight. Check tells a readiness probe
// whether the tokens are usable.
//
// The PIN comes from the file named by the URI's pin-source attribute or
// from the OCES_HSM_PIN environment variable; a literal pin-value is refused.
//
// Asymmetric keys go through go.step.sm/crypto/kms/pkcs11; HMAC-SHA256
// secrets (used to keep CPR numbers only as keyed hashes) through
// github.com/ThalesGroup/crypto11. Both share one initialised module per
// module path (crypto11 reference-counts module instances).
package hsm

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"go.step.sm/crypto/kms/apiv1"
)

var (
	// ErrKeyExists is returned by GenerateKey and GenerateSecret when an
	// object with the requested label or id is already in the token.
	ErrKeyExists = errors.New("hsm: key already exists")
	// ErrKeyNotFound is returned when the URI names no key in the token.
	ErrKeyNotFound = errors.New("hsm: key not found")
	// ErrTokenNotFound is returned when no token has the URI's label.
	ErrTokenNotFound = errors.New("hsm: token not found")
	// ErrPINValue is returned for a key URI that carries a literal PIN.
	ErrPINValue = errors.New("hsm: key uri carries pin-value; put the PIN in a file named by pin-source=/path or in the " + EnvPIN + " environment variable")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("hsm: closed")
)

// KeyAlgorithm is the type and size of a generated key pair.
type KeyAlgorithm int

// Supported key algorithms.
const (
	RSA2048 KeyAlgorithm = iota + 1
	RSA3072
	RSA4096
	ECP256
	ECP384
)

var keyAlgorithmNames = map[KeyAlgorithm]string{
	RSA2048: "rsa-2048", RSA3072: "rsa-3072", RSA4096: "rsa-4096", ECP256: "p-256", ECP384: "p-384",
}

// String returns the configuration name, e.g. "rsa-3072" or "p-256".
func (a KeyAlgorithm) String() string {
	if s, ok := keyAlgorithmNames[a]; ok {
		return s
	}
	return fmt.Sprintf("KeyAlgorithm(%d)", int(a))
}

// ParseKeyAlgorithm parses a configuration name: rsa-2048, rsa-3072,
// rsa-4096, p-256 or p-384 (case-insensitive; ecdsa-p256 and ecdsa-p384 are
// accepted too).
func ParseKeyAlgorithm(s string) (KeyAlgorithm, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	name = strings.TrimPrefix(name, "ecdsa-")
	if name == "p256" || name == "p384" {
		name = name[:1] + "-" + name[1:]
	}
	for a, n := range keyAlgorithmNames {
		if n == name {
			return a, nil
		}
	}
	return 0, fmt.Errorf("hsm: unknown key algorithm %q; use one of rsa-2048, rsa-3072, rsa-4096, p-256, p-384", s)
}

// createKeyRequest maps the algorithm onto step's CreateKeyRequest.
func (a KeyAlgorithm) createKeyRequest(name string) (*apiv1.CreateKeyRequest, error) {
	req := &apiv1.CreateKeyRequest{Name: name}
	switch a {
	case RSA2048, RSA3072, RSA4096:
		req.SignatureAlgorithm = apiv1.SHA256WithRSA
		req.Bits = map[KeyAlgorithm]int{RSA2048: 2048, RSA3072: 3072, RSA4096: 4096}[a]
	case ECP256:
		req.SignatureAlgorithm = apiv1.ECDSAWithSHA256
	case ECP384:
		req.SignatureAlgorithm = apiv1.ECDSAWithSHA384
	default:
		return nil, fmt.Errorf("hsm: unsupported key algorithm %v", a)
	}
	return req, nil
}

// HSM manages PKCS#11 tokens and hands out signers for the keys in them.
// It is safe for concurrent use.
type HSM struct {
	logger *slog.Logger

	mu      sync.Mutex
	closed  bool
	tokens  map[string]*token     // by keyRef.tokenKey
	signers map[string]*signer    // by key URI
	secrets map[string]*secretRef // by key URI
}

// New returns a manager of PKCS#11 tokens. Tokens are opened lazily, one
// shared context per (module-path, token) pair. A nil logger discards logs.
func New(logger *slog.Logger) *HSM {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &HSM{
		logger:  logger,
		tokens:  make(map[string]*token),
		signers: make(map[string]*signer),
		secrets: make(map[string]*secretRef),
	}
}

// token returns the open token for ref, opening it on first use.
func (h *HSM) token(ref keyRef) (*token, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if t, ok := h.tokens[ref.tokenKey()]; ok {
		return t, nil
	}
	t, err := openToken(ref, h.logger)
	if err != nil {
		return nil, err
	}
	h.tokens[ref.tokenKey()] = t
	return t, nil
}

// Signer returns a cached crypto.Signer for the private key the URI names
// (object= label and/or id=). The key is looked up once per URI; the signer
// keeps working across token recoveries.
func (h *HSM) Signer(ctx context.Context, keyURI string) (crypto.Signer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h.mu.Lock()
	s, ok := h.signers[keyURI]
	h.mu.Unlock()
	if ok {
		return s, nil
	}
	ref, err := parseKeyURI(keyURI, true)
	if err != nil {
		return nil, err
	}
	t, err := h.token(ref)
	if err != nil {
		return nil, err
	}
	s, err = t.newSigner(ref)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if prev, ok := h.signers[keyURI]; ok {
		t.forget(s)
		return prev, nil
	}
	h.signers[keyURI] = s
	return s, nil
}

// GenerateKey creates a key pair inside the token (CKA_SENSITIVE true,
// CKA_EXTRACTABLE false, CKA_TOKEN true) and returns its signer. The URI must
// name the key with object=; without id= a random CKA_ID is chosen. It fails
// with ErrKeyExists, and leaves the token untouched, if a key with that label
// or id already exists.
func (h *HSM) GenerateKey(ctx context.Context, keyURI string, alg KeyAlgorithm) (crypto.Signer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ref, id, err := parseNewKeyURI(keyURI)
	if err != nil {
		return nil, err
	}
	req, err := alg.createKeyRequest(stepKeyURI(id, ref.label))
	if err != nil {
		return nil, err
	}
	t, err := h.token(ref)
	if err != nil {
		return nil, err
	}
	if err := t.generateKeyPair(id, ref.label, req); err != nil {
		return nil, err
	}
	h.logger.Info("hsm: generated key", "key", ref.label, "token", ref.token, "algorithm", alg.String())
	return h.Signer(ctx, keyURI)
}

// parseNewKeyURI parses the URI of a key to be created: object= is required,
// id= is generated when absent.
func parseNewKeyURI(keyURI string) (keyRef, []byte, error) {
	ref, err := parseKeyURI(keyURI, true)
	if err != nil {
		return keyRef{}, nil, err
	}
	if ref.label == "" {
		return keyRef{}, nil, fmt.Errorf("hsm: a new key needs a label; add object=<label> to the key uri for token %q", ref.token)
	}
	id := ref.id
	if len(id) == 0 {
		id = make([]byte, 16)
		if _, err := rand.Read(id); err != nil {
			return keyRef{}, nil, fmt.Errorf("hsm: choosing a key id: %w", err)
		}
	}
	return ref, id, nil
}

// Close closes every token. Signers handed out earlier fail afterwards.
func (h *HSM) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	var errs []error
	for _, t := range h.tokens {
		errs = append(errs, t.close())
	}
	h.tokens, h.signers, h.secrets = nil, nil, nil
	return errors.Join(errs...)
}
