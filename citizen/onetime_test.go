package citizen_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/citizen"
	"github.com/oces-pki/oces/signer"
)

// TestSignDocumentRecords checks the records of a one-time signature: the
// certificate's serial is on the citizen's record, the signer's before
// and after records and the key's end are in the audit chain; and an
// account suspended between the authorisation and the signature does not
// sign, its key destroyed all the same.
func TestSignDocumentRecords(t *testing.T) {
	e := newSigningEnv(t)
	ctx := context.Background()
	en := e.enrol(t, "karen.j", cpr, password)
	doc := []byte("Skøde på Nørregade 12.\n")
	digest := sha256.Sum256(doc)
	authorize := func() string {
		t.Helper()
		ch, err := e.svc.Challenge(ctx, "karen.j")
		if err != nil {
			t.Fatal(err)
		}
		sad, err := e.svc.Authorize(ctx, citizen.AuthorizeRequest{UserID: "karen.j", Password: password, Code: code(t, en.Card, ch), Hashes: [][]byte{digest[:]}})
		if err != nil {
			t.Fatal(err)
		}
		return sad.Token
	}
	signed, err := e.svc.SignDocument(ctx, citizen.DocumentRequest{UserID: "karen.j", SAD: authorize(), Document: doc})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := e.svc.Show(ctx, "karen.j")
	if err != nil {
		t.Fatal(err)
	}
	serial, err := ca.SerialFromBig(signed.Certificate.SerialNumber)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(sum.Certificates); n != 1 || sum.Certificates[0] != serial.String() {
		t.Fatalf("certificates on the record: %v, want %s", sum.Certificates, serial)
	}
	assertAudited(t, e, map[string]int{signer.ActionSignBefore: 1, signer.ActionSignAfter: 1, citizen.ActionKeyDestroy: 1})

	sad := authorize()
	if err := e.svc.Suspend(ctx, "karen.j", audit.Actor{Subject: "support"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SignDocument(ctx, citizen.DocumentRequest{UserID: "karen.j", SAD: sad, Document: doc}); !errors.Is(err, citizen.ErrSuspended) {
		t.Fatalf("a suspended account signed: %v", err)
	}
	assertAudited(t, e, map[string]int{signer.ActionSignBefore: 1, signer.ActionSignAfter: 1, citizen.ActionKeyDestroy: 2})
	assertNoSessionKeys(t, e)
}
