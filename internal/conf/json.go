package conf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"
)

// JSONError is a request body that DecodeJSON refuses. Key names the
// object key it is about ("" for the body as a whole).
type JSONError struct {
	Key string
	Msg string
}

func (e *JSONError) Error() string {
	if e.Key == "" {
		return e.Msg
	}
	return fmt.Sprintf("key %q: %s", e.Key, e.Msg)
}

// maxJSONDepth bounds the nesting of a request body.
const maxJSONDepth = 32

// DecodeJSON decodes one JSON object from data into v, a pointer to a
// struct, more strictly than encoding/json (RFC 8259 leaves these to the
// receiver; I-JSON, RFC 7493, forbids the first two):
//
//   - a key may occur only once in an object (encoding/json keeps the last);
//   - a key must be a field's JSON name exactly (encoding/json matches
//     letter case loosely, so "Profile" would fill "profile"), and unknown
//     keys are refused;
//   - strings must be valid UTF-8 with no lone surrogate escapes
//     (encoding/json silently turns both into U+FFFD);
//   - nothing may follow the object.
//
// Errors are *JSONError and name the offending key.
func DecodeJSON(data []byte, v any) error {
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return errors.New("conf: DecodeJSON needs a pointer to a struct")
	}
	if err := checkJSON(data, t.Elem()); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonDecodeError(err)
	}
	return nil
}

// jsonDecodeError words encoding/json's error, naming the field.
func jsonDecodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return &JSONError{Key: te.Field, Msg: fmt.Sprintf("must be a JSON %s, not %s", jsonKind(te.Type), te.Value)}
		}
		return &JSONError{Msg: "the body must be a JSON object, not " + te.Value}
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if name, ok := strings.CutPrefix(msg, "unknown field "); ok {
		return &JSONError{Key: strings.Trim(name, `"`), Msg: "no such field"}
	}
	return &JSONError{Msg: msg}
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return "number"
}

// frame is one open object or array during checkJSON.
type frame struct {
	object  bool
	keys    map[string]bool
	fields  map[string]reflect.Type // exact JSON name -> type, for a struct
	folded  map[string]string       // lower-case name -> exact name
	key     string                  // the key whose value comes next, if haveKey
	haveKey bool
	elem    reflect.Type // type of the values inside, when known
}

// checkJSON walks the tokens of data with the struct type t alongside.
func checkJSON(data []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []*frame
	top := true
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			if top && errors.Is(err, io.EOF) {
				return &JSONError{Msg: "the body is empty; send a JSON object"}
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return &JSONError{Key: currentKey(stack), Msg: "malformed JSON: the body ends inside the object"}
			}
			return &JSONError{Key: currentKey(stack), Msg: "malformed JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
		}
		raw := data[start:dec.InputOffset()]
		var f *frame
		if len(stack) > 0 {
			f = stack[len(stack)-1]
		}
		_, isString := tok.(string)
		isKey := isString && f != nil && f.object && !f.haveKey
		if s, ok := tok.(string); ok {
			if err := checkString(raw, s, isKey, currentKey(stack)); err != nil {
				return err
			}
		}
		if isKey {
			if err := f.takeKey(tok.(string)); err != nil {
				return err
			}
			continue
		}
		if top {
			if d, ok := tok.(json.Delim); !ok || d != '{' {
				return &JSONError{Msg: "the body must be a JSON object"}
			}
		}
		next := t
		if f != nil {
			next = f.valueType()
			f.haveKey = false
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) == maxJSONDepth {
				return &JSONError{Key: currentKey(stack), Msg: fmt.Sprintf("nested deeper than %d levels", maxJSONDepth)}
			}
			stack = append(stack, newFrame(tok == json.Delim('{'), next))
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		top = false
		if len(stack) == 0 {
			break // the body's object is complete
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &JSONError{Msg: "trailing data after the JSON object"}
	}
	return nil
}

// currentKey is the innermost key being read, or "".
func currentKey(stack []*frame) string {
	for i := len(stack) - 1; i >= 0; i-- {
		if stack[i].object && (stack[i].haveKey || i < len(stack)-1) {
			return stack[i].key
		}
	}
	return ""
}

// newFrame opens an object or array whose Go type is t (nil if unknown).
func newFrame(object bool, t reflect.Type) *frame {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	f := &frame{object: object}
	if object {
		f.keys = map[string]bool{}
	}
	switch {
	case t == nil:
	case object && t.Kind() == reflect.Struct:
		f.fields, f.folded = map[string]reflect.Type{}, map[string]string{}
		addFields(t, f)
	case object && t.Kind() == reflect.Map, !object && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
		f.elem = t.Elem()
	}
	return f
}

// addFields records the JSON names of t's exported fields, as
// encoding/json names them, including those of embedded structs.
func addFields(t reflect.Type, f *frame) {
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			et := sf.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				addFields(et, f)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		f.fields[name] = sf.Type
		f.folded[strings.ToLower(name)] = name
	}
}

// takeKey checks a key of the object f and makes it the current one.
func (f *frame) takeKey(k string) error {
	if f.keys[k] {
		return &JSONError{Key: k, Msg: "given twice; each key may occur once"}
	}
	f.keys[k] = true
	if f.fields != nil {
		if _, ok := f.fields[k]; !ok {
			if exact, ok := f.folded[strings.ToLower(k)]; ok {
				return &JSONError{Key: k, Msg: fmt.Sprintf("keys are case-sensitive: use %q", exact)}
			}
			return &JSONError{Key: k, Msg: "no such field"}
		}
	}
	f.key, f.haveKey = k, true
	return nil
}

// valueType is the Go type of the value that comes next in f.
func (f *frame) valueType() reflect.Type {
	if f.fields != nil {
		return f.fields[f.key]
	}
	return f.elem
}

// checkString refuses a string token whose raw text is not valid UTF-8 or
// escapes a lone surrogate; s is what encoding/json made of it.
func checkString(raw []byte, s string, isKey bool, key string) error {
	if !strings.ContainsRune(s, utf8.RuneError) {
		return nil // nothing was replaced
	}
	if utf8.Valid(raw) && !loneSurrogate(raw) {
		return nil // a real U+FFFD, written out or escaped
	}
	if isKey {
		return &JSONError{Msg: "an object key is not valid UTF-8"}
	}
	return &JSONError{Key: key, Msg: "the value is not valid UTF-8 (or escapes a lone surrogate); send UTF-8 text"}
}

// loneSurrogate reports whether a JSON string literal escapes a UTF-16
// surrogate that is not part of a high-low pair.
func loneSurrogate(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if i+1 < len(raw) && raw[i+1] != 'u' {
			i++ // a two-character escape such as \\ or \"
			continue
		}
		u, ok := hex4(raw, i+2)
		if !ok {
			continue
		}
		switch {
		case u >= 0xDC00 && u <= 0xDFFF:
			return true
		case u >= 0xD800 && u <= 0xDBFF:
			if lo, ok := hex4(raw, i+8); !ok || raw[i+6] != '\\' || raw[i+7] != 'u' || lo < 0xDC00 || lo > 0xDFFF {
				return true
			}
			i += 11
		default:
			i += 5
		}
	}
	return false
}

// hex4 reads four hexadecimal digits at raw[i:].
func hex4(raw []byte, i int) (rune, bool) {
	if i < 0 || i+4 > len(raw) {
		return 0, false
	}
	var v rune
	for _, c := range raw[i : i+4] {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			v |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			v |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return v, true
}
