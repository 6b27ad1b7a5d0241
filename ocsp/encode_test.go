package ocsp

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"github.com/oces-pki/oces/ca"
)

// TestAppendStored: the serving path's direct encoding is byte for byte
// what signing produced with cryptobyte, for each status, reason, CertID
// hash and serial shape.
func TestAppendStored(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	r := newResponder(t, p, nil, nil)
	iss := r.issuers[0]
	k := iss.current.Load()
	now := time.Now().UTC().Truncate(time.Second)
	high, _ := ca.ParseSerial("ff00000000000000000000000000000a")
	low, _ := ca.ParseSerial("0000000000000000000000000000007f")
	tests := []struct {
		name   string
		serial ca.Serial
		s      single
	}{
		{"good", high, single{status: certGood, reason: -1}},
		{"revoked with reason", low, single{status: certRevoked, reason: 1, revokedAt: now.Add(-time.Hour)}},
		{"revoked without reason", high, single{status: certRevoked, reason: -1, revokedAt: now.Add(-time.Minute)}},
		{"suspended", low, single{status: certRevoked, reason: 6, revokedAt: now}},
	}
	for _, tc := range tests {
		for i := range 2 {
			s := tc.s
			r.setTimes(&s, k)
			id := certIDFor(certIDAlgs[i], iss.nameHash[i], iss.keyHash[i], tc.serial)
			want, sig, err := k.sign(rand.Reader, id, &s, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := k.appendStored(nil, iss, i, &tc.serial, &s, sig)
			if !bytes.Equal(got, want) {
				t.Errorf("%s, hash %d: the served encoding differs from the signed one\n got %x\nwant %x", tc.name, i, got, want)
			}
		}
	}
}

// TestAppendGeneralizedTime: the digits written directly are what
// time.AppendFormat gives, in UTC, whatever the zone of t.
func TestAppendGeneralizedTime(t *testing.T) {
	t.Parallel()
	for _, tm := range []time.Time{
		time.Date(2026, 12, 1, 9, 5, 3, 999, time.UTC),
		time.Date(1999, 1, 31, 23, 59, 59, 0, time.UTC),
		time.Date(2106, 2, 7, 6, 28, 15, 0, time.UTC),
		time.Date(2027, 1, 1, 0, 30, 0, 0, time.FixedZone("CET", 3600)),
	} {
		want := tm.UTC().AppendFormat([]byte{0x18, 15}, "20060102150405Z")
		if got := appendGeneralizedTime(nil, tm); !bytes.Equal(got, want) {
			t.Errorf("%v: got %q, want %q", tm, got, want)
		}
	}
}
