package audit

import (
	"errors"
	"fmt"
)

// ErrBroken is matched by every *ChainError: the chain fails verification.
var ErrBroken = errors.New("audit: chain broken")

// ErrStaleCheckpoint is returned by a store asked to append a checkpoint
// over a record that is not in the chain with that hash, or is more than
// MaxCheckpointLag records behind the head. The Checkpointer tries again.
var ErrStaleCheckpoint = errors.New("audit: stale checkpoint")

// Problem is what is wrong with a broken record.
type Problem int

// The problems Verify finds.
const (
	ProblemMalformed  Problem = iota + 1 // the stored bytes do not decode
	ProblemHash                          // the stored hash is not the hash of the content
	ProblemPrev                          // Prev is not the previous record's hash
	ProblemGap                           // records are missing
	ProblemSequence                      // a record is stored out of place
	ProblemSignature                     // a checkpoint's signature does not verify
	ProblemKey                           // a checkpoint names another key than the audit key
	ProblemCheckpoint                    // a checkpoint covers a record it cannot
)

// ChainError names the first broken record. For ProblemGap, Seq is the
// last record before the gap.
type ChainError struct {
	Seq     uint64
	Problem Problem
	// Covered is the record a broken checkpoint signs.
	Covered uint64
	Detail  string
}

func (e *ChainError) Error() string {
	var msg string
	switch e.Problem {
	case ProblemMalformed:
		msg = fmt.Sprintf("record %d: malformed", e.Seq)
	case ProblemHash:
		msg = fmt.Sprintf("record %d: hash mismatch (content altered)", e.Seq)
	case ProblemPrev:
		msg = fmt.Sprintf("record %d: prev does not match record %d", e.Seq, e.Seq-1)
	case ProblemGap:
		msg = fmt.Sprintf("gap after %d", e.Seq)
	case ProblemSequence:
		msg = fmt.Sprintf("record %d: out of sequence", e.Seq)
	case ProblemSignature:
		msg = fmt.Sprintf("checkpoint %d (over record %d): bad signature", e.Seq, e.Covered)
	case ProblemKey:
		msg = fmt.Sprintf("checkpoint %d (over record %d): wrong key", e.Seq, e.Covered)
	case ProblemCheckpoint:
		msg = fmt.Sprintf("checkpoint %d (over record %d): invalid", e.Seq, e.Covered)
	default:
		msg = fmt.Sprintf("record %d: broken", e.Seq)
	}
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return "audit: " + msg
}

// Is makes errors.Is(err, ErrBroken) true.
func (e *ChainError) Is(target error) bool { return target == ErrBroken }
