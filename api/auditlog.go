package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/oces-pki/oces/audit"
)

// Reading the audit chain of a running CA: GET /api/v1/audit/records
// hands officers the records exactly as stored (Record.MarshalBinary), a
// page at a time, so that 'oces audit verify --api' checks every hash,
// link and checkpoint signature on the officer's machine with the audit
// key it holds, trusting nothing the server says about them.

// AuditLog is the stored chain, as the API reads it; *bolt.DB satisfies it.
type AuditLog interface {
	audit.Source
	AuditHead(ctx context.Context) (audit.Head, error)
}

// AuditRecord is one stored record: its sequence number and stored bytes.
type AuditRecord struct {
	Seq  uint64 `json:"seq"`
	Data []byte `json:"data"` // base64 in JSON
}

// AuditPage is the body of GET /api/v1/audit/records.
type AuditPage struct {
	Records []AuditRecord `json:"records"`
	// Head is the newest record when the page was read.
	Head uint64 `json:"head"`
	// Next is the from of the next page; 0 when the page reached the head.
	Next uint64 `json:"next,omitempty"`
}

// Bounds of a page.
const (
	defaultAuditPage = 1000
	maxAuditPage     = 10000
	maxAuditBytes    = 4 << 20
)

var errPageFull = errors.New("api: page full")

func (a *API) auditRecords(w http.ResponseWriter, r *http.Request, p *Principal) {
	q := r.URL.Query()
	err := officerOnly(p, "read the audit chain")
	if err == nil {
		err = checkFields(field{"from", q.Get("from"), 20}, field{"limit", q.Get("limit"), 8})
	}
	from, limit := uint64(1), defaultAuditPage
	if err == nil && q.Get("from") != "" {
		if from, err = strconv.ParseUint(q.Get("from"), 10, 64); err != nil || from == 0 {
			err = fmt.Errorf("%w: from must be a record number, 1 or more", errBadJSON)
		}
	}
	if err == nil && q.Get("limit") != "" {
		if limit, err = strconv.Atoi(q.Get("limit")); err != nil || limit < 1 || limit > maxAuditPage {
			err = fmt.Errorf("%w: limit must be 1 to %d", errBadJSON, maxAuditPage)
		}
	}
	if err != nil {
		a.refuse(w, r, p, audit.ActionAuditExport, r.URL.RawQuery, err)
		return
	}
	if from == 1 {
		if err := a.record(r.Context(), p, audit.ActionAuditExport, "from 1", nil); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	head, err := a.auditLog.AuditHead(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	page := AuditPage{Records: []AuditRecord{}, Head: head.Seq}
	size := 0
	err = a.auditLog.AuditRecords(r.Context(), from, func(seq uint64, data []byte) error {
		if len(page.Records) == limit || size+len(data) > maxAuditBytes && len(page.Records) > 0 {
			page.Next = seq
			return errPageFull
		}
		page.Records = append(page.Records, AuditRecord{Seq: seq, Data: append([]byte(nil), data...)})
		size += len(data)
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// AuditRecords reads one page of the chain from record from.
func (c *Client) AuditRecords(ctx context.Context, from uint64, limit int) (*AuditPage, error) {
	var out AuditPage
	q := url.Values{"from": {strconv.FormatUint(from, 10)}, "limit": {strconv.Itoa(limit)}}
	return &out, c.do(ctx, http.MethodGet, "/api/v1/audit/records?"+q.Encode(), nil, &out)
}

// AuditSource is the chain of a running CA read through the API, page by
// page, as an audit.Source for audit.Verify. It passes on what the server
// sends, in the order sent; Verify judges it.
type AuditSource struct {
	Client   *Client
	PageSize int // default 1000
	// Head is the server's head at the last page read.
	Head uint64
}

var _ audit.Source = (*AuditSource)(nil)

// AuditRecords implements audit.Source.
func (s *AuditSource) AuditRecords(ctx context.Context, from uint64, fn func(seq uint64, data []byte) error) error {
	size := s.PageSize
	if size <= 0 {
		size = defaultAuditPage
	}
	for {
		page, err := s.Client.AuditRecords(ctx, from, size)
		if err != nil {
			return fmt.Errorf("reading audit records from %d: %w", from, err)
		}
		s.Head = page.Head
		for _, rec := range page.Records {
			if err := fn(rec.Seq, rec.Data); err != nil {
				return err
			}
		}
		if page.Next == 0 || len(page.Records) == 0 {
			return nil
		}
		if page.Next <= from {
			return fmt.Errorf("api: the server's audit page from %d names %d as the next", from, page.Next)
		}
		from = page.Next
	}
}
