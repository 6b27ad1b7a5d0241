package tsa

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"

	"github.com/digitorus/timestamp"
)

// DefaultMaxResponseBytes bounds a TimeStampResp read by Query.
const DefaultMaxResponseBytes = 1 << 20

// QueryOptions tune Query. The zero value asks for a nonce and the
// certificates under the TSA's default policy.
type QueryOptions struct {
	Policy           asn1.ObjectIdentifier // reqPolicy; nil for the TSA's default
	NoNonce          bool                  // omit the nonce
	NoCertificates   bool                  // certReq false: the token carries no certificates
	Rand             io.Reader             // nonce source; default crypto/rand
	MaxResponseBytes int64                 // default DefaultMaxResponseBytes
}

// Query asks the TSA at url to time-stamp digest, a hash of the data made
// with hash (SHA-256, SHA-384 or SHA-512). It checks the reply's status, that
// the token echoes the nonce and the imprint, carries the requested policy,
// and holds certificates when they were asked for. It does not verify the
// signature: call Token.Verify.
func Query(ctx context.Context, client *http.Client, url string, digest []byte, hash crypto.Hash, opts QueryOptions) (*Token, error) {
	if _, ok := oidFromHash(hash); !ok {
		return nil, fmt.Errorf("tsa: hash %v not supported; use SHA-256, SHA-384 or SHA-512", hash)
	}
	if len(digest) != hash.Size() {
		return nil, fmt.Errorf("tsa: digest is %d bytes; %v needs %d", len(digest), hash, hash.Size())
	}
	// The request is encoded by digitorus/timestamp, an implementation
	// independent of our parser, which keeps the two honest.
	req := timestamp.Request{
		HashAlgorithm: hash,
		HashedMessage: digest,
		Certificates:  !opts.NoCertificates,
		TSAPolicyOID:  opts.Policy,
	}
	if !opts.NoNonce {
		r := opts.Rand
		if r == nil {
			r = rand.Reader
		}
		n, err := rand.Int(r, new(big.Int).Lsh(big.NewInt(1), 128))
		if err != nil {
			return nil, fmt.Errorf("tsa: generating nonce: %w", err)
		}
		req.Nonce = n
	}
	der, err := req.Marshal()
	if err != nil {
		return nil, fmt.Errorf("tsa: encoding request: %w", err)
	}
	body, err := post(ctx, client, url, der, opts.MaxResponseBytes)
	if err != nil {
		return nil, err
	}
	tok, err := ParseResponse(body)
	if err != nil {
		return nil, err
	}
	return tok, checkAnswer(tok, &req)
}

func post(ctx context.Context, client *http.Client, url string, der []byte, limit int64) ([]byte, error) {
	if client == nil {
		client = http.DefaultClient
	}
	if limit <= 0 {
		limit = DefaultMaxResponseBytes
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(der))
	if err != nil {
		return nil, fmt.Errorf("tsa: building HTTP request: %w", err)
	}
	hreq.Header.Set("Content-Type", ContentTypeQuery)
	hreq.Header.Set("Accept", ContentTypeReply)
	resp, err := client.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("tsa: posting request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("tsa: reading reply: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("tsa: reply exceeds %d bytes", limit)
	}
	if resp.StatusCode != http.StatusOK {
		// A TSA may explain a transport error with a TimeStampResp.
		if _, perr := ParseResponse(body); perr != nil && !errors.Is(perr, ErrMalformed) {
			return nil, fmt.Errorf("tsa: HTTP %s: %w", resp.Status, perr)
		}
		return nil, fmt.Errorf("tsa: HTTP %s", resp.Status)
	}
	return body, nil
}

// checkAnswer matches a token against the request it answers (RFC 3161 §2.4.2).
func checkAnswer(tok *Token, req *timestamp.Request) error {
	switch {
	case req.Nonce == nil && tok.Nonce != nil,
		req.Nonce != nil && (tok.Nonce == nil || tok.Nonce.Cmp(req.Nonce) != 0):
		return ErrNonceMismatch
	case tok.HashAlgorithm != req.HashAlgorithm || !bytes.Equal(tok.HashedMessage, req.HashedMessage):
		return ErrImprintMismatch
	case req.TSAPolicyOID != nil && !tok.Policy.Equal(req.TSAPolicyOID):
		return ErrPolicyMismatch
	case req.Certificates && len(tok.Certificates) == 0:
		return fmt.Errorf("%w: certificates were requested but not sent", ErrMalformed)
	}
	return nil
}
