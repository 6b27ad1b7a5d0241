package conf

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

type jsonInner struct {
	Level int `json:"level"`
}

type jsonBody struct {
	Name   string            `json:"name"`
	Count  int               `json:"count,omitempty"`
	Inner  *jsonInner        `json:"inner,omitempty"`
	List   []jsonInner       `json:"list,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
	Plain  string
	hidden string
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		key        string // the key the error names; "" for none
		want       string // in the error; "" means the body decodes
	}{
		{"plain", `{"name": "Karen", "count": 2}`, "", ""},
		{"nested", `{"name": "x", "inner": {"level": 3}, "list": [{"level": 1}, {"level": 2}], "labels": {"A": "b", "a": "c"}}`, "", ""},
		{"Go field name without a tag", `{"Plain": "x"}`, "", ""},
		{"escaped U+FFFD is a character", `{"name": "\ufffd"}`, "", ""},
		{"surrogate pair", `{"name": "\ud83d\ude00 \\u"}`, "", ""},
		{"capitalised key", `{"Name": "Karen"}`, "Name", `use "name"`},
		{"upper-case key", `{"NAME": "Karen"}`, "NAME", "case-sensitive"},
		{"nested capitalised key", `{"inner": {"Level": 3}}`, "Level", `use "level"`},
		{"key in an array element", `{"list": [{"level": 1}, {"LEVEL": 2}]}`, "LEVEL", "case-sensitive"},
		{"Go name in lower case", `{"plain": "x"}`, "plain", `use "Plain"`},
		{"unexported field", `{"hidden": "x"}`, "hidden", "no such field"},
		{"unknown key", `{"colour": "blue"}`, "colour", "no such field"},
		{"duplicate key", `{"name": "a", "name": "b"}`, "name", "twice"},
		{"duplicate nested key", `{"inner": {"level": 1, "level": 2}}`, "level", "twice"},
		{"duplicate map key", `{"labels": {"a": "1", "a": "2"}}`, "a", "twice"},
		{"raw invalid UTF-8", "{\"name\": \"a\xffb\"}", "name", "UTF-8"},
		{"overlong encoding", "{\"name\": \"\xc0\xaf\"}", "name", "UTF-8"},
		{"lone high surrogate", `{"name": "a\ud800b"}`, "name", "surrogate"},
		{"lone low surrogate", `{"name": "\udc00"}`, "name", "surrogate"},
		{"high surrogate at the end", `{"name": "\ud800"}`, "name", "surrogate"},
		{"invalid UTF-8 in a map value", "{\"labels\": {\"k\": \"\xff\"}}", "k", "UTF-8"},
		{"invalid UTF-8 in a key", "{\"na\xffme\": \"x\"}", "", "key is not valid UTF-8"},
		{"wrong type", `{"count": "two"}`, "count", "number"},
		{"array", `[{"name": "x"}]`, "", "JSON object"},
		{"string", `"name"`, "", "JSON object"},
		{"empty", ``, "", "empty"},
		{"trailing object", `{"name": "x"} {}`, "", "trailing"},
		{"trailing garbage", `{"name": "x"} x`, "", "trailing"},
		{"truncated", `{"name": "x"`, "", "ends inside"},
		{"truncated value", `{"inner": {"level": `, "level", "ends inside"},
		{"syntax error", `{"name": "x",, }`, "", "malformed"},
		{"too deep", `{"labels": ` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, "labels", "deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v jsonBody
			err := DecodeJSON([]byte(tt.body), &v)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("DecodeJSON: %v", err)
				}
				return
			}
			var je *JSONError
			if !errors.As(err, &je) {
				t.Fatalf("error %v, want a *JSONError", err)
			}
			if je.Key != tt.key || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q (key %q), want key %q and %q", err, je.Key, tt.key, tt.want)
			}
		})
	}
}

func TestDecodeJSONValues(t *testing.T) {
	t.Parallel()
	var v jsonBody
	if err := DecodeJSON([]byte(`{"name": "Søren \u00c6r\u00f8 \ud842\udfb7", "inner": {"level": 7}}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.Name != "Søren Ærø 𠮷" || v.Inner == nil || v.Inner.Level != 7 || v.hidden != "" {
		t.Fatalf("decoded %+v", v)
	}
	if err := DecodeJSON([]byte(`{}`), v); err == nil {
		t.Fatal("decoding into a struct value, not a pointer, was accepted")
	}
}

// FuzzDecodeJSON: DecodeJSON never panics, and what it accepts
// encoding/json reads the same way, with no text replaced.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"name": "x", "count": 1}`, `{"inner": {"level": 1}}`, `{"list": [{"level": 2}]}`,
		`{"labels": {"a": "\ud800"}}`, "{\"name\": \"\xff\"}", `{"Name": 1}`, `{"name": "a", "name": "b"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v jsonBody
		if DecodeJSON(data, &v) != nil {
			return
		}
		var w jsonBody
		if err := json.Unmarshal(data, &w); err != nil {
			t.Fatalf("accepted what encoding/json refuses: %v", err)
		}
		if !reflect.DeepEqual(v, w) {
			t.Fatalf("decoded %+v, encoding/json %+v", v, w)
		}
		if !utf8.Valid(data) {
			t.Fatal("accepted a body that is not UTF-8")
		}
	})
}
