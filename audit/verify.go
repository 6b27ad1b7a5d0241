package audit

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Source is a stored chain, as Verify reads it.
type Source interface {
	// AuditRecords calls fn with the sequence number under which each
	// record is stored and its stored bytes (Record.MarshalBinary), in
	// ascending order of seq, starting at from. It stops at fn's first error
	// and returns it. data is valid only during the call. It reports the
	// records as stored, however damaged: Verify judges them.
	AuditRecords(ctx context.Context, from uint64, fn func(seq uint64, data []byte) error) error
}

// MaxCheckpointLag is how far behind the head a checkpoint may sign: a
// store refuses a checkpoint over record s once the head is past
// s+MaxCheckpointLag, so that Verify needs to remember only that many
// hashes.
const MaxCheckpointLag = 1<<14 - 1

const window = MaxCheckpointLag + 1

// Report is what Verify found. On failure it describes the chain up to the
// record before the first broken one.
type Report struct {
	Records     uint64 // records verified, checkpoints included
	Checkpoints uint64 // valid checkpoints among them
	LastSeq     uint64 // the last record verified
	Head        Hash   // its hash
	// Signed is the newest record covered by a valid checkpoint, 0 if none:
	// records 1 to Signed are authenticated by the audit key. Unsigned
	// counts the records after it, other than valid checkpoints, which are
	// protected by the hash chain only; a clean shutdown of the
	// Checkpointer leaves none.
	Signed   uint64
	Unsigned uint64
	// KeyFingerprint is the SHA-256 (hex) of the audit key's PKIX encoding.
	KeyFingerprint string
	// KeyFromChain is true when Verify was given no key and trusted the one
	// recorded in the first checkpoint: compare KeyFingerprint with the
	// fingerprint recorded at the key ceremony.
	KeyFromChain bool
}

// Verify reads src from record 1 and checks, for every record, that it
// decodes, that its stored hash is the hash of its content, that it is
// stored under its own sequence number with no gap before it, that its Prev
// is the previous record's hash, and for checkpoints that they sign a
// record of the chain with the audit key. pub is the audit key; nil trusts
// the key recorded in the first checkpoint (see Report.KeyFromChain).
//
// The first failure is returned as a *ChainError naming the record, with
// the report up to it. Memory use does not grow with the chain.
func Verify(ctx context.Context, src Source, pub crypto.PublicKey) (*Report, error) {
	v, err := newVerifier(pub)
	if err != nil {
		return nil, err
	}
	err = src.AuditRecords(ctx, 1, func(seq uint64, data []byte) error {
		if v.rep.Records%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("audit: verifying: %w", err)
			}
		}
		return v.step(seq, data)
	})
	v.rep.Unsigned = v.rep.LastSeq - v.rep.Signed - uint64(len(v.lateCPs))
	if err != nil {
		var ce *ChainError
		if errors.As(err, &ce) {
			return &v.rep, ce
		}
		if strings.HasPrefix(err.Error(), "audit: ") {
			return &v.rep, err
		}
		return &v.rep, fmt.Errorf("audit: reading records: %w", err)
	}
	return &v.rep, nil
}

type ringEntry struct {
	seq  uint64
	hash Hash
}

// verifier is Verify's state: the expected next record, the previous hash,
// the hashes of the last MaxCheckpointLag records and the audit key.
type verifier struct {
	rep    Report
	next   uint64
	prev   Hash
	ring   []ringEntry
	key    crypto.PublicKey
	keyDER []byte
	// lateCPs are the valid checkpoint records after rep.Signed.
	lateCPs []uint64
}

func newVerifier(pub crypto.PublicKey) (*verifier, error) {
	v := &verifier{next: 1, ring: make([]ringEntry, window)}
	if pub != nil {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return nil, fmt.Errorf("audit: encoding the audit key: %w", err)
		}
		v.key, v.keyDER = pub, der
		v.rep.KeyFingerprint = fingerprint(der)
	}
	return v, nil
}

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// step checks one stored record.
func (v *verifier) step(seq uint64, data []byte) error {
	switch {
	case seq > v.next:
		return &ChainError{Seq: v.next - 1, Problem: ProblemGap, Detail: fmt.Sprintf("next record is %d", seq)}
	case seq < v.next:
		return &ChainError{Seq: seq, Problem: ProblemSequence, Detail: fmt.Sprintf("stored after record %d", v.next-1)}
	}
	var r Record
	if err := r.UnmarshalBinary(data); err != nil {
		return &ChainError{Seq: seq, Problem: ProblemMalformed, Detail: strings.TrimPrefix(err.Error(), ErrMalformed.Error()+": ")}
	}
	if enc, stored, _ := storedHash(data); sha256.Sum256(enc) != stored {
		return &ChainError{Seq: seq, Problem: ProblemHash}
	}
	if r.Seq != seq {
		return &ChainError{Seq: seq, Problem: ProblemSequence, Detail: fmt.Sprintf("holds record %d: records reordered or renumbered", r.Seq)}
	}
	if r.Prev != v.prev {
		return &ChainError{Seq: seq, Problem: ProblemPrev}
	}
	if r.Checkpoint != nil || r.Action == ActionCheckpoint {
		if err := v.checkpoint(&r); err != nil {
			return err
		}
	}
	v.ring[seq%window] = ringEntry{seq: seq, hash: r.Hash}
	v.prev, v.next = r.Hash, seq+1
	v.rep.Records++
	v.rep.LastSeq, v.rep.Head = seq, r.Hash
	return nil
}

// checkpoint checks a checkpoint record whose chaining is already checked.
func (v *verifier) checkpoint(r *Record) error {
	cp := r.Checkpoint
	bad := func(p Problem, detail string) error {
		e := &ChainError{Seq: r.Seq, Problem: p, Detail: detail}
		if cp != nil {
			e.Covered = cp.Seq
		}
		return e
	}
	if cp == nil || r.Action != ActionCheckpoint {
		return bad(ProblemCheckpoint, "a checkpoint needs both the action "+ActionCheckpoint+" and a signature")
	}
	if cp.Seq >= r.Seq || r.Seq-cp.Seq > MaxCheckpointLag {
		return bad(ProblemCheckpoint, "signs a record outside the window before it")
	}
	if e := v.ring[cp.Seq%window]; e.seq != cp.Seq || e.hash != cp.Hash {
		return bad(ProblemCheckpoint, fmt.Sprintf("record %d has another hash", cp.Seq))
	}
	if err := v.adoptKey(cp); err != nil {
		return bad(ProblemKey, err.Error())
	}
	if err := verifySignature(v.key, CheckpointMessage(cp.Seq, cp.Hash, r.Time), cp.Signature); err != nil {
		return bad(ProblemSignature, "")
	}
	v.rep.Checkpoints++
	if cp.Seq > v.rep.Signed {
		v.rep.Signed = cp.Seq
		v.lateCPs = slices.DeleteFunc(v.lateCPs, func(s uint64) bool { return s <= cp.Seq })
	}
	v.lateCPs = append(v.lateCPs, r.Seq)
	return nil
}

// adoptKey checks the key a checkpoint records against the audit key, and
// takes it as the audit key if none is known yet.
func (v *verifier) adoptKey(cp *Checkpoint) error {
	if len(cp.PublicKey) == 0 {
		if v.key == nil {
			return errors.New("no audit key given and none recorded in the first checkpoint")
		}
		return nil
	}
	k, err := x509.ParsePKIXPublicKey(cp.PublicKey)
	if err != nil {
		return fmt.Errorf("recorded key does not parse: %v", err)
	}
	if len(cp.Certificate) > 0 {
		c, err := x509.ParseCertificate(cp.Certificate)
		if err != nil {
			return fmt.Errorf("recorded certificate does not parse: %v", err)
		}
		if !bytes.Equal(c.RawSubjectPublicKeyInfo, cp.PublicKey) {
			return errors.New("recorded certificate is not for the recorded key")
		}
	}
	if v.key == nil {
		v.key, v.keyDER = k, bytes.Clone(cp.PublicKey)
		v.rep.KeyFingerprint, v.rep.KeyFromChain = fingerprint(cp.PublicKey), true
		return nil
	}
	if !bytes.Equal(v.keyDER, cp.PublicKey) {
		return fmt.Errorf("recorded key sha256:%s is not the audit key sha256:%s", fingerprint(cp.PublicKey), v.rep.KeyFingerprint)
	}
	return nil
}
