// Package ocsphsm hands the OCSP responder its keys from an HSM: it adapts
// *hsm.HSM to ocsp.KeyStore, so that package ocsp sees only
// crypto.Signers (RFC 6960 section 4.2.2.2 delegated responder keys) and
// does not depend on PKCS#11.
package ocsphsm

import (
	"context"
	"crypto"
	"errors"
	"fmt"

	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/ocsp"
)

// Tokens is the part of *hsm.HSM the responder's keys need.
type Tokens interface {
	Signer(ctx context.Context, keyURI string) (crypto.Signer, error)
	GenerateKey(ctx context.Context, keyURI string, alg hsm.KeyAlgorithm) (crypto.Signer, error)
}

// Keys is an ocsp.KeyStore over an HSM; new keys are of Algorithm
// (ECDSA P-256 when zero).
type Keys struct {
	HSM       Tokens
	Algorithm hsm.KeyAlgorithm
}

var (
	_ ocsp.KeyStore = Keys{}
	_ Tokens        = (*hsm.HSM)(nil)
)

// New returns the KeyStore of h making keys of alg.
func New(h Tokens, alg hsm.KeyAlgorithm) Keys { return Keys{HSM: h, Algorithm: alg} }

func (k Keys) alg() hsm.KeyAlgorithm {
	if k.Algorithm == 0 {
		return hsm.ECP256
	}
	return k.Algorithm
}

// Signer opens a responder key; hsm.ErrKeyNotFound also wraps
// ocsp.ErrKeyNotFound.
func (k Keys) Signer(ctx context.Context, keyURI string) (crypto.Signer, error) {
	s, err := k.HSM.Signer(ctx, keyURI)
	if errors.Is(err, hsm.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w: %w", ocsp.ErrKeyNotFound, err)
	}
	return s, err
}

// GenerateKey makes a responder key in the token; hsm.ErrKeyExists also
// wraps ocsp.ErrKeyExists.
func (k Keys) GenerateKey(ctx context.Context, keyURI string) (crypto.Signer, error) {
	s, err := k.HSM.GenerateKey(ctx, keyURI, k.alg())
	if errors.Is(err, hsm.ErrKeyExists) {
		return nil, fmt.Errorf("%w: %w", ocsp.ErrKeyExists, err)
	}
	return s, err
}

// KeyAlgorithm names the algorithm of new keys, for the audit chain.
func (k Keys) KeyAlgorithm() string { return k.alg().String() }
