package conf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type sample struct {
	Name  string   `yaml:"name"`
	Every Duration `yaml:"every"`
}

func (s *sample) Validate() error {
	if s.Name == "" {
		return Errorf("name", "required")
	}
	return nil
}

func TestLoad(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, file, want string
		every            time.Duration
	}{
		{"ok", "name: x\nevery: 30d\n", "", 30 * 24 * time.Hour},
		{"go duration", "name: x\nevery: 90s\n", "", 90 * time.Second},
		{"years", "name: x\nevery: 2y\n", "", 2 * 365 * 24 * time.Hour},
		{"unknown field", "name: x\ncolour: blue\n", "field colour not found", 0},
		{"invalid", "every: 1h\n", "name: required", 0},
		{"bad duration", "name: x\nevery: soon\n", "line 2: \"soon\" is not a duration", 0},
		{"negative days", "name: x\nevery: -3d\n", "whole number of days", 0},
		{"two documents", "name: x\n---\nname: y\n", "only one YAML document", 0},
		{"empty", "", "empty", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(p, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			var s sample
			err := Load(p, &s)
			if tc.want == "" {
				if err != nil || s.Every.D() != tc.every {
					t.Fatalf("Load: %v, every %s", err, s.Every.D())
				}
				return
			}
			var ce *Error
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("error %v, want a conf.Error naming the file and mentioning %q", err, tc.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	if got := Resolve("/etc/oces/oces.yaml", "ca/root.pem"); got != "/etc/oces/ca/root.pem" {
		t.Errorf("relative: %s", got)
	}
	if got := Resolve("/etc/oces/oces.yaml", "/var/x"); got != "/var/x" {
		t.Errorf("absolute: %s", got)
	}
}
