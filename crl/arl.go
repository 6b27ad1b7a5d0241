package crl

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"
)

// ARLRequest describes the authority revocation list of the offline root:
// a CRL of the CA certificates the root has revoked, made in a key ceremony
// (`oces crl generate --ca root`).
type ARLRequest struct {
	Root   *x509.Certificate
	Signer crypto.Signer // the root's key, in the HSM
	// Revoked lists the revoked CA certificates; it may be empty.
	Revoked []Entry
	// Number is the cRLNumber; it must exceed that of every earlier ARL
	// (the ceremony record keeps it).
	Number     *big.Int
	ThisUpdate time.Time
	NextUpdate time.Time
	// URL, when set, is where the ARL is published, as the issuing CA
	// certificates name it in their CRL distribution points
	// (<base>/crl/root.crl). The ARL then carries a critical
	// issuingDistributionPoint with that URL and onlyContainsCACerts.
	URL  string
	Rand io.Reader // crypto/rand when nil
}

// GenerateARL signs the root's ARL and returns its DER. Times are
// truncated to the second.
func GenerateARL(ctx context.Context, req ARLRequest) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("crl: generating ARL: %w", err)
	}
	if req.Root == nil || !req.Root.IsCA {
		return nil, errors.New("crl: generating ARL: the root must be a CA certificate")
	}
	if req.Number == nil {
		return nil, errors.New("crl: generating ARL: a CRL number is required")
	}
	t := &Template{
		Number:     req.Number,
		ThisUpdate: req.ThisUpdate.UTC().Truncate(time.Second),
		NextUpdate: req.NextUpdate.UTC().Truncate(time.Second),
		Entries:    req.Revoked,
	}
	if req.URL != "" {
		t.IssuingDistributionPoint = &DistributionPoint{URIs: []string{req.URL}, OnlyContainsCACerts: true}
	}
	der, err := Create(req.Rand, t, req.Root, req.Signer)
	if err != nil {
		return nil, fmt.Errorf("crl: generating ARL: %w", err)
	}
	return der, nil
}
