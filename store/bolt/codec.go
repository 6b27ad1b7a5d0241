package bolt

import (
	"bytes"
	"encoding/asn1"
	"encoding/json"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/oces-pki/oces/ca"
)

// certRecord is the value in bucket certs: a ca.Certificate without its
// serial (the key) and its DER (bucket der).
type certRecord struct {
	CA             string              `json:"ca"`
	Profile        string              `json:"profile"`
	SubjectID      string              `json:"subject_id"`
	Partition      int                 `json:"partition"`
	NotBefore      time.Time           `json:"not_before"`
	NotAfter       time.Time           `json:"not_after"`
	IssuedAt       time.Time           `json:"issued_at"`
	Status         ca.Status           `json:"status"`
	StatusChanged  time.Time           `json:"status_changed,omitzero"`
	Reason         ca.RevocationReason `json:"reason,omitempty"`
	InvalidityDate time.Time           `json:"invalidity_date,omitzero"`
	RevokedAt      time.Time           `json:"revoked_at,omitzero"`
}

func recordOf(c *ca.Certificate) certRecord {
	return certRecord{
		CA: c.CA, Profile: c.Profile, SubjectID: c.SubjectID, Partition: c.Partition,
		NotBefore: c.NotBefore, NotAfter: c.NotAfter, IssuedAt: c.IssuedAt,
		Status: c.Status, StatusChanged: c.StatusChanged, Reason: c.Reason,
		InvalidityDate: c.InvalidityDate, RevokedAt: c.RevokedAt,
	}
}

func (r *certRecord) certificate(s ca.Serial, der []byte) *ca.Certificate {
	return &ca.Certificate{
		Serial: s, CA: r.CA, Profile: r.Profile, SubjectID: r.SubjectID, Partition: r.Partition,
		NotBefore: r.NotBefore, NotAfter: r.NotAfter, IssuedAt: r.IssuedAt,
		Status: r.Status, StatusChanged: r.StatusChanged, Reason: r.Reason,
		InvalidityDate: r.InvalidityDate, RevokedAt: r.RevokedAt, DER: der,
	}
}

// preparedRecord is the value in bucket prepared.
type preparedRecord struct {
	CA        string    `json:"ca"`
	Profile   string    `json:"profile"`
	SubjectID string    `json:"subject_id"`
	Partition int       `json:"partition"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	Created   time.Time `json:"created"`
	TBS       []byte    `json:"tbs,omitempty"`
	// Abandoned is when the reservation was found never completed at a
	// start (see AbandonReservations); it can then never be completed.
	Abandoned time.Time `json:"abandoned,omitzero"`
}

// Index values in revoked/<ca>, so that a listing by status need not decode
// the record.
const (
	indexSuspended byte = 's'
	indexRevoked   byte = 'r'
)

func indexValue(s ca.Status) byte {
	if s == ca.StatusSuspended {
		return indexSuspended
	}
	return indexRevoked
}

// loadCert reads a completed certificate; ok is false if there is none.
func loadCert(tx *bbolt.Tx, s ca.Serial, withDER bool) (c *ca.Certificate, ok bool, err error) {
	v := tx.Bucket(bucketCerts).Get(s[:])
	if v == nil {
		return nil, false, nil
	}
	c, err = decodeCert(s, v)
	if err != nil {
		return nil, false, err
	}
	if withDER {
		c.DER = bytes.Clone(tx.Bucket(bucketDER).Get(s[:]))
	}
	return c, true, nil
}

func decodeCert(s ca.Serial, v []byte) (*ca.Certificate, error) {
	var r certRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("store: decoding certificate %s: %w", s, err)
	}
	return r.certificate(s, nil), nil
}

// putCert writes c's metadata and keeps the revoked index in step with its
// status. The DER and the by-ca index are written by Complete only.
func putCert(tx *bbolt.Tx, c *ca.Certificate) error {
	v, err := json.Marshal(recordOf(c))
	if err != nil {
		return fmt.Errorf("store: encoding certificate %s: %w", c.Serial, err)
	}
	if err := tx.Bucket(bucketCerts).Put(c.Serial[:], v); err != nil {
		return fmt.Errorf("store: storing certificate %s: %w", c.Serial, err)
	}
	idx, err := tx.Bucket(bucketRevoked).CreateBucketIfNotExists([]byte(c.CA))
	if err != nil {
		return fmt.Errorf("store: indexing certificate %s: %w", c.Serial, err)
	}
	if c.Status == ca.StatusGood {
		err = idx.Delete(c.Serial[:])
	} else {
		err = idx.Put(c.Serial[:], []byte{indexValue(c.Status)})
	}
	if err != nil {
		return fmt.Errorf("store: indexing certificate %s: %w", c.Serial, err)
	}
	return nil
}

// certificateASN1 is the outer Certificate of RFC 5280 section 4.1.
type certificateASN1 struct {
	TBSCertificate     asn1.RawValue
	SignatureAlgorithm asn1.RawValue
	SignatureValue     asn1.BitString
}

// rawTBS returns the DER TBSCertificate inside a certificate.
func rawTBS(der []byte) ([]byte, error) {
	var c certificateASN1
	rest, err := asn1.Unmarshal(der, &c)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%d bytes after the certificate", len(rest))
	}
	return c.TBSCertificate.FullBytes, nil
}
