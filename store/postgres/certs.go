package postgres

import (
	"bytes"
	"context"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
)

// certColumns are the columns scanCert reads, in its order; der last so
// that scans without it can leave it out.
const certColumns = `serial, ca, profile, subject_id, partition, not_before, not_after,
	issued_at, status, status_changed, reason, invalidity_date, revoked_at`

// scanCert reads one row of certColumns (and der if withDER).
func scanCert(row pgx.Row, withDER bool) (*ca.Certificate, error) {
	var (
		c                                      ca.Certificate
		serial                                 []byte
		partition                              int32
		issued, changed, invalidity, revokedAt *time.Time
		status                                 *string
		reason                                 string
	)
	dest := []any{&serial, &c.CA, &c.Profile, &c.SubjectID, &partition, &c.NotBefore, &c.NotAfter,
		&issued, &status, &changed, &reason, &invalidity, &revokedAt}
	if withDER {
		dest = append(dest, &c.DER)
	}
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	if len(serial) != len(c.Serial) {
		return nil, fmt.Errorf("store: a certificate row has a %d-byte serial", len(serial))
	}
	copy(c.Serial[:], serial)
	c.Partition = int(partition)
	c.NotBefore, c.NotAfter = c.NotBefore.UTC(), c.NotAfter.UTC()
	c.IssuedAt, c.StatusChanged, c.InvalidityDate, c.RevokedAt = utc(issued), utc(changed), utc(invalidity), utc(revokedAt)
	if status != nil {
		c.Status = ca.Status(*status)
	}
	c.Reason = ca.RevocationReason(reason)
	return &c, nil
}

func utc(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func nullBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// Reserve durably records p. It fails with ca.ErrSerialExists if the serial
// was ever reserved, on any CA, by any process.
func (db *DB) Reserve(ctx context.Context, p *ca.Prepared) error {
	return db.ReserveAudited(ctx, p)
}

// ReserveAudited is Reserve that registers p.NewSubject and appends events
// to the audit chain in the same transaction: all are stored or none is.
func (db *DB) ReserveAudited(ctx context.Context, p *ca.Prepared, events ...audit.Event) error {
	if p == nil || p.CA == "" || p.Serial == (ca.Serial{}) {
		return fmt.Errorf("store: reserving serial: %w: need a non-zero serial and a CA", ca.ErrInvalidRequest)
	}
	var subject []byte
	if s := p.NewSubject; s != nil {
		if s.ID == "" || s.Kind == "" {
			return fmt.Errorf("store: reserving serial %s: registering subject: %w: need an identifier and a kind", p.Serial, ca.ErrInvalidRequest)
		}
		var err error
		if subject, err = json.Marshal(s); err != nil {
			return fmt.Errorf("store: encoding subject %s: %w", s.ID, err)
		}
	}
	s := p.Serial
	return db.update(ctx, withAudit(events, func(ctx context.Context, b *batch) error {
		tag, err := b.tx.Exec(ctx, `INSERT INTO certificates (serial, ca, profile, subject_id, partition, not_before, not_after, created, tbs)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (serial) DO NOTHING`,
			s[:], p.CA, p.Profile, p.SubjectID, p.Partition, p.NotBefore, p.NotAfter, p.Created, nullBytes(p.TBS))
		if err != nil {
			return fmt.Errorf("store: reserving serial %s: %w", s, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("store: reserving serial %s: %w", s, ca.ErrSerialExists)
		}
		if sub := p.NewSubject; sub != nil {
			tag, err := b.tx.Exec(ctx, "INSERT INTO subjects (id, kind, lookup, data) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
				sub.ID, string(sub.Kind), nullBytes(sub.Key), subject)
			if err != nil {
				return fmt.Errorf("store: reserving serial %s: registering subject %s: %w", s, sub.ID, err)
			}
			if tag.RowsAffected() == 0 {
				return fmt.Errorf("store: reserving serial %s: registering subject %s: %w: identifier or lookup key taken", s, sub.ID, ca.ErrSubjectExists)
			}
		}
		b.issued[p.CA]++
		return nil
	}))
}

// Complete durably stores the signed certificate of a reserved serial and
// marks it good. It fails with ca.ErrNotFound if the serial is not reserved,
// ca.ErrConflict if it was completed already, and ca.ErrInvalidRequest if
// der does not carry the TBSCertificate that was reserved.
func (db *DB) Complete(ctx context.Context, serial ca.Serial, der []byte, issuedAt time.Time) (*ca.Certificate, error) {
	return db.CompleteAudited(ctx, serial, der, issuedAt)
}

// CompleteAudited is Complete that appends events to the audit chain in the
// same transaction: both are stored or neither is.
func (db *DB) CompleteAudited(ctx context.Context, serial ca.Serial, der []byte, issuedAt time.Time, events ...audit.Event) (*ca.Certificate, error) {
	if len(der) == 0 {
		return nil, fmt.Errorf("store: completing serial %s: %w: empty certificate", serial, ca.ErrInvalidRequest)
	}
	tbs, err := rawTBS(der)
	if err != nil {
		tbs = nil // matches only a reservation without a TBS
	}
	var out *ca.Certificate
	err = db.update(ctx, withAudit(events, func(ctx context.Context, b *batch) error {
		out = nil
		row := b.tx.QueryRow(ctx, `UPDATE certificates SET der = $2, issued_at = $3, status = 'good'
			WHERE serial = $1 AND der IS NULL AND abandoned IS NULL AND (tbs IS NULL OR tbs = $4) RETURNING `+certColumns, serial[:], der, issuedAt, tbs)
		c, err := scanCert(row, false)
		if isNoRows(err) {
			return completeRefusal(ctx, b.tx, serial)
		}
		if err != nil {
			return fmt.Errorf("store: completing serial %s: %w", serial, err)
		}
		out = c
		return nil
	}))
	if err != nil {
		return nil, err
	}
	out.DER = bytes.Clone(der)
	return out, nil
}

// completeRefusal tells why Complete's update matched no row.
func completeRefusal(ctx context.Context, tx conn, serial ca.Serial) error {
	var done, abandoned bool
	err := tx.QueryRow(ctx, "SELECT der IS NOT NULL, abandoned IS NOT NULL FROM certificates WHERE serial = $1", serial[:]).Scan(&done, &abandoned)
	switch {
	case isNoRows(err):
		return fmt.Errorf("store: completing serial %s: %w: not reserved", serial, ca.ErrNotFound)
	case err != nil:
		return fmt.Errorf("store: completing serial %s: %w", serial, err)
	case done:
		return fmt.Errorf("store: completing serial %s: %w: already completed", serial, ca.ErrConflict)
	case abandoned:
		return fmt.Errorf("store: completing serial %s: %w: the reservation was abandoned at a start-up", serial, ca.ErrConflict)
	}
	return fmt.Errorf("store: completing serial %s: %w: the certificate does not carry the reserved TBSCertificate", serial, ca.ErrInvalidRequest)
}

// Certificate returns one completed certificate with its DER, or
// ca.ErrNotFound.
func (db *DB) Certificate(ctx context.Context, serial ca.Serial) (*ca.Certificate, error) {
	if err := db.readable(ctx); err != nil {
		return nil, err
	}
	c, err := scanCert(db.pool.QueryRow(ctx, "SELECT "+certColumns+", der FROM certificates WHERE serial = $1 AND der IS NOT NULL", serial[:]), true)
	if isNoRows(err) {
		return nil, fmt.Errorf("store: finding certificate %s: %w", serial, ca.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: finding certificate %s: %w", serial, err)
	}
	return c, nil
}

// UpdateCertificate runs fn on the stored certificate, locked for the
// transaction, and stores the result if fn returns nil; if fn fails, its
// error is returned as it is and nothing changes. fn may run more than once
// and must not call the store. It may change the status fields only:
// changing the serial, CA or DER is refused with ca.ErrInvalidRequest.
func (db *DB) UpdateCertificate(ctx context.Context, serial ca.Serial, fn func(*ca.Certificate) error) (*ca.Certificate, error) {
	return db.UpdateCertificateAudited(ctx, serial, fn)
}

// UpdateCertificateAudited is UpdateCertificate that appends events to the
// audit chain in the same transaction, if fn succeeds and the change is
// stored: both are stored or neither is.
func (db *DB) UpdateCertificateAudited(ctx context.Context, serial ca.Serial, fn func(*ca.Certificate) error, events ...audit.Event) (*ca.Certificate, error) {
	var out *ca.Certificate
	err := db.update(ctx, withAudit(events, func(ctx context.Context, b *batch) error {
		out = nil
		c, err := scanCert(b.tx.QueryRow(ctx, "SELECT "+certColumns+", der FROM certificates WHERE serial = $1 AND der IS NOT NULL FOR UPDATE", serial[:]), true)
		if isNoRows(err) {
			return fmt.Errorf("store: updating certificate %s: %w", serial, ca.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: updating certificate %s: %w", serial, err)
		}
		orig := *c
		c.DER = bytes.Clone(orig.DER)
		if err := fn(c); err != nil {
			return err
		}
		if err := checkUpdate(c, &orig); err != nil {
			return err
		}
		_, err = b.tx.Exec(ctx, `UPDATE certificates SET profile = $2, subject_id = $3, partition = $4, not_before = $5, not_after = $6,
			issued_at = $7, status = $8, status_changed = $9, reason = $10, invalidity_date = $11, revoked_at = $12 WHERE serial = $1`,
			serial[:], c.Profile, c.SubjectID, c.Partition, c.NotBefore, c.NotAfter, nullTime(c.IssuedAt), string(c.Status),
			nullTime(c.StatusChanged), string(c.Reason), nullTime(c.InvalidityDate), nullTime(c.RevokedAt))
		if err != nil {
			return fmt.Errorf("store: updating certificate %s: %w", serial, err)
		}
		if c.Status != orig.Status || c.Reason != orig.Reason || !c.StatusChanged.Equal(orig.StatusChanged) {
			b.addChange(c)
		}
		out = c
		return nil
	}))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkUpdate refuses changes that would break the indexes or the record.
func checkUpdate(c, orig *ca.Certificate) error {
	if c.Serial != orig.Serial || c.CA != orig.CA || !bytes.Equal(c.DER, orig.DER) {
		return fmt.Errorf("store: updating certificate %s: %w: the serial, CA and DER cannot change", orig.Serial, ca.ErrInvalidRequest)
	}
	if _, err := ca.ParseStatus(string(c.Status)); err != nil {
		return fmt.Errorf("store: updating certificate %s: %w: %w", orig.Serial, ca.ErrInvalidRequest, err)
	}
	return nil
}

// CountIssued is how many serials have been reserved for caName; 0 for a
// CA that has none.
func (db *DB) CountIssued(ctx context.Context, caName string) (uint64, error) {
	if err := db.readable(ctx); err != nil {
		return 0, err
	}
	var n int64
	err := db.pool.QueryRow(ctx, "SELECT n FROM issued WHERE ca = $1", caName).Scan(&n)
	if err != nil && !isNoRows(err) {
		return 0, fmt.Errorf("store: counting serials of %s: %w", caName, err)
	}
	return uint64(n), nil
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
