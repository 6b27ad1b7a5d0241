package bolt

import (
	"bytes"
	"context"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/oces-pki/oces/ca"
)

// scanChunk is how many certificates ForEachCertificate and ForEachRevoked
// read per read transaction. Short transactions keep a long scan from
// holding back the writer when the file grows and bbolt must remap it.
const scanChunk = 1000

// query is a listing as the store runs it.
type query struct {
	ca.ListQuery
	nonGood bool // only suspended and revoked certificates
	withDER bool
	// visited, when set, counts the records scanPage reads (tests).
	visited *int
}

// Certificates lists completed certificates in serial order, with their DER.
// It reads an index instead of every certificate when q names a CA, and the
// revoked index when q also asks for suspended or revoked ones. Limit is
// capped at 1000.
func (db *DB) Certificates(ctx context.Context, q ca.ListQuery) (*ca.CertificatePage, error) {
	if q.Status != "" {
		if _, err := ca.ParseStatus(string(q.Status)); err != nil {
			return nil, fmt.Errorf("store: listing certificates: %w: %w", ca.ErrInvalidRequest, err)
		}
	}
	limit := q.Limit
	if limit <= 0 {
		limit = defaultPageLimit
	}
	limit = min(limit, maxPageLimit)
	page := &ca.CertificatePage{Certificates: []*ca.Certificate{}}
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		certs, more, err := scanPage(tx, query{ListQuery: q, withDER: true}, limit)
		if err != nil {
			return err
		}
		page.Certificates = append(page.Certificates, certs...)
		if more {
			next := certs[len(certs)-1].Serial
			page.Next = &next
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// ForEachCertificate calls fn for every completed certificate of caName (of
// every CA if caName is empty) in serial order, and stops at fn's first
// error, which it returns. The certificates carry no DER: status services do
// not need it and a full scan should not read it; Certificate has it. The
// scan is not one snapshot: it reads in chunks, and fn runs outside any
// transaction, so fn may call the store. A certificate changed during the
// scan is seen once, in its old or its new state.
func (db *DB) ForEachCertificate(ctx context.Context, caName string, fn func(*ca.Certificate) error) error {
	return db.forEach(ctx, query{ListQuery: ca.ListQuery{CA: caName}}, fn)
}

// ForEachRevoked calls fn for every suspended or revoked certificate of
// caName in serial order, reading only the revoked index of that CA, never
// the good certificates. Otherwise it behaves as ForEachCertificate.
func (db *DB) ForEachRevoked(ctx context.Context, caName string, fn func(*ca.Certificate) error) error {
	if caName == "" {
		return fmt.Errorf("store: listing revoked certificates: %w: need a CA name", ca.ErrInvalidRequest)
	}
	return db.forEach(ctx, query{ListQuery: ca.ListQuery{CA: caName}, nonGood: true}, fn)
}

func (db *DB) forEach(ctx context.Context, q query, fn func(*ca.Certificate) error) error {
	for {
		var (
			certs []*ca.Certificate
			more  bool
		)
		err := db.view(ctx, func(tx *bbolt.Tx) error {
			var err error
			certs, more, err = scanPage(tx, q, db.chunk)
			return err
		})
		if err != nil {
			return err
		}
		for _, c := range certs {
			if err := fn(c); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
		q.After = certs[len(certs)-1].Serial
	}
}

// scanPage reads up to limit certificates that match q and follow q.After;
// more reports whether at least one further match exists.
func scanPage(tx *bbolt.Tx, q query, limit int) (certs []*ca.Certificate, more bool, err error) {
	cur, isIndex, statusIndex := source(tx, q)
	if cur == nil {
		return nil, false, nil
	}
	recs := tx.Bucket(bucketCerts)
	k, v := cur.Seek(q.After[:])
	if k != nil && bytes.Equal(k, q.After[:]) {
		k, v = cur.Next()
	}
	for ; k != nil; k, v = cur.Next() {
		if len(k) != len(ca.Serial{}) {
			continue
		}
		if statusIndex && q.Status != "" && (len(v) != 1 || v[0] != indexValue(q.Status)) {
			continue
		}
		if isIndex {
			if v = recs.Get(k); v == nil {
				continue
			}
		}
		if q.visited != nil {
			*q.visited++
		}
		s := ca.Serial(k)
		c, err := decodeCert(s, v)
		if err != nil {
			return nil, false, err
		}
		if !q.match(c) {
			continue
		}
		if len(certs) == limit {
			return certs, true, nil
		}
		if q.withDER {
			c.DER = bytes.Clone(tx.Bucket(bucketDER).Get(k))
		}
		certs = append(certs, c)
	}
	return certs, false, nil
}

// source picks the narrowest bucket to scan for q: the CA's revoked index,
// the index of the CA's profile, the CA's index, or all certificates. It
// returns a nil cursor when the index is known and empty, hence there are
// no certificates to list.
func source(tx *bbolt.Tx, q query) (cur *bbolt.Cursor, isIndex, statusIndex bool) {
	if q.CA == "" {
		return tx.Bucket(bucketCerts).Cursor(), false, false
	}
	if q.Profile != "" && !q.nonGood && q.Status != ca.StatusSuspended && q.Status != ca.StatusRevoked {
		if b, ok := profileIndex(tx, q.CA, q.Profile); ok {
			if b == nil {
				return nil, false, false
			}
			return b.Cursor(), true, false
		}
	}
	if q.nonGood || q.Status == ca.StatusSuspended || q.Status == ca.StatusRevoked {
		if b := tx.Bucket(bucketRevoked).Bucket([]byte(q.CA)); b != nil {
			return b.Cursor(), true, true
		}
		return nil, false, false
	}
	if b := tx.Bucket(bucketByCA).Bucket([]byte(q.CA)); b != nil {
		return b.Cursor(), true, false
	}
	return nil, false, false
}

func (q *query) match(c *ca.Certificate) bool {
	switch {
	case q.CA != "" && c.CA != q.CA,
		q.Profile != "" && c.Profile != q.Profile,
		q.Status != "" && c.Status != q.Status,
		q.nonGood && c.Status == ca.StatusGood:
		return false
	}
	return true
}
