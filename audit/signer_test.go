package audit_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"path/filepath"
	"testing"

	"github.com/oces-pki/oces/audit"
)

func TestSignerRecordsEveryUse(t *testing.T) {
	t.Parallel()
	db, closeDB := openStore(t, filepath.Join(t.TempDir(), "audit.db"))
	defer closeDB()
	key := newKey(t)
	s := &audit.Signer{Signer: key, Log: db, Purpose: "crl issuing-1"}
	digest := sha256.Sum256([]byte("tbsCertList"))
	sig, err := s.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if pub, ok := s.Public().(*ecdsa.PublicKey); ok && !ecdsa.VerifyASN1(pub, digest[:], sig) {
		t.Fatal("signature does not verify")
	}
	var actions []string
	err = db.AuditRecords(t.Context(), 1, func(_ uint64, data []byte) error {
		var r audit.Record
		if err := r.UnmarshalBinary(data); err != nil {
			return err
		}
		if r.Target != "crl issuing-1" || r.Details["digest"] == "" || r.Outcome != "ok" {
			t.Errorf("record %d: %+v", r.Seq, r.Event)
		}
		actions = append(actions, r.Action)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(actions) != 2 || actions[0] != audit.ActionSignBefore || actions[1] != audit.ActionSignAfter {
		t.Fatalf("records %v, want before and after", actions)
	}
}
