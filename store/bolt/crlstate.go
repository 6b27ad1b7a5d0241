package bolt

import (
	"context"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/oces-pki/oces/ca"
)

// crlStateKey is where a CA's CRL publisher state lives in the meta bucket.
func crlStateKey(caName string) []byte { return []byte("crl-state/" + caName) }

// CRLState returns the state the CRL publisher last saved for the CA (its
// delta CRL bases, opaque here), or nil if it has saved none.
func (db *DB) CRLState(ctx context.Context, caName string) ([]byte, error) {
	if caName == "" {
		return nil, fmt.Errorf("store: reading CRL state: %w: need a CA name", ca.ErrInvalidRequest)
	}
	var out []byte
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(crlStateKey(caName)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: reading CRL state of %s: %w", caName, err)
	}
	return out, nil
}

// SetCRLState durably replaces the CRL publisher's state for the CA.
func (db *DB) SetCRLState(ctx context.Context, caName string, state []byte) error {
	if caName == "" || len(state) == 0 || len(state) > 64<<10 {
		return fmt.Errorf("store: saving CRL state: %w: need a CA name and 1 to 65536 bytes", ca.ErrInvalidRequest)
	}
	v := append([]byte(nil), state...)
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(crlStateKey(caName), v)
	})
	if err != nil {
		return fmt.Errorf("store: saving CRL state of %s: %w", caName, err)
	}
	return nil
}
