package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"
)

// magic names version 1 of the canonical encoding.
const magic = "OCESAUD1"

// encode appends the canonical encoding of r (everything but r.Hash) to b;
// see the package documentation for the format.
func (r *Record) encode(b []byte) []byte {
	b = append(b, magic...)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = appendTime(b, r.Time)
	b = append(b, r.Actor.Fingerprint[:]...)
	b = appendField(b, r.Actor.Subject)
	b = appendField(b, r.Action)
	b = appendField(b, r.Target)
	b = appendField(b, r.Outcome)
	keys := make([]string, 0, len(r.Details))
	for k := range r.Details {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = binary.BigEndian.AppendUint32(b, uint32(len(keys)))
	for _, k := range keys {
		b = appendField(b, k)
		b = appendField(b, r.Details[k])
	}
	if cp := r.Checkpoint; cp == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.BigEndian.AppendUint64(b, cp.Seq)
		b = append(b, cp.Hash[:]...)
		b = appendField(b, cp.Signature)
		b = appendField(b, cp.PublicKey)
		b = appendField(b, cp.Certificate)
	}
	return append(b, r.Prev[:]...)
}

func appendTime(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix()))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

func appendField[T string | []byte](b []byte, v T) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

// ComputeHash is SHA-256 of r's canonical encoding. It equals r.Hash for
// every record that has not been altered.
func (r *Record) ComputeHash() Hash {
	return sha256.Sum256(r.encode(make([]byte, 0, 256)))
}

// MarshalBinary is what a store keeps: the canonical encoding followed by
// r.Hash as it is (not recomputed).
func (r *Record) MarshalBinary() ([]byte, error) {
	b := r.encode(make([]byte, 0, 256+len(r.Hash)))
	return append(b, r.Hash[:]...), nil
}

// ErrMalformed is wrapped by UnmarshalBinary's errors.
var ErrMalformed = errors.New("audit: malformed record")

// UnmarshalBinary reads what MarshalBinary wrote. It is strict, so that a
// record it accepts has exactly one encoding: no trailing bytes, detail keys
// in strictly ascending order, nanoseconds below one second. It does not
// check the hash; Verify does.
func (r *Record) UnmarshalBinary(data []byte) error {
	d := decoder{b: data}
	if string(d.next(len(magic))) != magic {
		return fmt.Errorf("%w: unknown format (want %s)", ErrMalformed, magic)
	}
	var out Record
	out.Seq = d.u64()
	out.Time = d.time()
	copy(out.Actor.Fingerprint[:], d.next(len(Hash{})))
	out.Actor.Subject = string(d.field())
	out.Action = string(d.field())
	out.Target = string(d.field())
	out.Outcome = string(d.field())
	out.Details = d.details()
	out.Checkpoint = d.checkpoint()
	copy(out.Prev[:], d.next(len(Hash{})))
	copy(out.Hash[:], d.next(len(Hash{})))
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d bytes after the record", len(d.b))
	}
	if d.err != nil {
		return d.err
	}
	*r = out
	return nil
}

// decoder reads the canonical encoding; the first error sticks and every
// later read returns zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) next(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("truncated")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u64() uint64 {
	if v := d.next(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if v := d.next(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) time() time.Time {
	sec, ns := int64(d.u64()), d.u32()
	if ns >= 1e9 {
		d.fail("nanoseconds %d out of range", ns)
	}
	return time.Unix(sec, int64(ns)).UTC()
}

func (d *decoder) field() []byte {
	n := d.u32()
	if uint64(n) > uint64(len(d.b)) {
		d.fail("field of %d bytes is longer than the record", n)
		return nil
	}
	return bytes.Clone(d.next(int(n)))
}

func (d *decoder) details() map[string]string {
	n := d.u32()
	if n > maxDetails {
		d.fail("%d details, at most %d", n, maxDetails)
		return nil
	}
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	last := ""
	for i := range n {
		k, v := string(d.field()), string(d.field())
		if i > 0 && k <= last {
			d.fail("detail keys not in strictly ascending order")
			return nil
		}
		m[k], last = v, k
	}
	return m
}

func (d *decoder) checkpoint() *Checkpoint {
	switch flag := d.next(1); {
	case flag == nil:
		return nil
	case flag[0] == 0:
		return nil
	case flag[0] != 1:
		d.fail("checkpoint flag %d", flag[0])
		return nil
	}
	cp := &Checkpoint{Seq: d.u64()}
	copy(cp.Hash[:], d.next(len(Hash{})))
	cp.Signature = d.field()
	cp.PublicKey = d.field()
	cp.Certificate = d.field()
	if len(cp.PublicKey) == 0 {
		cp.PublicKey = nil
	}
	if len(cp.Certificate) == 0 {
		cp.Certificate = nil
	}
	return cp
}

// storedHash splits a stored record into its encoding and the hash stored
// after it; ok is false if data is too short to hold a hash.
func storedHash(data []byte) (enc []byte, h Hash, ok bool) {
	if len(data) < len(magic)+2*len(h) {
		return nil, h, false
	}
	enc = data[:len(data)-len(h)]
	copy(h[:], data[len(enc):])
	return enc, h, true
}
