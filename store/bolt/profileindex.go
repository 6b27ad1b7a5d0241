package bolt

import (
	"encoding/json"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/oces-pki/oces/ca"
)

// The profile index: by-profile/<ca> 0x00 <profile> → serial → empty, one
// entry per completed certificate. A listing that names a CA and a
// profile reads it, so that finding the few certificates of a rare profile
// (the OCSP responder's own, officers', the TSA's) reads those and not
// every certificate of the CA. Files made before it existed get it built
// once, at Open, in transactions of indexChunk certificates.

var (
	bucketByProfile   = []byte("by-profile")
	metaProfileIndex  = []byte("index/by-profile")
	profileIndexBuilt = []byte{1}
)

const indexChunk = 10000

func profileKey(caName, profile string) []byte {
	return append(append([]byte(caName), 0), profile...)
}

// indexProfile adds c to the profile index.
func indexProfile(tx *bbolt.Tx, c *ca.Certificate) error {
	b, err := tx.Bucket(bucketByProfile).CreateBucketIfNotExists(profileKey(c.CA, c.Profile))
	if err == nil {
		err = b.Put(c.Serial[:], nil)
	}
	if err != nil {
		return fmt.Errorf("store: indexing certificate %s by profile: %w", c.Serial, err)
	}
	return nil
}

// profileIndex returns the index bucket of a CA's profile, nil if the CA
// has no certificate of that profile, and whether the index can be used.
func profileIndex(tx *bbolt.Tx, caName, profile string) (*bbolt.Bucket, bool) {
	if string(tx.Bucket(bucketMeta).Get(metaProfileIndex)) != string(profileIndexBuilt) {
		return nil, false
	}
	return tx.Bucket(bucketByProfile).Bucket(profileKey(caName, profile)), true
}

// buildProfileIndex indexes every completed certificate of a file that
// has no profile index yet, and marks the index built.
func buildProfileIndex(b *bbolt.DB) error {
	var after []byte
	for {
		done := false
		err := b.Update(func(tx *bbolt.Tx) error {
			if tx.Bucket(bucketMeta).Get(metaProfileIndex) != nil {
				done = true
				return nil
			}
			if _, err := tx.CreateBucketIfNotExists(bucketByProfile); err != nil {
				return err
			}
			cur := tx.Bucket(bucketCerts).Cursor()
			k, v := cur.First()
			if after != nil {
				if k, v = cur.Seek(after); k != nil && string(k) == string(after) {
					k, v = cur.Next()
				}
			}
			for n := 0; k != nil && n < indexChunk; k, v = cur.Next() {
				var r certRecord
				if err := json.Unmarshal(v, &r); err != nil {
					return fmt.Errorf("decoding certificate %x: %w", k, err)
				}
				if err := indexProfile(tx, r.certificate(ca.Serial(k), nil)); err != nil {
					return err
				}
				after = append(after[:0], k...)
				n++
			}
			if k == nil {
				done = true
				return tx.Bucket(bucketMeta).Put(metaProfileIndex, profileIndexBuilt)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("building the profile index: %w", err)
		}
		if done {
			return nil
		}
	}
}
