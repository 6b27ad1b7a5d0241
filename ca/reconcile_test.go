package ca_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/internal/catest"
)

// TestReconcileAbandoned: a reservation that never got its certificate (a
// crash between signing and storing) is recorded in the audit chain at the
// next start, once; its serial is never reused nor completed; a recent
// reservation, possibly in progress elsewhere, is left alone.
func TestReconcileAbandoned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tc := newTestCA(t, newHierarchy(t, "p-256", "p-256"), 10)
	reserve := func(created time.Time) ca.Serial {
		t.Helper()
		var s ca.Serial
		if _, err := rand.Read(s[:]); err != nil {
			t.Fatal(err)
		}
		s[0] = 0x40
		p := &ca.Prepared{Serial: s, CA: "issuing-1", Profile: "poces", SubjectID: "PID:9208-2002-2-000000000001",
			NotBefore: created, NotAfter: created.AddDate(3, 0, 0), Created: created}
		if err := tc.store.ReserveAudited(ctx, p); err != nil {
			t.Fatal(err)
		}
		return s
	}
	old := reserve(time.Now().Add(-2 * ca.ReservationGrace))
	reserve(time.Now()) // perhaps in progress on another node: left alone
	start := func() {
		t.Helper()
		_, err := ca.New(ctx, ca.Config{Issuers: []*ca.Issuer{{Name: "issuing-1", Certificate: tc.h.issuing, Signer: tc.h.issuingKey}},
			BaseURL: "http://pki.example.dk", Certificates: tc.store, Registry: tc.store, Hasher: catest.HMACHasher("k")})
		if err != nil {
			t.Fatal(err)
		}
	}
	records := func() (n int, recentSeen bool) {
		t.Helper()
		err := tc.store.AuditRecords(ctx, 1, func(_ uint64, data []byte) error {
			if bytes.Contains(data, []byte(ca.ActionReservationAbandon)) {
				n++
				if !bytes.Contains(data, []byte(old.String())) {
					recentSeen = true
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n, recentSeen
	}
	start()
	start() // a second start records nothing new
	if n, recentSeen := records(); n != 1 || recentSeen {
		t.Fatalf("%d abandonment records (recent one among them: %v), want 1 for %s", n, recentSeen, old)
	}
	if _, err := tc.store.CompleteAudited(ctx, old, []byte{0x30, 0x00}, time.Now()); !errors.Is(err, ca.ErrConflict) {
		t.Fatalf("completing an abandoned reservation: %v, want ErrConflict", err)
	}
	if err := tc.store.ReserveAudited(ctx, &ca.Prepared{Serial: old, CA: "issuing-1", Created: time.Now()}); !errors.Is(err, ca.ErrSerialExists) {
		t.Fatalf("reserving an abandoned serial again: %v, want ErrSerialExists", err)
	}
	if _, err := tc.store.Certificate(ctx, old); !errors.Is(err, ca.ErrNotFound) {
		t.Fatalf("an abandoned serial is found: %v", err)
	}
}

// TestPartitionsAcrossNodes: two CAs on one store (two nodes, or one node
// before and after a restart) take sequence numbers from the store, so no
// CRL partition ever holds more than PartitionSize certificates.
func TestPartitionsAcrossNodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHierarchy(t, "p-256", "p-256")
	tc := newTestCA(t, h, 2)
	other, err := ca.New(ctx, ca.Config{Issuers: []*ca.Issuer{{Name: "issuing-1", Certificate: h.issuing, Signer: h.issuingKey, PartitionSize: 2}},
		BaseURL: "http://pki.example.dk", Certificates: tc.store, Registry: tc.store, Hasher: catest.HMACHasher("test registry key")})
	if err != nil {
		t.Fatal(err)
	}
	count := map[int]int{}
	for i := range 6 {
		node := tc.CA
		if i%2 == 1 {
			node = other
		}
		cert, err := node.Issue(ctx, ca.IssueRequest{Profile: "foces", CSR: csr(t, testKey(t, "p-256")),
			Name: "F", Organization: "Firma A/S", CVR: "12345678"})
		if err != nil {
			t.Fatal(err)
		}
		count[cert.Partition]++
	}
	for p, n := range count {
		if n > 2 {
			t.Errorf("partition %d holds %d certificates, more than the partition size 2: %v", p, n, count)
		}
	}
	if n, err := tc.store.Partitions(ctx, "issuing-1", 2); err != nil || n <= maxKey(count) {
		t.Errorf("store says %d partitions (%v), highest used is %d", n, err, maxKey(count))
	}
}

func maxKey(m map[int]int) int {
	out := 0
	for k := range m {
		out = max(out, k)
	}
	return out
}
