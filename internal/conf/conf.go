// Package conf loads the project's YAML files (the server configuration and
// the ceremony files) strictly: unknown fields are errors, every file is
// validated after decoding, and messages name the file, line and field.
// DecodeJSON does the same for the JSON bodies of the HTTP APIs (RFC 8259,
// with the I-JSON restrictions of RFC 7493 on duplicate keys and invalid
// Unicode, and exact key names).
package conf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Validator is implemented by every configuration type.
type Validator interface {
	Validate() error
}

// Error is any problem with a configuration file: unreadable, malformed or
// invalid. Commands exit with a usage status for it.
type Error struct {
	Path string
	Err  error
}

func (e *Error) Error() string { return "config: " + e.Path + ": " + e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// maxFileBytes bounds a configuration file.
const maxFileBytes = 1 << 20

// Load decodes the YAML file at path into v, refusing unknown fields and a
// second document, then calls v.Validate.
func Load(path string, v Validator) error {
	if err := load(path, v); err != nil {
		return &Error{Path: path, Err: err}
	}
	return nil
}

func load(path string, v Validator) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(data) > maxFileBytes {
		return fmt.Errorf("larger than %d bytes", maxFileBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("the file is empty")
		}
		return err
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("only one YAML document is allowed")
	}
	return v.Validate()
}

// FieldError names the configuration field that is wrong.
type FieldError struct {
	Field string // dotted path, e.g. "cas[0].key"
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Errorf makes a FieldError.
func Errorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Resolve makes a relative path in a configuration file relative to the
// file's directory, so a configuration works from any working directory.
func Resolve(configPath, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(configPath), p)
}

// Duration is a time.Duration written as Go does ("90s", "12h") or in whole
// days and years ("30d", "10y"; a year is 365 days).
type Duration time.Duration

// ParseDuration parses the forms Duration accepts.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	for suffix, unit := range map[string]time.Duration{"y": 365 * 24 * time.Hour, "d": 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.Atoi(n)
			if err != nil || v < 0 {
				return 0, fmt.Errorf("%q is not a whole number of %s", s, map[string]string{"y": "years", "d": "days"}[suffix])
			}
			return time.Duration(v) * unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (use e.g. 90s, 12h, 30d, 10y)", s)
	}
	return d, nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
