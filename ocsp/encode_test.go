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
