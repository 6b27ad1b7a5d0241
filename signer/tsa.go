package signer

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/oces-pki/oces/cades"
	"github.com/oces-pki/oces/revocation"
	"github.com/oces-pki/oces/tsa"
)

// TSAClient obtains RFC 3161 time-stamp tokens over HTTP and accepts only
// tokens that verify: the imprint and nonce echo the request, the token is
// signed by a time-stamping unit (critical EKU id-kp-timeStamping) whose
// chain reaches Roots, and whose certificate is good at its responder.
type TSAClient struct {
	URL        string
	Client     *http.Client          // default: 30 s timeout
	Roots      *x509.CertPool        // trust anchors of TSA certificates; nil: the system pool
	Revocation *revocation.Fetcher   // nil: no status check of the TSA certificate
	Options    tsa.QueryOptions      // request options
	Now        func() time.Time      // default time.Now
	Observe    func(d time.Duration) // optional: hears each round trip's duration
	Logger     *slog.Logger
}

var _ cades.Timestamper = (*TSAClient)(nil)

// Timestamp implements cades.Timestamper.
func (c *TSAClient) Timestamp(ctx context.Context, digest []byte, hash crypto.Hash) ([]byte, error) {
	tok, err := c.Token(ctx, digest, hash)
	if err != nil {
		return nil, err
	}
	return tok.Raw, nil
}

// Token is Timestamp returning the parsed token.
func (c *TSAClient) Token(ctx context.Context, digest []byte, hash crypto.Hash) (*tsa.Token, error) {
	client := c.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	opts := c.Options
	start := time.Now()
	tok, err := tsa.Query(ctx, client, c.URL, digest, hash, opts)
	if c.Observe != nil {
		c.Observe(time.Since(start))
	}
	if err != nil {
		if _, rejected := err.(*tsa.RejectionError); rejected {
			return nil, fmt.Errorf("signer: the time-stamp authority at %s refused: %w", c.URL, err)
		}
		return nil, fmt.Errorf("%w: time-stamp authority %s: %w", ErrUnavailable, c.URL, err)
	}
	if err := tok.Verify(c.Roots, nil); err != nil {
		return nil, fmt.Errorf("signer: the token from %s does not verify: %w", c.URL, err)
	}
	if c.Revocation != nil {
		if err := c.checkStatus(ctx, tok); err != nil {
			return nil, err
		}
	}
	return tok, nil
}

// checkStatus refuses a token whose time-stamping unit's certificate is
// not good now. When no status source answers, the token is taken with a
// warning: B-T carries no revocation data, and B-LT fails anyway when it
// gathers the unit's.
func (c *TSAClient) checkStatus(ctx context.Context, tok *tsa.Token) error {
	leaf, err := tok.SignerCertificate()
	if err != nil {
		return fmt.Errorf("signer: time-stamp token: %w", err)
	}
	chain, err := c.Revocation.BuildChain(ctx, leaf, tok.Certificates)
	if err == nil {
		var results []*revocation.Result
		results, err = c.Revocation.Chain(ctx, chain)
		for _, r := range results {
			if r.Status != revocation.Good {
				return fmt.Errorf("%w: the time-stamping unit's certificate %q is %s", ErrUnavailable, r.Certificate.Subject, r.Status)
			}
		}
	}
	if err != nil && !errors.Is(err, revocation.ErrNoSource) {
		if c.Logger != nil {
			c.Logger.WarnContext(ctx, "signer: the time-stamping unit's status is unknown", "url", c.URL, "err", err)
		}
	}
	return nil
}
