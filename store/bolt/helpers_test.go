package bolt

import (
	"context"
	"crypto/rand"
	"encoding/asn1"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/oces-pki/oces/ca"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// openTest opens a fresh store in tb's temp dir and closes it at cleanup.
func openTest(tb testing.TB) *DB {
	tb.Helper()
	return openAt(tb, filepath.Join(tb.TempDir(), "oces.db"))
}

func openAt(tb testing.TB, path string) *DB {
	tb.Helper()
	db, err := Open(path, Options{Timeout: time.Second})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return db
}

func randSerial(tb testing.TB) ca.Serial {
	tb.Helper()
	var s ca.Serial
	if _, err := rand.Read(s[:]); err != nil {
		tb.Fatal(err)
	}
	s[0] &= 0x7f
	s[0] |= 0x01
	return s
}

// fakeCert builds a certificate-shaped DER of about size bytes: an outer
// SEQUENCE around a TBSCertificate that holds the serial and padding, an
// algorithm and a signature. Real enough for the store, which only looks at
// the TBSCertificate.
func fakeCert(tb testing.TB, s ca.Serial, size int) (tbs, der []byte) {
	tb.Helper()
	pad := make([]byte, max(size-100, 1))
	tbs, err := asn1.Marshal(struct {
		Serial  *big.Int
		Padding []byte
	}{s.Big(), pad})
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

// prepared returns a reservation with a TBS and the matching signed DER.
func prepared(tb testing.TB, caName, profile string) (*ca.Prepared, []byte) {
	tb.Helper()
	return preparedSize(tb, caName, profile, 600)
}

func preparedSize(tb testing.TB, caName, profile string, size int) (*ca.Prepared, []byte) {
	tb.Helper()
	s := randSerial(tb)
	tbs, der := fakeCert(tb, s, size)
	return &ca.Prepared{
		Serial: s, CA: caName, Profile: profile, SubjectID: "PID:9208-2002-2-" + s.String()[:12],
		Partition: int(s[15] % 4), NotBefore: t0, NotAfter: t0.AddDate(3, 0, 0), Created: t0, TBS: tbs,
	}, der
}

// issue reserves and completes one certificate.
func issue(tb testing.TB, db *DB, caName, profile string) *ca.Certificate {
	tb.Helper()
	ctx := context.Background()
	p, der := prepared(tb, caName, profile)
	if err := db.Reserve(ctx, p); err != nil {
		tb.Fatalf("Reserve: %v", err)
	}
	c, err := db.Complete(ctx, p.Serial, der, t0.Add(time.Second))
	if err != nil {
		tb.Fatalf("Complete: %v", err)
	}
	return c
}

// hold occupies the writer with a write that blocks until release is
// called, so that the test can queue writes behind it.
func hold(tb testing.TB, db *DB) (release func()) {
	tb.Helper()
	running, unblock, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- db.update(context.Background(), func(*bbolt.Tx) error {
			close(running)
			<-unblock
			return nil
		})
	}()
	<-running
	return func() {
		close(unblock)
		if err := <-done; err != nil {
			tb.Errorf("holding write: %v", err)
		}
	}
}

// setStatus moves a certificate through the life cycle the way the CA does.
func setStatus(tb testing.TB, db *DB, s ca.Serial, to ca.Status) *ca.Certificate {
	tb.Helper()
	c, err := db.UpdateCertificate(context.Background(), s, func(c *ca.Certificate) error {
		c.Status = to
		c.StatusChanged = t0.Add(time.Hour)
		switch to {
		case ca.StatusSuspended:
			c.Reason, c.RevokedAt = ca.ReasonCertificateHold, t0.Add(time.Hour)
		case ca.StatusRevoked:
			c.Reason = ca.ReasonKeyCompromise
			if c.RevokedAt.IsZero() {
				c.RevokedAt = t0.Add(time.Hour)
			}
		default:
			c.Reason, c.RevokedAt = "", time.Time{}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("UpdateCertificate(%s, %s): %v", s, to, err)
	}
	return c
}
