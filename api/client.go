package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Client calls the admin API with an officer's or RA's client certificate.
type Client struct {
	base string
	http *http.Client
}

// NewClient makes a client of the API at base ("https://host:8443"),
// authenticating with cert and trusting the server certificate only if it
// chains to roots.
func NewClient(base string, cert tls.Certificate, roots *x509.CertPool, timeout time.Duration) *Client {
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 16,
	}
	return &Client{base: base, http: &http.Client{Transport: tr, Timeout: timeout}}
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("calling the admin API at %s (is 'oces serve' running?): %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("reading the API's answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		return ErrorOf(resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

// Issue enrols a certificate.
func (c *Client) Issue(ctx context.Context, req IssueRequest) (*Certificate, error) {
	var out Certificate
	return &out, c.do(ctx, http.MethodPost, "/api/v1/certificates", req, &out)
}

// Show returns one certificate.
func (c *Client) Show(ctx context.Context, serial string) (*Certificate, error) {
	var out Certificate
	return &out, c.do(ctx, http.MethodGet, "/api/v1/certificates/"+url.PathEscape(serial), nil, &out)
}

// List returns one page of certificates; q takes status, profile, ca, after, limit.
func (c *Client) List(ctx context.Context, q url.Values) (*CertificateList, error) {
	var out CertificateList
	return &out, c.do(ctx, http.MethodGet, "/api/v1/certificates?"+q.Encode(), nil, &out)
}

// Suspend, Release and Revoke change a certificate's status.
func (c *Client) Suspend(ctx context.Context, serial string) (*Certificate, error) {
	return c.status(ctx, serial, "suspend", nil)
}

// Release takes a certificate off hold.
func (c *Client) Release(ctx context.Context, serial string) (*Certificate, error) {
	return c.status(ctx, serial, "release", nil)
}

// Revoke revokes a certificate.
func (c *Client) Revoke(ctx context.Context, serial string, req RevokeRequest) (*Certificate, error) {
	return c.status(ctx, serial, "revoke", req)
}

func (c *Client) status(ctx context.Context, serial, verb string, in any) (*Certificate, error) {
	var out Certificate
	if in == nil {
		in = struct{}{}
	}
	return &out, c.do(ctx, http.MethodPost, "/api/v1/certificates/"+url.PathEscape(serial)+"/"+verb, in, &out)
}

// Subject returns a registry entry.
func (c *Client) Subject(ctx context.Context, id string) (*Subject, error) {
	var out Subject
	return &out, c.do(ctx, http.MethodGet, "/api/v1/subjects/"+url.PathEscape(id), nil, &out)
}

// MatchCPR asks whether pid belongs to cpr.
func (c *Client) MatchCPR(ctx context.Context, pid, cpr string) (bool, error) {
	var out MatchCPRResponse
	err := c.do(ctx, http.MethodPost, "/api/v1/subjects/match-cpr", MatchCPRRequest{PID: pid, CPR: cpr}, &out)
	return out.Match, err
}

// WhoAmI returns the principal the server sees.
func (c *Client) WhoAmI(ctx context.Context) (*Principal, error) {
	var out Principal
	return &out, c.do(ctx, http.MethodGet, "/api/v1/whoami", nil, &out)
}

// GenerateCRL asks the server to regenerate an issuing CA's CRLs now.
func (c *Client) GenerateCRL(ctx context.Context, caName string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/crl/"+url.PathEscape(caName)+"/generate", struct{}{}, nil)
}

// AppendEvent records an officer's tool's action in the audit chain.
func (c *Client) AppendEvent(ctx context.Context, ev EventRequest) error {
	return c.do(ctx, http.MethodPost, "/api/v1/audit/events", ev, nil)
}
