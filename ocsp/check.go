package ocsp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	xocsp "golang.org/x/crypto/ocsp"
)

// Status is a relying party's reading of the OCSP answer for one
// certificate (RFC 6960 section 2.2).
type Status struct {
	Good bool
	// Status is "good", "revoked" or "unknown".
	Status string
	// Reason is the CRLReason name of a revocation ("keyCompromise",
	// "certificateHold", …), or "".
	Reason     string
	RevokedAt  time.Time
	ThisUpdate time.Time
	NextUpdate time.Time
	// Responder is the delegated responder certificate that signed the
	// answer, or nil when the issuer signed it.
	Responder *x509.Certificate
}

// String says what the status is, for people.
func (s *Status) String() string {
	switch {
	case s.Good:
		return "good"
	case s.Status == "revoked" && s.Reason != "":
		return fmt.Sprintf("revoked (%s) since %s", s.Reason, s.RevokedAt.UTC().Format(time.RFC3339))
	case s.Status == "revoked":
		return "revoked since " + s.RevokedAt.UTC().Format(time.RFC3339)
	}
	return s.Status
}

// ErrNoResponder is returned by Check for a certificate whose AIA names no
// OCSP responder.
var ErrNoResponder = errors.New("ocsp: the certificate names no OCSP responder (authorityInfoAccess)")

// maxCheckResponse bounds the response Check reads.
const maxCheckResponse = 64 << 10

// maxClockSkew is how far thisUpdate may lie in the future.
const maxClockSkew = 5 * time.Minute

// Check asks the OCSP responder named in cert's authorityInfoAccess for
// cert's status, as a relying party does: a SHA-1 CertID by POST (RFC 5019
// section 2.1.1), the answer's signature verified either by issuer itself
// or by a delegated responder certificate that issuer signed for
// id-kp-OCSPSigning and that is valid now (RFC 6960 section 4.2.2.2), the
// answer current (thisUpdate not in the future, nextUpdate not passed).
// The request and the response are handled by golang.org/x/crypto/ocsp,
// not by this package's responder code. now is the time to check at.
func Check(ctx context.Context, client *http.Client, cert, issuer *x509.Certificate, now time.Time) (*Status, error) {
	if len(cert.OCSPServer) == 0 {
		return nil, ErrNoResponder
	}
	req, err := xocsp.CreateRequest(cert, issuer, &xocsp.RequestOptions{Hash: crypto.SHA1})
	if err != nil {
		return nil, fmt.Errorf("ocsp: building the request: %w", err)
	}
	url := cert.OCSPServer[0]
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(req))
	if err != nil {
		return nil, fmt.Errorf("ocsp: building the request to %s: %w", url, err)
	}
	hreq.Header.Set("Content-Type", "application/ocsp-request")
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("ocsp: asking %s: %w", url, err)
	}
	defer resp.Body.Close()
	der, err := io.ReadAll(io.LimitReader(resp.Body, maxCheckResponse+1))
	if err != nil {
		return nil, fmt.Errorf("ocsp: reading the answer of %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK || len(der) > maxCheckResponse {
		return nil, fmt.Errorf("ocsp: %s answered HTTP %s (%d bytes)", url, resp.Status, len(der))
	}
	return readAnswer(der, cert, issuer, now)
}

func readAnswer(der []byte, cert, issuer *x509.Certificate, now time.Time) (*Status, error) {
	r, err := xocsp.ParseResponseForCert(der, cert, issuer)
	if err != nil {
		var re xocsp.ResponseError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("ocsp: the responder refused: %s", re.Status)
		}
		return nil, fmt.Errorf("ocsp: the answer does not verify: %w", err)
	}
	switch {
	case r.SerialNumber.Cmp(cert.SerialNumber) != 0:
		return nil, errors.New("ocsp: the answer is for another certificate")
	case r.ThisUpdate.After(now.Add(maxClockSkew)):
		return nil, fmt.Errorf("ocsp: the answer's thisUpdate %s is in the future", r.ThisUpdate.UTC().Format(time.RFC3339))
	case !r.NextUpdate.IsZero() && now.After(r.NextUpdate):
		return nil, fmt.Errorf("ocsp: the answer expired at %s", r.NextUpdate.UTC().Format(time.RFC3339))
	}
	if d := r.Certificate; d != nil {
		if !slices.Contains(d.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
			return nil, errors.New("ocsp: the answer is signed by a certificate without id-kp-OCSPSigning")
		}
		if now.Before(d.NotBefore) || now.After(d.NotAfter) {
			return nil, fmt.Errorf("ocsp: the responder certificate is not valid at %s", now.UTC().Format(time.RFC3339))
		}
	}
	st := &Status{ThisUpdate: r.ThisUpdate, NextUpdate: r.NextUpdate, Responder: r.Certificate}
	switch r.Status {
	case xocsp.Good:
		st.Good, st.Status = true, "good"
	case xocsp.Revoked:
		st.Status, st.RevokedAt = "revoked", r.RevokedAt
		st.Reason = reasonNames[r.RevocationReason]
	default:
		st.Status = "unknown"
	}
	return st, nil
}

// reasonNames are the CRLReason names of RFC 5280 section 5.3.1.
var reasonNames = map[int]string{
	xocsp.Unspecified: "unspecified", xocsp.KeyCompromise: "keyCompromise", xocsp.CACompromise: "cACompromise",
	xocsp.AffiliationChanged: "affiliationChanged", xocsp.Superseded: "superseded",
	xocsp.CessationOfOperation: "cessationOfOperation", xocsp.CertificateHold: "certificateHold",
	xocsp.RemoveFromCRL: "removeFromCRL", xocsp.PrivilegeWithdrawn: "privilegeWithdrawn", xocsp.AACompromise: "aACompromise",
}
