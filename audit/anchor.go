package audit

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
)

// # Anchors
//
// A chain cut back after its newest checkpoint is still a valid chain:
// nothing inside the store can show that records are missing from its
// end. A Checkpointer with an Anchorer therefore hands every checkpoint
// record it appends to something outside the store, such as a time-stamp
// authority whose tokens are kept elsewhere (RFC 3161): a verifier holding
// the newest token requires the chain to reach that checkpoint, with that
// hash. The token covers AnchorDigest(seq, hash) of the checkpoint record.

// Anchorer is told of every checkpoint record appended, after the append.
// A failure is logged; the checkpoint stands.
type Anchorer interface {
	Anchor(ctx context.Context, seq uint64, hash Hash) error
}

// AnchorDigest is the SHA-256 that an anchor of checkpoint record seq with
// hash covers:
//
//	SHA-256("OCES-AUDIT-ANCHOR-V1" uint64(seq) hash(32))
func AnchorDigest(seq uint64, h Hash) []byte {
	b := append([]byte("OCES-AUDIT-ANCHOR-V1"), binary.BigEndian.AppendUint64(nil, seq)...)
	sum := sha256.Sum256(append(b, h[:]...))
	return sum[:]
}

// anchor hands the checkpoint just appended to the Anchorer.
func (c *Checkpointer) anchor(ctx context.Context) {
	if c.cfg.Anchor == nil {
		return
	}
	head, err := c.cfg.Store.AuditHead(ctx)
	if err == nil && head.CheckpointSeq != head.Seq {
		return // another record came first; the next checkpoint is anchored
	}
	if err == nil {
		err = c.cfg.Anchor.Anchor(ctx, head.Seq, head.Hash)
	}
	if err != nil {
		c.cfg.Logger.WarnContext(ctx, "audit: anchoring the checkpoint failed; the next one will be anchored", "record", head.Seq, "err", err)
	}
}
