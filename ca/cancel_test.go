package ca_test

import (
	"context"
	"crypto"
	"io"
	"testing"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
)

// cancellingSigner cancels the request's context while the CA key signs,
// as a client that hangs up at the worst moment does.
type cancellingSigner struct {
	crypto.Signer
	cancel context.CancelFunc
}

func (s cancellingSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.cancel()
	return s.Signer.Sign(r, digest, opts)
}

// TestIssueOutlivesCancellation: once the CA key has signed, the
// certificate is stored and "ca.sign.after" recorded whatever the client
// does; before, both writes failed on the cancelled context and the
// signature was in the chain only as "ca.sign.before".
func TestIssueOutlivesCancellation(t *testing.T) {
	h := newHierarchy(t, "p-256", "p-256")
	ctx, cancel := context.WithCancel(context.Background())
	h.issuingKey = cancellingSigner{Signer: h.issuingKey, cancel: cancel}
	c := newTestCA(t, h, 0)
	cert, err := c.Issue(ctx, ca.IssueRequest{Profile: "voces", CSR: csr(t, testKey(t, "p-256")), CVR: "12345678", Organization: "Firma A/S"})
	if err != nil {
		t.Fatalf("issuing while the client went away after the signature: %v", err)
	}
	if _, err := c.Certificate(context.Background(), cert.Serial); err != nil {
		t.Fatalf("the signed certificate is not stored: %v", err)
	}
	var actions []string
	err = c.store.AuditRecords(context.Background(), 1, func(_ uint64, data []byte) error {
		var r audit.Record
		if err := r.UnmarshalBinary(data); err != nil {
			return err
		}
		if r.Target == cert.Serial.String() {
			actions = append(actions, r.Action)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{audit.ActionSignBefore: false, audit.ActionSignAfter: false, audit.ActionCertIssue: false}
	for _, a := range actions {
		if _, ok := want[a]; ok {
			want[a] = true
		}
	}
	for a, seen := range want {
		if !seen {
			t.Errorf("the audit chain lacks %s for %s (has %v)", a, cert.Serial, actions)
		}
	}
}
