package api

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
)

// TestAuditRecordsPaged: an officer reads the chain page by page, exactly
// as stored, and audit.Verify over the pages finds every record; a
// registration authority may not read it.
func TestAuditRecordsPaged(t *testing.T) {
	t.Parallel()
	r, _, _, ra := newRPAPI(t, func(string) *RelyingPartyAccess { return nil })
	for range 3 {
		if _, err := r.ca.Issue(context.Background(), ca.IssueRequest{Profile: "moces", CSR: []byte(csrPEM(t)), Name: "Karen Jensen",
			Organization: "Firma A/S", CVR: "12345678"}); err != nil {
			t.Fatal(err)
		}
	}
	src := &AuditSource{Client: &Client{base: r.srv.URL, http: r.officer}, PageSize: 2}
	rep, err := audit.Verify(context.Background(), src, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The read itself is recorded (audit.export) before the first page.
	if head := r.auditHead(t); rep.LastSeq != head || src.Head != head || rep.Records != head {
		t.Errorf("verified %d records up to %d, server head %d, store head %d", rep.Records, rep.LastSeq, src.Head, head)
	}
	recs := r.auditRecords(t, 1)
	if last := recs[len(recs)-1]; last.Action != audit.ActionAuditExport || !strings.HasPrefix(last.Actor.Subject, "CN=Officer,") {
		t.Errorf("last record %s by %s, want the officer's audit.export", last.Action, last.Actor.Subject)
	}
	_, err = (&Client{base: r.srv.URL, http: ra}).AuditRecords(context.Background(), 1, 10)
	if !errors.Is(err, ErrForbidden) {
		t.Errorf("RA reads the chain: %v", err)
	}
	if _, err := (&Client{base: r.srv.URL, http: r.officer}).AuditRecords(context.Background(), 0, 10); ExitCode(err) != ExitInvalid {
		t.Errorf("from=0: %v", err)
	}
}
