package api

import (
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
)

// IssueRequest is the body of POST /api/v1/certificates.
type IssueRequest struct {
	CA           string `json:"ca,omitempty"`
	Profile      string `json:"profile"`
	CSR          string `json:"csr"` // PEM
	Name         string `json:"name,omitempty"`
	GivenName    string `json:"given_name,omitempty"`
	Surname      string `json:"surname,omitempty"`
	Organization string `json:"organization,omitempty"`
	CVR          string `json:"cvr,omitempty"`
	CPR          string `json:"cpr,omitempty"`
	SubjectID    string `json:"subject_id,omitempty"`
	Email        string `json:"email,omitempty"`
}

// Certificate is a certificate as the API returns it.
type Certificate struct {
	Serial         string    `json:"serial"`
	CA             string    `json:"ca"`
	Profile        string    `json:"profile"`
	Subject        string    `json:"subject"`
	SubjectID      string    `json:"subject_id"`
	Partition      int       `json:"crl_partition"`
	Status         ca.Status `json:"status"`
	Reason         string    `json:"reason,omitempty"`
	RevokedAt      string    `json:"revoked_at,omitempty"`
	InvalidityDate string    `json:"invalidity_date,omitempty"`
	NotBefore      time.Time `json:"not_before"`
	NotAfter       time.Time `json:"not_after"`
	PEM            string    `json:"pem,omitempty"`
}

// CertificateOf renders a stored certificate.
func CertificateOf(c *ca.Certificate, withPEM bool) Certificate {
	v := Certificate{
		Serial: c.Serial.String(), CA: c.CA, Profile: c.Profile, SubjectID: c.SubjectID,
		Partition: c.Partition, Status: c.Status, Reason: string(c.Reason),
		NotBefore: c.NotBefore, NotAfter: c.NotAfter,
	}
	if x, err := c.X509(); err == nil {
		v.Subject = x.Subject.String()
	}
	if !c.RevokedAt.IsZero() {
		v.RevokedAt = c.RevokedAt.Format(time.RFC3339)
	}
	if !c.InvalidityDate.IsZero() {
		v.InvalidityDate = c.InvalidityDate.Format(time.RFC3339)
	}
	if withPEM && len(c.DER) > 0 {
		v.PEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER}))
	}
	return v
}

// CertificateList is the body of GET /api/v1/certificates.
type CertificateList struct {
	Certificates []Certificate `json:"certificates"`
	Next         string        `json:"next,omitempty"`
}

// RevokeRequest is the body of POST …/revoke.
type RevokeRequest struct {
	Reason         string `json:"reason"`
	InvalidityDate string `json:"invalidity_date,omitempty"` // RFC 3339
}

// MatchCPRRequest asks whether a PID belongs to a CPR number.
type MatchCPRRequest struct {
	PID string `json:"pid"`
	CPR string `json:"cpr"`
}

// MatchCPRResponse is yes or no; the CPR number is never returned.
type MatchCPRResponse struct {
	Match bool `json:"match"`
}

func (a *API) issue(w http.ResponseWriter, r *http.Request, p *Principal) {
	var body IssueRequest
	if err := a.decode(w, r, &body); err != nil {
		a.refuse(w, r, p, audit.ActionCertIssue, body.Profile, err)
		return
	}
	req := ca.IssueRequest{
		CA: body.CA, Profile: body.Profile, CSR: []byte(body.CSR), Name: body.Name,
		GivenName: body.GivenName, Surname: body.Surname, Organization: body.Organization,
		CVR: body.CVR, CPR: body.CPR, SubjectID: body.SubjectID, Email: body.Email, Actor: p.Actor,
	}
	if err := p.mayIssue(&req); err != nil {
		a.refuse(w, r, p, audit.ActionCertIssue, body.Profile, err)
		return
	}
	cert, err := a.ca.Issue(r.Context(), req) // the CA records the issuance or its refusal
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, CertificateOf(cert, true))
}

func (a *API) serial(r *http.Request) (ca.Serial, error) {
	v, err := pathValue(r, "serial", "serial", maxSerial)
	if err != nil {
		return ca.Serial{}, err
	}
	return ca.ParseSerial(v) // wraps ca.ErrInvalidRequest
}

// load fetches the certificate named in the path and checks the scope.
func (a *API) load(r *http.Request, p *Principal) (*ca.Certificate, error) {
	s, err := a.serial(r)
	if err != nil {
		return nil, err
	}
	c, err := a.ca.Certificate(r.Context(), s)
	if err != nil {
		return nil, err
	}
	return c, a.mayTouch(r.Context(), p, c)
}

func (a *API) show(w http.ResponseWriter, r *http.Request, p *Principal) {
	c, err := a.load(r, p)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, CertificateOf(c, true))
}

func (a *API) list(w http.ResponseWriter, r *http.Request, p *Principal) {
	if err := officerOnly(p, "list certificates"); err != nil {
		a.refuse(w, r, p, audit.ActionCertList, r.URL.RawQuery, err)
		return
	}
	q, err := listQuery(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	page, err := a.ca.Certificates(r.Context(), q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := CertificateList{Certificates: make([]Certificate, 0, len(page.Certificates))}
	for _, c := range page.Certificates {
		out.Certificates = append(out.Certificates, CertificateOf(c, false))
	}
	if page.Next != nil {
		out.Next = page.Next.String()
	}
	writeJSON(w, http.StatusOK, out)
}

func listQuery(r *http.Request) (ca.ListQuery, error) {
	v := r.URL.Query()
	if err := checkFields(field{"ca", v.Get("ca"), maxCA}, field{"profile", v.Get("profile"), maxProfile},
		field{"status", v.Get("status"), maxStatus}, field{"after", v.Get("after"), maxSerial}, field{"limit", v.Get("limit"), maxLimit}); err != nil {
		return ca.ListQuery{}, err
	}
	q := ca.ListQuery{CA: v.Get("ca"), Profile: v.Get("profile"), Limit: 100}
	var err error
	if s := v.Get("status"); s != "" {
		if q.Status, err = ca.ParseStatus(s); err != nil {
			return q, err
		}
	}
	if s := v.Get("after"); s != "" {
		if q.After, err = ca.ParseSerial(s); err != nil {
			return q, fmt.Errorf("after: %w", err)
		}
	}
	if s := v.Get("limit"); s != "" {
		if q.Limit, err = strconv.Atoi(s); err != nil || q.Limit < 1 {
			return q, fmt.Errorf("%w: limit must be a positive number", ca.ErrInvalidRequest)
		}
	}
	return q, nil
}

func (a *API) suspend(w http.ResponseWriter, r *http.Request, p *Principal) {
	if err := a.decodeOptional(w, r, &emptyRequest{}); err != nil {
		a.refuse(w, r, p, audit.ActionCertSuspend, r.PathValue("serial"), err)
		return
	}
	a.changeStatus(w, r, p, audit.ActionCertSuspend, func(c *ca.Certificate) (*ca.Certificate, error) {
		return a.ca.Suspend(r.Context(), c.Serial, p.Actor)
	})
}

func (a *API) release(w http.ResponseWriter, r *http.Request, p *Principal) {
	err := officerOnly(p, "release a suspended certificate")
	if err == nil {
		err = a.decodeOptional(w, r, &emptyRequest{})
	}
	if err != nil {
		a.refuse(w, r, p, audit.ActionCertRelease, r.PathValue("serial"), err)
		return
	}
	a.changeStatus(w, r, p, audit.ActionCertRelease, func(c *ca.Certificate) (*ca.Certificate, error) {
		return a.ca.Release(r.Context(), c.Serial, p.Actor)
	})
}

func (a *API) revoke(w http.ResponseWriter, r *http.Request, p *Principal) {
	var body RevokeRequest
	err := officerOnly(p, "revoke a certificate")
	if err == nil {
		err = a.decode(w, r, &body)
	}
	var reason ca.RevocationReason
	if err == nil {
		reason, err = ca.ParseRevocationReason(body.Reason)
	}
	var inv time.Time
	if err == nil && body.InvalidityDate != "" {
		if inv, err = time.Parse(time.RFC3339, body.InvalidityDate); err != nil {
			err = fmt.Errorf("%w: invalidity_date must be RFC 3339", ca.ErrInvalidRequest)
		}
	}
	if err != nil {
		a.refuse(w, r, p, audit.ActionCertRevoke, r.PathValue("serial"), err)
		return
	}
	a.changeStatus(w, r, p, audit.ActionCertRevoke, func(c *ca.Certificate) (*ca.Certificate, error) {
		return a.ca.Revoke(r.Context(), c.Serial, reason, inv, p.Actor)
	})
}

func (a *API) changeStatus(w http.ResponseWriter, r *http.Request, p *Principal, action string,
	fn func(*ca.Certificate) (*ca.Certificate, error)) {
	c, err := a.load(r, p)
	if err != nil {
		a.refuse(w, r, p, action, r.PathValue("serial"), err)
		return
	}
	updated, err := fn(c) // the CA records the change or its refusal
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, CertificateOf(updated, false))
}

// Subject is a registry entry as the API shows it: never a key or CPR.
type Subject struct {
	ID      string         `json:"id"`
	Kind    ca.SubjectKind `json:"kind"`
	CVR     string         `json:"cvr,omitempty"`
	Name    string         `json:"name,omitempty"`
	Created time.Time      `json:"created"`
}

func (a *API) subject(w http.ResponseWriter, r *http.Request, p *Principal) {
	id, err := pathValue(r, "id", "subject identifier", maxSubjectID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	s, err := a.ca.Subject(r.Context(), id)
	if p.Role == RoleRA && (errors.Is(err, ca.ErrNotFound) || (err == nil && s.CVR != p.CVR)) {
		// One answer for a subject of another CVR and for none at all, so
		// that a registration authority cannot tell whether an identifier
		// exists; the refusal of an existing one is audited.
		if err == nil {
			_ = a.record(r.Context(), p, audit.ActionSubjectShow, id, errOutOfScope)
		}
		err = fmt.Errorf("%w: no subject %q for this registration authority", ca.ErrNotFound, id)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, Subject{ID: s.ID, Kind: s.Kind, CVR: s.CVR, Name: s.Name, Created: s.Created})
}

// matchCPREntry authenticates a CA officer or an allowed relying party
// (relyingparty.go) and hands the question to matchCPR.
func (a *API) matchCPREntry(w http.ResponseWriter, r *http.Request) {
	p, err := a.matchCPRPrincipal(r)
	if err != nil && p == nil {
		a.log.WarnContext(r.Context(), "api: refused client", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
		a.recordLoginFailure(r, err)
		a.fail(w, r, err)
		return
	}
	if err != nil {
		a.refuse(w, r, p, audit.ActionMatchCPR, "", err)
		return
	}
	a.matchCPR(w, r, p)
}

// matchCPR answers yes or no, and only once the question is in the audit
// chain: an answer that cannot be recorded is not given. Relying parties
// are rate-limited per certificate; a question over the limit is refused
// and recorded.
func (a *API) matchCPR(w http.ResponseWriter, r *http.Request, p *Principal) {
	var body MatchCPRRequest
	var err error
	if p.Role != RoleRelyingParty {
		err = officerOnly(p, "match CPR numbers")
	}
	if err == nil {
		err = a.decode(w, r, &body)
	}
	if err == nil && p.Role == RoleRelyingParty && !a.rpLimit.Allow(p.Fingerprint, time.Now()) {
		err = fmt.Errorf("%w (match-cpr allows %g questions a second, %d at once, per certificate)", ErrRateLimited, a.rpLimit.Rate(), a.rpLimit.Burst())
	}
	if err != nil {
		a.refuse(w, r, p, audit.ActionMatchCPR, body.PID, err)
		return
	}
	ok, err := a.ca.MatchCPR(r.Context(), body.PID, body.CPR)
	if rerr := a.record(r.Context(), p, audit.ActionMatchCPR, body.PID, err); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, MatchCPRResponse{Match: ok})
}

func (a *API) whoami(w http.ResponseWriter, _ *http.Request, p *Principal) {
	writeJSON(w, http.StatusOK, p)
}

// ErrorOf turns an error response body back into an error, for clients:
// a *StatusError that errors.Is matches with the sentinel the server's
// error table named, so that ExitCode gives the same code on both sides.
func ErrorOf(status int, body []byte) error {
	var e Error
	if jsonErr := json.Unmarshal(body, &e); jsonErr != nil || e.Error == "" {
		e.Error = fmt.Sprintf("api: HTTP %d", status)
	}
	se := &StatusError{Status: status, Message: e.Error, Kind: e.Kind}
	if k := kindByName(e.Kind, status); k != nil {
		se.err = k.err
	}
	return se
}

// StatusError is an error answered by the API.
type StatusError struct {
	Status  int
	Message string
	Kind    string // the row of the error table the server named
	err     error  // its sentinel
}

func (e *StatusError) Error() string { return e.Message }

// Unwrap is the sentinel of the error's kind, for errors.Is.
func (e *StatusError) Unwrap() error { return e.err }

var _ error = (*StatusError)(nil)

// generateCRL records the officer's request first and runs the CRLs only
// once it is in the audit chain; a failed run is recorded after it. (The
// CA key's signatures are recorded by the CRL generator itself.)
func (a *API) generateCRL(w http.ResponseWriter, r *http.Request, p *Principal) {
	name, err := pathValue(r, "ca", "ca", maxCA)
	if err == nil {
		err = officerOnly(p, "generate CRLs")
	}
	if err == nil {
		err = a.decodeOptional(w, r, &emptyRequest{})
	}
	if err != nil {
		a.refuse(w, r, p, audit.ActionCRLGenerate, name, err)
		return
	}
	if err := a.record(r.Context(), p, audit.ActionCRLGenerate, name, nil); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.crl.Generate(r.Context(), name); err != nil {
		a.refuse(w, r, p, audit.ActionCRLGenerate, name, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"ca": name, "status": "generated"})
}
