package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func sampleRecord(t testing.TB) *Record {
	t.Helper()
	r, err := Next(Head{Seq: 41, Hash: Hash{1, 2, 3}}, Event{
		Time:    t0,
		Actor:   Actor{Fingerprint: Hash{0xaa}, Subject: "CN=Officer One,O=OCES,C=DK"},
		Action:  ActionCertRevoke,
		Target:  "0123456789abcdef0123456789abcdef",
		Outcome: OutcomeOK,
		Details: map[string]string{"reason": "keyCompromise", "ca": "issuing-1", "b": ""},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	cp, err := Next(Head{Seq: 7, Hash: Hash{9}}, Event{
		Time: t0, Actor: System, Action: ActionCheckpoint, Target: "record 7", Outcome: OutcomeOK,
		Checkpoint: &Checkpoint{Seq: 7, Hash: Hash{9}, Signature: []byte{1, 2}, PublicKey: []byte{3}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*Record{"event": sampleRecord(t), "checkpoint": cp} {
		t.Run(name, func(t *testing.T) {
			data, _ := r.MarshalBinary()
			var got Record
			if err := got.UnmarshalBinary(data); err != nil {
				t.Fatal(err)
			}
			if got.ComputeHash() != r.Hash || got.Hash != r.Hash {
				t.Errorf("hash changed in round trip")
			}
			again, _ := got.MarshalBinary()
			if !bytes.Equal(again, data) {
				t.Errorf("re-encoding differs:\n%x\n%x", again, data)
			}
			if !got.Time.Equal(t0) || got.Time.Location() != time.UTC {
				t.Errorf("time %v, want %v UTC", got.Time, t0)
			}
		})
	}
}

// TestKnownEncoding pins version 1 of the canonical encoding, written out
// by hand from the package documentation: a change to the encoding breaks
// every stored chain and must come with a new magic.
func TestKnownEncoding(t *testing.T) {
	t.Parallel()
	var want []byte
	u32 := func(v uint32) { want = binary.BigEndian.AppendUint32(want, v) }
	field := func(s string) { u32(uint32(len(s))); want = append(want, s...) }
	want = append(want, "OCESAUD1"...)
	want = binary.BigEndian.AppendUint64(want, 42)
	want = binary.BigEndian.AppendUint64(want, uint64(t0.Unix()))
	u32(123456789)
	want = append(want, 0xaa)
	want = append(want, make([]byte, 31)...)
	field("CN=Officer One,O=OCES,C=DK")
	field("cert.revoke")
	field("0123456789abcdef0123456789abcdef")
	field("ok")
	u32(3)
	field("b")
	field("")
	field("ca")
	field("issuing-1")
	field("reason")
	field("keyCompromise")
	want = append(want, 0)                   // no checkpoint
	want = append(want, 1, 2, 3)             // prev
	want = append(want, make([]byte, 29)...) // rest of prev
	r := sampleRecord(t)
	if got := r.encode(nil); !bytes.Equal(got, want) {
		t.Fatalf("encoding:\n got %x\nwant %x", got, want)
	}
	if sum := sha256.Sum256(want); Hash(sum) != r.Hash {
		t.Errorf("hash is not SHA-256 of the encoding")
	}
	const pinned = "5d9d8bca70e237b5d2619ce22c68590b5e9382f53a039271d7e75b9584c583aa"
	if got := r.Hash.String(); got != pinned {
		t.Errorf("hash of the sample record = %s, want %s", got, pinned)
	}
}

// TestUnambiguous checks that moving bytes between adjacent fields changes
// the hash (length prefixes) and that detail order does not (sorted keys).
func TestUnambiguous(t *testing.T) {
	t.Parallel()
	base := Event{Time: t0, Actor: System, Action: "x.y", Target: "ab", Outcome: "c"}
	moved := base
	moved.Target, moved.Outcome = "a", "bc"
	h1, _ := Next(Head{}, base)
	h2, _ := Next(Head{}, moved)
	if h1.Hash == h2.Hash {
		t.Error("moving a byte from target to outcome kept the hash")
	}
	d1, d2 := base, base
	d1.Details = map[string]string{"a": "1", "b": "2"}
	d2.Details = map[string]string{"b": "2", "a": "1"}
	r1, _ := Next(Head{}, d1)
	r2, _ := Next(Head{}, d2)
	if r1.Hash != r2.Hash {
		t.Error("detail order changed the hash")
	}
}

func TestUnmarshalStrict(t *testing.T) {
	t.Parallel()
	good, _ := sampleRecord(t).MarshalBinary()
	// The details: count 3, then the first key "b" (keys sorted: b, ca, reason).
	detailsAt := bytes.Index(good, []byte{0, 0, 0, 3, 0, 0, 0, 1, 'b'})
	if detailsAt < 0 {
		t.Fatal("details not found in the sample encoding")
	}
	swapped := bytes.Clone(good)
	// Rewrite the first key "b" (empty value) as "z": keys no longer ascend.
	swapped[detailsAt+8] = 'z'
	nanos := bytes.Clone(good)
	binary.BigEndian.PutUint32(nanos[len(magic)+8+8:], 1e9)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "unknown format"},
		{"other magic", append([]byte("OCESAUD2"), good[8:]...), "unknown format"},
		{"truncated", good[:len(good)-1], "truncated"},
		{"trailing byte", append(bytes.Clone(good), 0), "bytes after the record"},
		{"unsorted details", swapped, "ascending"},
		{"nanoseconds", nanos, "nanoseconds"},
		{"huge field", append(good[:len(magic)+8+12+32:len(magic)+8+12+32], 0xff, 0xff, 0xff, 0xff), "longer than the record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r Record
			err := r.UnmarshalBinary(tc.data)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("UnmarshalBinary = %v, want ErrMalformed with %q", err, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := Event{Time: t0, Actor: System, Action: ActionCRLSign, Target: "issuing-1", Outcome: OutcomeOK}
	many := map[string]string{}
	for i := range maxDetails + 1 {
		many[string(rune('a'+i))] = "v"
	}
	for _, tc := range []struct {
		name   string
		change func(*Event)
		want   string // "" means valid
	}{
		{"valid", func(*Event) {}, ""},
		{"no time", func(e *Event) { e.Time = time.Time{} }, "no time"},
		{"no action", func(e *Event) { e.Action = "" }, "action"},
		{"upper-case action", func(e *Event) { e.Action = "Cert.Issue" }, "lower-case"},
		{"no actor", func(e *Event) { e.Actor = Actor{} }, "actor subject is required"},
		{"no outcome", func(e *Event) { e.Outcome = "" }, "outcome is required"},
		{"long target", func(e *Event) { e.Target = strings.Repeat("x", maxTargetLen+1) }, "target is"},
		{"bad UTF-8", func(e *Event) { e.Outcome = "\xff" }, "UTF-8"},
		{"too many details", func(e *Event) { e.Details = many }, "details"},
		{"empty detail key", func(e *Event) { e.Details = map[string]string{"": "v"} }, "detail key"},
		{"checkpoint without action", func(e *Event) { e.Checkpoint = &Checkpoint{Seq: 1, Signature: []byte{1}} }, "carry a checkpoint"},
		{"checkpoint action without checkpoint", func(e *Event) { e.Action = ActionCheckpoint }, "carry a checkpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := ok
			tc.change(&ev)
			err := ev.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate = %v, want %q", err, tc.want)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "audit: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestOutcome(t *testing.T) {
	t.Parallel()
	if got := Outcome(nil); got != "ok" {
		t.Errorf("Outcome(nil) = %q", got)
	}
	long := errors.New(strings.Repeat("é", maxOutcomeLen))
	got := Outcome(long)
	ev := Event{Time: t0, Actor: System, Action: "x", Outcome: got}
	if err := ev.Validate(); err != nil {
		t.Errorf("Outcome of a long error does not validate: %v", err)
	}
}

func TestTarget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     int // length in bytes of the result
	}{
		{"short", "issuing-1", len("issuing-1")},
		{"at the limit", strings.Repeat("x", maxTargetLen), maxTargetLen},
		{"63,000 bytes", strings.Repeat("x", 63000), maxTargetLen},
		{"multi-byte characters", strings.Repeat("é", maxTargetLen), maxTargetLen - 1},
		{"invalid UTF-8", strings.Repeat("\xff", 10), len("\uFFFD")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Target(tc.in)
			ev := Event{Time: t0, Actor: System, Action: "x", Target: got, Outcome: OutcomeOK}
			if err := ev.Validate(); err != nil {
				t.Fatalf("Target(%.20q…) does not validate: %v", tc.in, err)
			}
			if len(got) != tc.want {
				t.Fatalf("Target(%.20q…) is %d bytes, want %d", tc.in, len(got), tc.want)
			}
			if len(tc.in) > maxTargetLen && !strings.HasSuffix(got, "…") {
				t.Fatalf("a cut target does not end with …: %.40q", got)
			}
		})
	}
}
