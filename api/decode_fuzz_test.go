package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"testing"

	"github.com/oces-pki/oces/ca"
)

// FuzzDecodeBody feeds every JSON body type of the admin API (issuance,
// revocation, CPR match, hash signing, audit events, the empty body)
// through decodeBody, the one way handlers read a body, with arbitrary
// bytes. A refusal must be a 400 in the API's error table (malformed JSON
// or a field over its bound); a body it accepts must encode and decode to
// the same value, and every field must be within its bound.
//
//	go test ./api -run '^$' -fuzz FuzzDecodeBody -fuzztime 60s
func FuzzDecodeBody(f *testing.F) {
	for _, seed := range []string{
		`{"profile": "moces", "csr": "-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n", "cvr": "12345678", "organization": "Firma A/S", "name": "Æble Ørsted"}`,
		`{"reason": "keyCompromise", "invalidity_date": "2026-01-02T03:04:05Z"}`,
		`{"pid": "PID:9208-2002-2-123456789012", "cpr": "010170-1234"}`,
		`{"seal": "firma", "digest": "3q2+7w==", "hash": "sha-256", "level": "B-T", "pss": true}`,
		`{"action": "officer.note", "target": "x", "outcome": "ok"}`,
		`{}`, ``, `[`, `{"a":1,"a":2}`, "{\"reason\": \"\xff\"}", `{"reason": "\ud800"}`,
	} {
		for kind := range 6 {
			f.Add(uint8(kind), []byte(seed))
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		v := newBody(kind)
		err := decodeBody(data, v)
		if err != nil {
			if code := StatusOf(err); code != http.StatusBadRequest {
				t.Fatalf("decodeBody error %v maps to %d, want 400", err, code)
			}
			if !errors.Is(err, errBadJSON) && !errors.Is(err, ca.ErrInvalidRequest) {
				t.Fatalf("decodeBody error %v is neither malformed JSON nor an invalid request", err)
			}
			return
		}
		for _, fl := range v.fields() {
			if len(fl.value) > fl.max {
				t.Fatalf("accepted %s of %d bytes; the bound is %d", fl.name, len(fl.value), fl.max)
			}
		}
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("an accepted body does not encode: %v", err)
		}
		back := newBody(kind)
		if err := decodeBody(out, back); err != nil {
			t.Fatalf("our own encoding %s of an accepted body is refused: %v", out, err)
		}
		if !reflect.DeepEqual(v, back) {
			t.Fatalf("round trip changed the body: %#v became %#v", v, back)
		}
	})
}

// newBody is a fresh value of one of the API's body types.
func newBody(kind uint8) bounded {
	switch kind % 6 {
	case 0:
		return &IssueRequest{}
	case 1:
		return &RevokeRequest{}
	case 2:
		return &MatchCPRRequest{}
	case 3:
		return &SignDigestRequest{}
	case 4:
		return &EventRequest{}
	default:
		return &emptyRequest{}
	}
}
