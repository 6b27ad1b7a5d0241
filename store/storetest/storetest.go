// Package storetest is the contract of an OCES PKI store, as one suite that
// every backend runs against itself: store/bolt (embedded) and
// store/postgres (shared). It checks what the consumers rely on: the
// durable two-step issuance of ca.CertificateStore (a serial reserved once,
// ever; a completion that must carry the reserved TBSCertificate), status
// updates and the indexes CRLs and delta CRLs read (RFC 5280 sections 5.2.3
// and 5.2.4), the subject registry, counters, and the audit chain appended
// in the same transaction as the change it records.
//
// A backend's test calls Run with a function that opens a fresh, empty
// store; a backend that several processes can share also sets
// Backend.Shared, which opens two handles on one fresh database, and the
// suite then checks that writers on both keep every rule.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
)

// Store is every ability the consumers need from a store: the CA's
// ca.CertificateStore and ca.RegistryStore, crl.Source and the pruner of
// crl.Publisher, ocsp.Source, audit.Source and audit.CheckpointStore, and
// the counters of tsa.BlockSerials.
type Store interface {
	ca.CertificateStore
	ca.RegistryStore
	Reserve(ctx context.Context, p *ca.Prepared) error
	Complete(ctx context.Context, serial ca.Serial, der []byte, issuedAt time.Time) (*ca.Certificate, error)
	UpdateCertificate(ctx context.Context, serial ca.Serial, fn func(*ca.Certificate) error) (*ca.Certificate, error)
	ForEachCertificate(ctx context.Context, caName string, fn func(*ca.Certificate) error) error
	ForEachRevoked(ctx context.Context, caName string, fn func(*ca.Certificate) error) error
	ForEachChangedSince(ctx context.Context, caName string, since time.Time, fn func(*ca.Certificate) error) error
	PruneChanges(ctx context.Context, caName string, before time.Time) (int, error)
	NextCounter(ctx context.Context, name string, n uint64) (uint64, error)
	AuditHead(ctx context.Context) (audit.Head, error)
	AuditRecords(ctx context.Context, from uint64, fn func(seq uint64, data []byte) error) error
	Close() error
}

// Backend opens stores for the suite.
type Backend struct {
	// Open returns a fresh, empty store; the suite closes it.
	Open func(tb testing.TB) Store
	// Shared, if set, returns two open handles on one fresh store, as two
	// processes would have them.
	Shared func(tb testing.TB) (Store, Store)
}

// T0 is the suite's clock: whole seconds, which every backend keeps exactly.
var T0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Run runs the contract against b.
func Run(t *testing.T, b Backend) {
	open := func(tb testing.TB) Store {
		tb.Helper()
		s := b.Open(tb)
		tb.Cleanup(func() {
			if err := s.Close(); err != nil {
				tb.Errorf("Close: %v", err)
			}
		})
		return s
	}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, s Store)
	}{
		{"Reserve", testReserve},
		{"Complete", testComplete},
		{"NotFound", testNotFound},
		{"Certificates", testCertificates},
		{"UpdateCertificate", testUpdate},
		{"RevokedIndex", testRevokedIndex},
		{"ForEachCertificate", testForEach},
		{"ChangedSince", testChangedSince},
		{"Registry", testRegistry},
		{"NextCounter", testNextCounter},
		{"AuditSameTransaction", testAuditSameTransaction},
		{"AuditCheckpoint", testAuditCheckpoint},
		{"AuditRecordsFrom", testAuditRecordsFrom},
		{"Concurrent", testConcurrent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, open(t))
		})
	}
	if b.Shared != nil {
		t.Run("SharedWriters", func(t *testing.T) {
			t.Parallel()
			a, c := b.Shared(t)
			for _, s := range []Store{a, c} {
				t.Cleanup(func() {
					if err := s.Close(); err != nil {
						t.Errorf("Close: %v", err)
					}
				})
			}
			testShared(t, a, c)
		})
	}
}

// RandSerial is a random positive serial, as the CA draws them.
func RandSerial(tb testing.TB) ca.Serial {
	tb.Helper()
	var s ca.Serial
	if _, err := rand.Read(s[:]); err != nil {
		tb.Fatal(err)
	}
	s[0] = s[0]&0x7f | 0x01
	return s
}

type certificateASN1 struct {
	TBSCertificate     asn1.RawValue
	SignatureAlgorithm asn1.RawValue
	SignatureValue     asn1.BitString
}

// FakeCert builds a certificate-shaped DER of about size bytes: an outer
// SEQUENCE around a TBSCertificate holding the serial and padding. Real
// enough for a store, which looks only at the TBSCertificate.
func FakeCert(tb testing.TB, s ca.Serial, size int) (tbs, der []byte) {
	tb.Helper()
	tbs, err := asn1.Marshal(struct {
		Serial  *big.Int
		Padding []byte
	}{s.Big(), make([]byte, max(size-100, 1))})
	if err != nil {
		tb.Fatal(err)
	}
	der, err = asn1.Marshal(certificateASN1{
		TBSCertificate:     asn1.RawValue{FullBytes: tbs},
		SignatureAlgorithm: asn1.RawValue{FullBytes: []byte{0x30, 0x03, 0x06, 0x01, 0x2a}},
		SignatureValue:     asn1.BitString{Bytes: make([]byte, 64), BitLength: 512},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return tbs, der
}

// Prepared is a reservation with a TBS and the matching signed DER.
func Prepared(tb testing.TB, caName, profile string) (*ca.Prepared, []byte) {
	tb.Helper()
	s := RandSerial(tb)
	tbs, der := FakeCert(tb, s, 600)
	return &ca.Prepared{
		Serial: s, CA: caName, Profile: profile, SubjectID: "PID:9208-2002-2-" + s.String()[:12],
		Partition: int(s[15] % 4), NotBefore: T0, NotAfter: T0.AddDate(3, 0, 0), Created: T0, TBS: tbs,
	}, der
}

// Issue reserves and completes one certificate.
func Issue(tb testing.TB, s Store, caName, profile string) *ca.Certificate {
	tb.Helper()
	ctx := context.Background()
	p, der := Prepared(tb, caName, profile)
	if err := s.Reserve(ctx, p); err != nil {
		tb.Fatalf("Reserve: %v", err)
	}
	c, err := s.Complete(ctx, p.Serial, der, T0.Add(time.Second))
	if err != nil {
		tb.Fatalf("Complete: %v", err)
	}
	return c
}

// SetStatus moves a certificate through the life cycle the way the CA does,
// at the given time.
func SetStatus(tb testing.TB, s Store, serial ca.Serial, to ca.Status, at time.Time) *ca.Certificate {
	tb.Helper()
	c, err := s.UpdateCertificate(context.Background(), serial, statusFunc(to, at))
	if err != nil {
		tb.Fatalf("UpdateCertificate(%s, %s): %v", serial, to, err)
	}
	return c
}

func statusFunc(to ca.Status, at time.Time) func(*ca.Certificate) error {
	return func(c *ca.Certificate) error {
		c.Status, c.StatusChanged = to, at
		switch to {
		case ca.StatusSuspended:
			c.Reason, c.RevokedAt = ca.ReasonCertificateHold, at
		case ca.StatusRevoked:
			c.Reason = ca.ReasonKeyCompromise
			if c.RevokedAt.IsZero() {
				c.RevokedAt = at
			}
		default:
			c.Reason, c.RevokedAt = "", time.Time{}
		}
		return nil
	}
}

// Event is an audit event at T0 by the system.
func Event(action, target string) audit.Event {
	return audit.Event{Time: T0, Actor: audit.System, Action: action, Target: target, Outcome: audit.OutcomeOK}
}

// Records verifies the whole chain with audit.Verify and decodes it.
func Records(tb testing.TB, s Store) []audit.Record {
	tb.Helper()
	ctx := context.Background()
	if _, err := audit.Verify(ctx, s, nil); err != nil {
		tb.Fatalf("audit.Verify: %v", err)
	}
	var out []audit.Record
	err := s.AuditRecords(ctx, 1, func(_ uint64, data []byte) error {
		var r audit.Record
		err := r.UnmarshalBinary(data)
		out = append(out, r)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
