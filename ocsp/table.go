package ocsp

import (
	"encoding/binary"
	"runtime"
	"sync"
	"time"

	"github.com/oces-pki/oces/ca"
)

// The response store. At national scale (millions of certificates) the
// pre-signed responses are most of the responder's memory, so they are
// kept in a form that costs the garbage collector nothing:
//
//   - one fixed-size record per serial, holding only what varies between
//     responses: the times, the status, the index of the signing key and
//     the signature. The ResponseData that was signed is rebuilt from the
//     record when a response is served (its encoding is deterministic, see
//     encodeResponseData), and the responder certificate, the same in every
//     response of a key, is kept once per key (signingKey.certs);
//   - records in chunks allocated outside the Go heap (mmap on Unix), so
//     that they neither count towards the collector's heap goal nor are
//     scanned; the index is a map of serial to record number, which holds
//     no pointers and is therefore not scanned either.
//
// A P-256 responder key makes a record of recordHeader+73 bytes.

// recordHeader is the fixed part of a record; the signature follows.
//
//	0  stamp   uint64  unique per install; a SHA-256 twin names its base's
//	8  seq     uint64  orders installs of one serial (see table.put)
//	16 base    uint64  for a SHA-256 twin, the stamp of the SHA-1 record it mirrors
//	24 this    uint32  thisUpdate (= producedAt), Unix seconds
//	28 next    uint32  nextUpdate, Unix seconds
//	32 revoked uint32  revocationTime, Unix seconds
//	36 key     uint16  index of the signing key (issuer.keyAt)
//	38 status  uint8
//	39 reason  int8    CRLReason, -1 for none
//	40 flags   uint8   flagSigned: a response is present
//	42 siglen  uint16
const recordHeader = 44

const flagSigned = 1

// chunkRecords is the number of records per chunk.
const chunkRecords = 1024

// record is one decoded record.
type record struct {
	stamp, seq, base uint64
	key              uint16
	signed           bool
	single           single
	sig              []byte
}

func unix32(t time.Time) uint32 {
	if s := t.Unix(); s > 0 && s < 1<<32 {
		return uint32(s)
	}
	return 0
}

func (rec *record) encode(slot []byte) {
	binary.LittleEndian.PutUint64(slot[0:], rec.stamp)
	binary.LittleEndian.PutUint64(slot[8:], rec.seq)
	binary.LittleEndian.PutUint64(slot[16:], rec.base)
	binary.LittleEndian.PutUint32(slot[24:], unix32(rec.single.thisUpdate))
	binary.LittleEndian.PutUint32(slot[28:], unix32(rec.single.nextUpdate))
	binary.LittleEndian.PutUint32(slot[32:], unix32(rec.single.revokedAt))
	binary.LittleEndian.PutUint16(slot[36:], rec.key)
	slot[38] = byte(rec.single.status)
	slot[39] = byte(int8(rec.single.reason))
	slot[40] = 0
	if rec.signed {
		slot[40] = flagSigned
	}
	binary.LittleEndian.PutUint16(slot[42:], uint16(len(rec.sig)))
	copy(slot[recordHeader:], rec.sig)
}

// decode reads slot into rec, except the signature, which it appends to
// buf and returns: the caller stores it in rec, so that a buf on the
// caller's stack stays there.
func (rec *record) decode(slot []byte, buf []byte) (sig []byte) {
	rec.stamp = binary.LittleEndian.Uint64(slot[0:])
	rec.seq = binary.LittleEndian.Uint64(slot[8:])
	rec.base = binary.LittleEndian.Uint64(slot[16:])
	rec.single = single{
		thisUpdate: time.Unix(int64(binary.LittleEndian.Uint32(slot[24:])), 0).UTC(),
		nextUpdate: time.Unix(int64(binary.LittleEndian.Uint32(slot[28:])), 0).UTC(),
		revokedAt:  time.Unix(int64(binary.LittleEndian.Uint32(slot[32:])), 0).UTC(),
		status:     certStatus(slot[38]),
		reason:     int(int8(slot[39])),
	}
	rec.key = binary.LittleEndian.Uint16(slot[36:])
	rec.signed = slot[40]&flagSigned != 0
	n := int(binary.LittleEndian.Uint16(slot[42:]))
	return append(buf[:0], slot[recordHeader:recordHeader+n]...)
}

// table holds one record per serial for one CertID hash of one issuer.
type table struct {
	maxSig int // signature bytes a slot holds
	slot   int // bytes per record
	arena  *arena
	shards [numShards]tableShard
}

type tableShard struct {
	mu     sync.RWMutex
	index  map[ca.Serial]uint32
	chunks [][]byte
	n      uint32
}

// newTable makes a table whose records hold signatures of up to maxSig
// bytes. Its chunks are returned to the system when it is collected.
func newTable(maxSig int) *table {
	t := &table{maxSig: maxSig, slot: (recordHeader + maxSig + 7) &^ 7, arena: &arena{}}
	for i := range t.shards {
		t.shards[i].index = make(map[ca.Serial]uint32)
	}
	runtime.AddCleanup(t, func(a *arena) { a.free() }, t.arena)
	return t
}

func (t *table) shard(s ca.Serial) *tableShard { return &t.shards[s[15]%numShards] }

func (sh *tableShard) at(i uint32, size int) []byte {
	c := sh.chunks[i/chunkRecords]
	off := int(i%chunkRecords) * size
	return c[off : off+size]
}

// get copies the record of serial into rec but for its signature, which
// it appends to buf and returns (see decode); ok reports whether there is
// a record.
func (t *table) get(s ca.Serial, rec *record, buf []byte) (sig []byte, ok bool) {
	sh := t.shard(s)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	i, ok := sh.index[s]
	if !ok {
		return nil, false
	}
	return rec.decode(sh.at(i, t.slot), buf), true
}

// put stores rec for serial unless a record from a later reading of the
// store is there already (a larger seq); with onlyNew, only where there
// is no record at all. A signature too large for the slot is stored as
// no response, which is answered on demand. It reports whether rec was
// stored.
func (t *table) put(s ca.Serial, rec *record, onlyNew bool) bool {
	if len(rec.sig) > t.maxSig {
		cp := *rec
		cp.signed, cp.sig = false, nil
		rec = &cp
	}
	sh := t.shard(s)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	i, ok := sh.index[s]
	if ok {
		slot := sh.at(i, t.slot)
		if onlyNew || binary.LittleEndian.Uint64(slot[8:]) > rec.seq {
			return false
		}
		rec.encode(slot)
		return true
	}
	if int(sh.n/chunkRecords) == len(sh.chunks) {
		sh.chunks = append(sh.chunks, t.arena.alloc(chunkRecords*t.slot))
	}
	i = sh.n
	sh.n++
	sh.index[s] = i
	rec.encode(sh.at(i, t.slot))
	return true
}

// stats returns the number of records and the bytes of their chunks.
func (t *table) stats() (records int, bytes int64) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		records += int(sh.n)
		bytes += int64(len(sh.chunks)) * chunkRecords * int64(t.slot)
		sh.mu.RUnlock()
	}
	return records, bytes
}

// arena hands out zeroed chunks outside the Go heap where it can.
type arena struct {
	mu     sync.Mutex
	chunks [][]byte
}

func (a *arena) alloc(n int) []byte {
	b := allocChunk(n)
	a.mu.Lock()
	a.chunks = append(a.chunks, b)
	a.mu.Unlock()
	return b
}

func (a *arena) free() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.chunks {
		freeChunk(c)
	}
	a.chunks = nil
}
