package hsm

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"go.step.sm/crypto/kms/uri"
)

const (
	// DefaultModule is the PKCS#11 module used when neither the key URI's
	// module-path nor the OCES_PKCS11_MODULE environment variable names one.
	DefaultModule = "/usr/lib/softhsm/libsofthsm2.so"

	// DefaultMaxSessions is the size of a token's session pool when the key
	// URI has no max-sessions attribute.
	DefaultMaxSessions = 16

	// EnvPIN is the environment variable holding the user PIN when the key
	// URI has no pin-source.
	EnvPIN = "OCES_HSM_PIN"

	// EnvModule is the environment variable naming the default PKCS#11 module.
	EnvModule = "OCES_PKCS11_MODULE"

	scheme = "pkcs11"
)

// keyRef is a parsed RFC 7512 key URI.
type keyRef struct {
	module      string // module-path
	token       string // token label
	label       string // object (CKA_LABEL)
	id          []byte // id (CKA_ID)
	pinSource   string
	maxSessions int
}

// parseKeyURI parses an RFC 7512 URI naming a token and, when needObject is
// true, an object in it. The URI itself is left out of errors on purpose: a
// misconfigured URI may carry a secret.
func parseKeyURI(raw string, needObject bool) (keyRef, error) {
	u, err := uri.ParseWithScheme(scheme, raw)
	if err != nil {
		return keyRef{}, fmt.Errorf("hsm: key uri is not a pkcs11: uri (RFC 7512): %w", err)
	}
	if u.Has("pin-value") {
		return keyRef{}, ErrPINValue
	}
	if u.Has("serial") || u.Has("slot-id") {
		return keyRef{}, errors.New("hsm: key uri selects the token by serial or slot-id; select it by label with token=<label>")
	}
	ref := keyRef{
		module:      u.Get("module-path"),
		token:       u.Get("token"),
		label:       u.Get("object"),
		id:          u.GetEncoded("id"),
		pinSource:   u.Get("pin-source"),
		maxSessions: DefaultMaxSessions,
	}
	if ref.token == "" {
		return keyRef{}, errors.New("hsm: key uri names no token; add token=<label>")
	}
	if ref.module == "" {
		ref.module = defaultModule()
	}
	if v := u.Get("max-sessions"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 {
			return keyRef{}, fmt.Errorf("hsm: key uri max-sessions=%q is not a number of at least 2", v)
		}
		ref.maxSessions = n
	}
	if needObject && ref.label == "" && len(ref.id) == 0 {
		return keyRef{}, fmt.Errorf("hsm: key uri for token %q names no key; add object=<label> or id=<hex>", ref.token)
	}
	return ref, nil
}

func defaultModule() string {
	if m := os.Getenv(EnvModule); m != "" {
		return m
	}
	return DefaultModule
}

// tokenKey identifies a shared token context: one per (module-path, token).
func (r keyRef) tokenKey() string { return r.module + "\x00" + r.token }

// name describes the key for errors and logs, without secrets.
func (r keyRef) name() string {
	if r.label != "" {
		return fmt.Sprintf("%q on token %q", r.label, r.token)
	}
	return fmt.Sprintf("id %x on token %q", r.id, r.token)
}

// stepTokenURI is the URI handed to go.step.sm/crypto/kms/pkcs11.New: the
// token only, the PIN goes separately.
func (r keyRef) stepTokenURI() string {
	return fmt.Sprintf("pkcs11:module-path=%s;token=%s;max-sessions=%d",
		url.QueryEscape(r.module), url.QueryEscape(r.token), r.maxSessions)
}

// stepKeyURI is the key name handed to step's CreateKey and CreateSigner.
func stepKeyURI(id []byte, label string) string {
	var parts []string
	if len(id) > 0 {
		parts = append(parts, "id=0x"+fmt.Sprintf("%x", id))
	}
	if label != "" {
		parts = append(parts, "object="+url.QueryEscape(label))
	}
	return "pkcs11:" + strings.Join(parts, ";")
}

// readPIN returns the user PIN from pin-source (a path, optionally prefixed
// "file:"), else from OCES_HSM_PIN.
func (r keyRef) readPIN() (string, error) {
	if r.pinSource == "" {
		if pin := os.Getenv(EnvPIN); pin != "" {
			return pin, nil
		}
		return "", fmt.Errorf("hsm: no PIN for token %q; add pin-source=/path/to/pin-file to the key uri or set %s", r.token, EnvPIN)
	}
	path := strings.TrimPrefix(strings.TrimPrefix(r.pinSource, "file://"), "file:")
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("hsm: reading the PIN for token %q from pin-source: %w", r.token, err)
	}
	pin := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if pin == "" {
		return "", fmt.Errorf("hsm: pin-source file %s for token %q is empty", path, r.token)
	}
	return pin, nil
}
