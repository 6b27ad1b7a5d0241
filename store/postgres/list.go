package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/oces-pki/oces/ca"
)

// Certificates lists completed certificates in serial order, with their DER.
// Limit is capped at 1000.
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
	certs, err := db.page(ctx, db.pool, q, false, true, limit+1)
	if err != nil {
		return nil, err
	}
	page := &ca.CertificatePage{Certificates: certs}
	if len(certs) > limit {
		page.Certificates = certs[:limit]
		next := certs[limit-1].Serial
		page.Next = &next
	}
	return page, nil
}

// ForEachCertificate calls fn for every completed certificate of caName (of
// every CA if caName is empty) in serial order, and stops at fn's first
// error, which it returns. The certificates carry no DER. The scan reads in
// chunks by serial and calls fn outside the queries, so fn may call the
// store; a certificate changed during the scan is seen once, in its old or
// its new state.
func (db *DB) ForEachCertificate(ctx context.Context, caName string, fn func(*ca.Certificate) error) error {
	return db.forEach(ctx, ca.ListQuery{CA: caName}, false, fn)
}

// ForEachRevoked calls fn for every suspended or revoked certificate of
// caName in serial order, reading only the partial index of such
// certificates. Otherwise it behaves as ForEachCertificate.
func (db *DB) ForEachRevoked(ctx context.Context, caName string, fn func(*ca.Certificate) error) error {
	if caName == "" {
		return fmt.Errorf("store: listing revoked certificates: %w: need a CA name", ca.ErrInvalidRequest)
	}
	return db.forEach(ctx, ca.ListQuery{CA: caName}, true, fn)
}

func (db *DB) forEach(ctx context.Context, q ca.ListQuery, nonGood bool, fn func(*ca.Certificate) error) error {
	for {
		certs, err := db.page(ctx, db.rpool, q, nonGood, false, db.chunk)
		if err != nil {
			return err
		}
		for _, c := range certs {
			if err := fn(c); err != nil {
				return err
			}
		}
		if len(certs) < db.chunk {
			return nil
		}
		q.After = certs[len(certs)-1].Serial
	}
}

// page reads up to limit completed certificates that match q and follow
// q.After, in serial order.
func (db *DB) page(ctx context.Context, pool *pgxpool.Pool, q ca.ListQuery, nonGood, withDER bool, limit int) ([]*ca.Certificate, error) {
	if err := db.readable(ctx); err != nil {
		return nil, err
	}
	var where []string
	args := []any{q.After[:]}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	where = append(where, "serial > $1")
	if q.CA != "" {
		add("ca = ?", q.CA)
	}
	if q.Profile != "" {
		add("profile = ?", q.Profile)
	}
	switch {
	case q.Status != "":
		add("status = ?", string(q.Status))
	case nonGood:
		where = append(where, "status IN ('suspended', 'revoked')")
	default:
		where = append(where, "der IS NOT NULL")
	}
	cols := certColumns
	if withDER {
		cols += ", der"
	}
	args = append(args, limit)
	sql := fmt.Sprintf("SELECT %s FROM certificates WHERE %s ORDER BY serial LIMIT $%d", cols, strings.Join(where, " AND "), len(args))
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("store: listing certificates: %w", err)
	}
	defer rows.Close()
	certs := []*ca.Certificate{}
	for rows.Next() {
		c, err := scanCert(rows, withDER)
		if err != nil {
			return nil, fmt.Errorf("store: listing certificates: %w", err)
		}
		certs = append(certs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: listing certificates: %w", err)
	}
	return certs, nil
}
