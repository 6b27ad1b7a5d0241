package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/oces-pki/oces/ca"
)

// changeChunk bounds the log entries Changes reads per query.
const changeChunk = 1000

// ForEachChangedSince calls fn, in the order of their latest change, once
// for every certificate of caName whose status changed at or after since,
// with the certificate as it is now. It stops at fn's first error, which it
// returns; fn runs outside any query and may call the store. Times are
// kept to the microsecond, and since is rounded down to one, so a change
// at since is always included.
func (db *DB) ForEachChangedSince(ctx context.Context, caName string, since time.Time, fn func(*ca.Certificate) error) error {
	if caName == "" {
		return fmt.Errorf("store: listing status changes: %w: need a CA name", ca.ErrInvalidRequest)
	}
	if err := db.readable(ctx); err != nil {
		return err
	}
	rows, err := db.rpool.Query(ctx, `SELECT `+prefixed("c.", certColumns)+`
		FROM (SELECT serial, max(changed_at) AS last FROM changes WHERE ca = $1 AND changed_at >= $2 GROUP BY serial) ch
		JOIN certificates c ON c.serial = ch.serial AND c.ca = $1
		ORDER BY ch.last, ch.serial`, caName, since.Truncate(time.Microsecond))
	if err != nil {
		return fmt.Errorf("store: listing status changes of %s: %w", caName, err)
	}
	certs, err := collect(rows)
	if err != nil {
		return fmt.Errorf("store: listing status changes of %s: %w", caName, err)
	}
	for _, c := range certs {
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

func collect(rows pgx.Rows) ([]*ca.Certificate, error) {
	defer rows.Close()
	var certs []*ca.Certificate
	for rows.Next() {
		c, err := scanCert(rows, false)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	return certs, rows.Err()
}

// PruneChanges deletes the change log entries of caName older than before,
// returning how many it deleted. Delta CRLs never look further back than
// their base CRL, and followers are seconds behind at most.
func (db *DB) PruneChanges(ctx context.Context, caName string, before time.Time) (int, error) {
	if err := db.readable(ctx); err != nil {
		return 0, err
	}
	tag, err := db.pool.Exec(ctx, "DELETE FROM changes WHERE ca = $1 AND changed_at < $2", caName, before.Truncate(time.Microsecond))
	if err != nil {
		return 0, fmt.Errorf("store: pruning status changes of %s: %w", caName, err)
	}
	return int(tag.RowsAffected()), nil
}

// ChangeSeq is the sequence number of the newest status change in the log;
// 0 before the first. A follower that reads it before loading its state
// and then follows from it misses nothing.
func (db *DB) ChangeSeq(ctx context.Context) (uint64, error) {
	if err := db.readable(ctx); err != nil {
		return 0, err
	}
	var seq int64
	if err := db.rpool.QueryRow(ctx, "SELECT change_seq FROM head WHERE id = 1").Scan(&seq); err != nil {
		return 0, fmt.Errorf("store: reading the change log head: %w", err)
	}
	return uint64(seq), nil
}

// Changes calls fn, in log order, for every status change with a sequence
// number after after, with the certificate as it is now, and returns the
// sequence number of the last change it passed to fn (after if none).
// Sequence numbers are gap-free in commit order: a change becomes visible
// only after every change numbered before it, so a reader that continues
// from the last number it saw never skips one.
func (db *DB) Changes(ctx context.Context, after uint64, fn func(seq uint64, c *ca.Certificate) error) (uint64, error) {
	type entry struct {
		seq uint64
		c   *ca.Certificate
	}
	for {
		if err := db.readable(ctx); err != nil {
			return after, err
		}
		rows, err := db.rpool.Query(ctx, `SELECT ch.seq, `+prefixed("c.", certColumns)+`
			FROM changes ch JOIN certificates c ON c.serial = ch.serial
			WHERE ch.seq > $1 ORDER BY ch.seq LIMIT $2`, int64(after), changeChunk)
		if err != nil {
			return after, fmt.Errorf("store: reading the change log: %w", err)
		}
		var entries []entry
		for rows.Next() {
			var seq int64
			c, err := scanCert(seqRow{rows, &seq}, false)
			if err != nil {
				rows.Close()
				return after, fmt.Errorf("store: reading the change log: %w", err)
			}
			entries = append(entries, entry{uint64(seq), c})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return after, fmt.Errorf("store: reading the change log: %w", err)
		}
		for _, e := range entries {
			if err := fn(e.seq, e.c); err != nil {
				return after, err
			}
			after = e.seq
		}
		if len(entries) < changeChunk {
			return after, nil
		}
	}
}

// seqRow scans a leading sequence number before the certificate columns.
type seqRow struct {
	pgx.Row
	seq *int64
}

func (r seqRow) Scan(dest ...any) error { return r.Row.Scan(append([]any{r.seq}, dest...)...) }

// Follow passes to o, in log order, every status change committed after
// after, until ctx ends; it returns ctx's error. It listens on the
// notification channel that every committing batch with changes wakes, and
// reads the log again every interval (1 s if 0) whatever it hears, so that
// a lost notification, a dropped connection or a streaming replica (where
// notifications do not arrive) costs at most one interval. A lost
// connection is re-opened with backoff.
func (db *DB) Follow(ctx context.Context, after uint64, interval time.Duration, o ca.StatusObserver) error {
	if interval <= 0 {
		interval = time.Second
	}
	deliver := func(_ uint64, c *ca.Certificate) error {
		o.StatusChanged(ctx, c)
		return nil
	}
	backoff := 100 * time.Millisecond
	for {
		conn, err := db.listen(ctx)
		if err != nil && ctx.Err() == nil {
			db.log.Warn("store: listening for status changes; reading the log every interval meanwhile", "err", err)
		}
		for ctx.Err() == nil {
			var cerr error
			if after, cerr = db.Changes(ctx, after, deliver); cerr != nil && ctx.Err() == nil {
				db.log.Warn("store: reading the change log", "err", cerr)
			}
			if conn == nil {
				break
			}
			wctx, cancel := context.WithTimeout(ctx, interval)
			_, err = conn.WaitForNotification(wctx)
			cancel()
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				break
			}
			backoff = 100 * time.Millisecond
		}
		if conn != nil {
			_ = conn.Close(context.WithoutCancel(ctx))
			if ctx.Err() == nil {
				db.log.Warn("store: the notification connection failed; re-opening it", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(backoff, interval)):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// listen opens a connection of its own, outside the pool, and LISTENs on
// the change channel.
func (db *DB) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, db.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return conn, nil
}

func prefixed(p, cols string) string {
	out := []byte{}
	start := true
	for i := 0; i < len(cols); i++ {
		ch := cols[i]
		if start && ch != ' ' && ch != '\t' && ch != '\n' {
			out = append(out, p...)
			start = false
		}
		if ch == ',' {
			start = true
		}
		out = append(out, ch)
	}
	return string(out)
}
