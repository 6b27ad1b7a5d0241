// Package synth makes synthetic certificate records for benchmarks of the
// OCSP responder: a million serials with statuses, without issuing (or
// even encoding) a single certificate, and a minimal authority that issues
// the responder certificate. Not for production use.
package synth

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/oces-pki/oces/ca"
)

// Source holds n certificate records of one CA: about 1% revoked
// (keyCompromise) and 0.5% suspended, the rest good. It stores nothing
// per record: record i is a function of the seed and i, and a serial
// carries i, so that a benchmark's memory is the responder's alone.
type Source struct {
	CA        string
	n         int
	seed, key uint64
	now       time.Time
}

// NewSource makes n records with random-looking 128-bit serials from seed.
func NewSource(caName string, n int, seed uint64) *Source {
	return &Source{CA: caName, n: n, seed: seed, key: mix(seed ^ 0x9e3779b97f4a7c15),
		now: time.Now().UTC().Truncate(time.Second)}
}

// mix is SplitMix64's finaliser: a bijection that scatters bits.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// serial of record i: 63 bits derived from i, then i masked by a key.
func (s *Source) serial(i int) ca.Serial {
	var out ca.Serial
	binary.BigEndian.PutUint64(out[0:], mix(s.seed+uint64(i))&^(1<<63)|1<<62)
	binary.BigEndian.PutUint64(out[8:], uint64(i)^s.key)
	return out
}

// Len is the number of records.
func (s *Source) Len() int { return s.n }

// Record returns record i.
func (s *Source) Record(i int) *ca.Certificate {
	c := &ca.Certificate{Serial: s.serial(i), CA: s.CA, Profile: "poces", Status: ca.StatusGood,
		NotBefore: s.now.Add(-time.Hour), NotAfter: s.now.Add(3 * 365 * 24 * time.Hour)}
	switch x := mix(s.seed^uint64(i)<<1) % 1000; {
	case x < 10:
		c.Status, c.Reason, c.RevokedAt, c.StatusChanged = ca.StatusRevoked, ca.ReasonKeyCompromise, s.now, s.now
	case x < 15:
		c.Status, c.Reason, c.RevokedAt, c.StatusChanged = ca.StatusSuspended, ca.ReasonCertificateHold, s.now, s.now
	}
	return c
}

// ForEachCertificate calls fn for every record of caName.
func (s *Source) ForEachCertificate(ctx context.Context, caName string, fn func(*ca.Certificate) error) error {
	if caName != s.CA && caName != "" {
		return nil
	}
	for i := range s.n {
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if err := fn(s.Record(i)); err != nil {
			return err
		}
	}
	return nil
}

// Certificate returns one record.
func (s *Source) Certificate(_ context.Context, serial ca.Serial) (*ca.Certificate, error) {
	i := binary.BigEndian.Uint64(serial[8:]) ^ s.key
	if i >= uint64(s.n) || s.serial(int(i)) != serial {
		return nil, fmt.Errorf("synth: %s: %w", serial, ca.ErrNotFound)
	}
	return s.Record(int(i)), nil
}

// CountIssued is the number of records.
func (s *Source) CountIssued(context.Context, string) (uint64, error) {
	return uint64(s.n), nil
}

// Authority issues responder certificates directly with the CA key.
type Authority struct {
	Issuer *x509.Certificate
	Key    crypto.Signer
}

// IssueService issues an OCSP responder certificate (ocsp-nocheck, EKU
// OCSPSigning) without any store.
func (a *Authority) IssueService(_ context.Context, req ca.ServiceRequest) (*ca.Certificate, error) {
	serial := make([]byte, 16)
	if _, err := rand.Read(serial); err != nil {
		return nil, err
	}
	serial[0] &= 0x7f
	s, _ := ca.SerialFromBig(new(ca.Serial).Big().SetBytes(serial))
	now := time.Now().UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber: s.Big(), Subject: pkix.Name{CommonName: req.CommonName},
		NotBefore: now, NotAfter: now.Add(req.Validity), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}, Value: []byte{5, 0}}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Issuer, req.PublicKey, a.Key)
	if err != nil {
		return nil, err
	}
	return &ca.Certificate{Serial: s, CA: req.CA, Profile: string(req.Kind), Status: ca.StatusGood,
		NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter, IssuedAt: now, DER: der}, nil
}

// Certificates lists nothing: every start issues a fresh responder certificate.
func (a *Authority) Certificates(context.Context, ca.ListQuery) (*ca.CertificatePage, error) {
	return &ca.CertificatePage{}, nil
}
