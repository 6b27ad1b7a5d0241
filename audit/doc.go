// Package audit keeps the tamper-evident record of OCES PKI: every officer
// action and every use of a CA key is an Event, appended to one linear,
// hash-chained sequence of Records, in the same store transaction as the
// change it records.
//
// # Chain
//
// Records are numbered from 1 without gaps. Each record carries the hash of
// the one before it (Prev; 32 zero bytes for record 1) and its own Hash, the
// SHA-256 of its canonical encoding, which covers every field including
// Prev. Altering, deleting, inserting or reordering a record therefore
// breaks either its own hash or the next record's Prev. This is the
// hash-chain construction of secure audit logs (Schneier and Kelsey, 1999;
// the "hash chain" of ETSI EN 319 401 clause 7.10 and RFC 3647 section
// 5.4.8 "vulnerability assessments" and 5.4.4 "protection of audit log").
//
// # Canonical encoding (version 1)
//
// A record is encoded as a byte string that is never ambiguous: fixed-width
// integers are big-endian, every variable-length field is preceded by its
// length, and Details are written in strictly ascending byte order of their
// keys, so that one record has exactly one encoding:
//
//	record     = magic seq time actor action target outcome details checkpoint prev
//	magic      = "OCESAUD1"                      8 bytes, names the format version
//	seq        = uint64                          8 bytes
//	time       = int64 Unix seconds, uint32 ns   12 bytes, UTC
//	actor      = fingerprint(32 bytes) field(subject)
//	action, target, outcome = field
//	details    = uint32 count, then count × (field(key) field(value)), keys ascending
//	checkpoint = 0x00 | 0x01 uint64 seq, hash(32), field(signature), field(public key), field(certificate)
//	prev       = 32 bytes
//	field      = uint32 length, then that many bytes
//
// Hash = SHA-256(record). A store keeps record || Hash (MarshalBinary), so
// the last 64 bytes of a stored record are always Prev and Hash.
//
// # Checkpoints
//
// Hashes alone do not stop someone who can write the store from rewriting
// the whole tail of the chain. A Checkpointer therefore appends, every 1000
// records or every minute (whichever comes first, and never on an idle
// chain), a checkpoint record signed by the audit key, a crypto.Signer that
// lives in the HSM in production. It signs SHA-256 of
//
//	"OCES-AUDIT-CHECKPOINT-V1" uint64(seq) hash(32) int64(sec) uint32(ns)
//
// over the sequence number and hash of the newest record it saw and the
// checkpoint's time (ECDSA: ASN.1 signature over the digest; RSA: PKCS #1
// v1.5 with SHA-256; Ed25519: over the message itself). The first
// checkpoint records the audit key's public key (and certificate, when one
// is configured). Everything up to the newest valid checkpoint is then
// authenticated by the audit key; records after it are only hash-chained,
// and Verify reports how many there are.
//
// # Verification
//
// Verify streams a Source from record 1 to the end in bounded memory,
// checking every hash, every Prev link, sequence continuity and every
// checkpoint signature, and names the first broken record in a *ChainError.
package audit
