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
	"fmt"
	mrand "math/rand/v2"
	"time"

	"github.com/oces-pki/oces/ca"
)

// Source holds n certificate records of one CA: about 1% revoked
// (keyCompromise) and 0.5% suspended, the rest good.
type Source struct {
	CA    string
	certs []ca.Certificate
	index map[ca.Serial]int
}

// NewSource makes n records with random 128-bit serials from seed.
func NewSource(caName string, n int, seed uint64) *Source {
	r := mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	s := &Source{CA: caName, certs: make([]ca.Certificate, n), index: make(map[ca.Serial]int, n)}
	now := time.Now().UTC().Truncate(time.Second)
	for i := range s.certs {
		c := &s.certs[i]
		for {
			for j := 0; j < 16; j += 8 {
				v := r.Uint64()
				for k := range 8 {
					c.Serial[j+k] = byte(v >> (8 * k))
				}
			}
			c.Serial[0] &= 0x7f
			if _, dup := s.index[c.Serial]; !dup && c.Serial != (ca.Serial{}) {
				break
			}
		}
		c.CA, c.Profile, c.Status = caName, "poces", ca.StatusGood
		c.NotBefore, c.NotAfter = now.Add(-time.Hour), now.Add(3*365*24*time.Hour)
		switch x := r.IntN(1000); {
		case x < 10:
			c.Status, c.Reason, c.RevokedAt, c.StatusChanged = ca.StatusRevoked, ca.ReasonKeyCompromise, now, now
		case x < 15:
			c.Status, c.Reason, c.RevokedAt, c.StatusChanged = ca.StatusSuspended, ca.ReasonCertificateHold, now, now
		}
		s.index[c.Serial] = i
	}
	return s
}

// Len is the number of records.
func (s *Source) Len() int { return len(s.certs) }

// Record returns record i.
func (s *Source) Record(i int) *ca.Certificate { return &s.certs[i] }

// ForEachCertificate calls fn for every record of caName.
func (s *Source) ForEachCertificate(ctx context.Context, caName string, fn func(*ca.Certificate) error) error {
	if caName != s.CA && caName != "" {
		return nil
	}
	for i := range s.certs {
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		c := s.certs[i]
		if err := fn(&c); err != nil {
			return err
		}
	}
	return nil
}

// Certificate returns one record.
func (s *Source) Certificate(_ context.Context, serial ca.Serial) (*ca.Certificate, error) {
	i, ok := s.index[serial]
	if !ok {
		return nil, fmt.Errorf("synth: %s: %w", serial, ca.ErrNotFound)
	}
	c := s.certs[i]
	return &c, nil
}

// CountIssued is the number of records.
func (s *Source) CountIssued(context.Context, string) (uint64, error) {
	return uint64(len(s.certs)), nil
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
