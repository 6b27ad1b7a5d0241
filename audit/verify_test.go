package audit_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/internal/audittest"
)

// chainFixture is one chain of 1000 events with checkpoints every 100
// records, built once and copied for every tampering case.
var chainFixture struct {
	once  sync.Once
	path  string
	key   crypto.Signer
	cps   []uint64 // sequence numbers of the checkpoint records
	total uint64
}

func fixture(t *testing.T) (path string, key crypto.Signer, cps []uint64, total uint64) {
	t.Helper()
	f := &chainFixture
	f.once.Do(func() {
		f.key = newKey(t)
		f.path = buildChain(t, fixtureDir, 1000, 100, f.key)
		for _, r := range records(t, f.path) {
			if r.Checkpoint != nil {
				f.cps = append(f.cps, r.Seq)
			}
			f.total = r.Seq
		}
	})
	if f.path == "" {
		t.Fatal("building the fixture failed")
	}
	return f.path, f.key, f.cps, f.total
}

func TestVerifyIntact(t *testing.T) {
	path, key, cps, total := fixture(t)
	rep, err := verifyFile(t, copyFile(t, path), key.Public())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if rep.Records != total || rep.LastSeq != total || rep.Checkpoints != uint64(len(cps)) {
		t.Errorf("report %+v, want %d records and %d checkpoints", rep, total, len(cps))
	}
	if len(cps) < 10 || rep.Signed != total-1 || rep.Unsigned != 0 {
		t.Errorf("checkpoints at %v; report signed %d, unsigned %d; want all but the final checkpoint signed", cps, rep.Signed, rep.Unsigned)
	}
	if rep.KeyFromChain {
		t.Error("KeyFromChain with a key given")
	}
}

func TestVerifyTampered(t *testing.T) {
	path, key, cps, _ := fixture(t)
	other := newKey(t)
	c1, c2 := cps[0], cps[1]
	for _, tc := range []struct {
		name    string
		tamper  func(path string) error
		pub     crypto.PublicKey // nil: the audit key
		noPub   bool
		seq     uint64 // 0: no error expected
		problem audit.Problem
		message string
	}{
		{name: "intact, key from the chain", tamper: func(string) error { return nil }, noPub: true},
		{name: "bit flipped", tamper: func(p string) error { return audittest.Tamper(p, 500) },
			seq: 500, problem: audit.ProblemHash, message: "audit: record 500: hash mismatch (content altered)"},
		{name: "field altered", tamper: func(p string) error {
			return audittest.Edit(p, 234, false, func(r *audit.Record) { r.Outcome = "denied" })
		}, seq: 234, problem: audit.ProblemHash, message: "hash mismatch (content altered)"},
		{name: "field altered and rehashed", tamper: func(p string) error {
			return audittest.Edit(p, 499, true, func(r *audit.Record) { r.Actor.Subject = "CN=Someone Else" })
		}, seq: 500, problem: audit.ProblemPrev, message: "audit: record 500: prev does not match record 499"},
		{name: "record deleted", tamper: func(p string) error { return audittest.Delete(p, 78) },
			seq: 77, problem: audit.ProblemGap, message: "audit: gap after 77"},
		{name: "first record deleted", tamper: func(p string) error { return audittest.Delete(p, 1) },
			seq: 0, problem: audit.ProblemGap, message: "audit: gap after 0"},
		{name: "records reordered", tamper: func(p string) error { return audittest.Swap(p, 300, 301) },
			seq: 300, problem: audit.ProblemSequence, message: "audit: record 300: out of sequence"},
		{name: "checkpoint re-signed with another key", tamper: func(p string) error {
			return audittest.Edit(p, c2, true, func(r *audit.Record) { resign(t, r, other) })
		}, seq: c2, problem: audit.ProblemSignature, message: "bad signature"},
		{name: "checkpoint signature altered", tamper: func(p string) error {
			return audittest.Edit(p, c1, true, func(r *audit.Record) { r.Checkpoint.Signature[10] ^= 1 })
		}, seq: c1, problem: audit.ProblemSignature, message: "bad signature"},
		{name: "recorded key replaced and re-signed", tamper: func(p string) error {
			return audittest.Edit(p, c1, true, func(r *audit.Record) {
				r.Checkpoint.PublicKey, _ = x509.MarshalPKIXPublicKey(other.Public())
				resign(t, r, other)
			})
		}, seq: c1, problem: audit.ProblemKey, message: "wrong key"},
		{name: "tail forged and re-signed with another key", tamper: func(p string) error {
			return audittest.Forge(p, 550, func(r *audit.Record) {
				if r.Seq == 550 {
					r.Outcome = "denied"
				}
				if r.Checkpoint != nil {
					resign(t, r, other)
				}
			})
		}, seq: firstAfter(cps, 550), problem: audit.ProblemSignature, message: "bad signature"},
		{name: "whole chain forged with another key", tamper: forgeAll(t, other),
			seq: c1, problem: audit.ProblemKey, message: "wrong key"},
		{name: "verified with another key", tamper: func(string) error { return nil }, pub: other.Public(),
			seq: c1, problem: audit.ProblemKey, message: "wrong key"},
		{name: "checkpoint over another hash", tamper: func(p string) error {
			return audittest.Edit(p, c1, true, func(r *audit.Record) { r.Checkpoint.Hash[0] ^= 1; resign(t, r, key) })
		}, seq: c1, problem: audit.ProblemCheckpoint, message: "has another hash"},
		{name: "checkpoint turned into an event", tamper: func(p string) error {
			return audittest.Edit(p, c1, true, func(r *audit.Record) { r.Action = audit.ActionCRLSign })
		}, seq: c1, problem: audit.ProblemCheckpoint, message: "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := copyFile(t, path)
			if err := tc.tamper(p); err != nil {
				t.Fatalf("tampering: %v", err)
			}
			pub := tc.pub
			if pub == nil && !tc.noPub {
				pub = key.Public()
			}
			rep, err := verifyFile(t, p, pub)
			checkVerify(t, rep, err, tc.seq, tc.problem, tc.message)
		})
	}
}

// firstAfter is the first checkpoint at or after seq.
func firstAfter(cps []uint64, seq uint64) uint64 {
	for _, c := range cps {
		if c >= seq {
			return c
		}
	}
	return 0
}

// forgeAll rewrites the whole chain with key as the audit key.
func forgeAll(t *testing.T, key crypto.Signer) func(string) error {
	return func(p string) error {
		return audittest.Forge(p, 1, func(r *audit.Record) {
			if r.Checkpoint == nil {
				return
			}
			if r.Checkpoint.PublicKey != nil {
				r.Checkpoint.PublicKey, _ = x509.MarshalPKIXPublicKey(key.Public())
			}
			resign(t, r, key)
		})
	}
}

// TestVerifyForgedKeyFromChain shows why `oces audit verify` must be given
// the audit key: a chain forged whole under another key verifies when the
// key is taken from the chain, and only its fingerprint tells.
func TestVerifyForgedKeyFromChain(t *testing.T) {
	path, key, _, _ := fixture(t)
	p := copyFile(t, path)
	if err := forgeAll(t, newKey(t))(p); err != nil {
		t.Fatal(err)
	}
	rep, err := verifyFile(t, p, nil)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	real, _ := x509.MarshalPKIXPublicKey(key.Public())
	if !rep.KeyFromChain || rep.KeyFingerprint == fingerprint(real) {
		t.Errorf("report %+v: want the forger's key fingerprint, from the chain", rep)
	}
}

// checkVerify checks Verify's outcome: success when problem is 0, else a
// *ChainError naming seq with that problem and message.
func checkVerify(t *testing.T, rep *audit.Report, err error, seq uint64, problem audit.Problem, message string) {
	t.Helper()
	if problem == 0 {
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		return
	}
	var ce *audit.ChainError
	if !errors.As(err, &ce) || !errors.Is(err, audit.ErrBroken) {
		t.Fatalf("Verify = %v, want a *ChainError", err)
	}
	t.Log(err)
	if ce.Seq != seq || ce.Problem != problem || !strings.Contains(err.Error(), message) {
		t.Errorf("Verify = %q (seq %d, problem %d), want seq %d, problem %d, %q", err, ce.Seq, ce.Problem, seq, problem, message)
	}
	if rep == nil || (problem != audit.ProblemGap && rep.LastSeq != seq-1) {
		t.Errorf("report %+v should stop before record %d", rep, seq)
	}
}

// TestVerifyTruncatedTail documents the limit of a hash chain: removing the
// newest records is not detectable from the chain alone, but the report
// shows where the signed part ends.
func TestVerifyTruncatedTail(t *testing.T) {
	path, key, _, total := fixture(t)
	p := copyFile(t, path)
	for seq := total; seq > total-5; seq-- {
		if err := audittest.Delete(p, seq); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := verifyFile(t, p, key.Public())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if rep.LastSeq != total-5 || rep.Unsigned == 0 || rep.Signed+rep.Unsigned > rep.LastSeq {
		t.Errorf("report %+v after truncating to %d", rep, total-5)
	}
}

func TestVerifyEmpty(t *testing.T) {
	t.Parallel()
	db, _ := openStore(t, t.TempDir()+"/oces.db")
	rep, err := audit.Verify(context.Background(), db, nil)
	if err != nil || rep.Records != 0 {
		t.Errorf("Verify of an empty chain = %+v, %v", rep, err)
	}
}

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}
