package citizen

import (
	"context"
	"crypto/subtle"
	"fmt"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id cost parameters (RFC 9106 section 3.1).
type Argon2Params struct {
	MemoryKiB uint32 `json:"m"`
	Time      uint32 `json:"t"`
	Threads   uint8  `json:"p"`
}

// DefaultArgon2 is m=19 MiB, t=2, p=1: OWASP's minimum for argon2id, and
// what a 2-core server can afford at a few dozen logins a second.
var DefaultArgon2 = Argon2Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

// PasswordHash is a stored password: argon2id(HMAC(pepper, password), salt).
type PasswordHash struct {
	Salt   []byte       `json:"salt"` // 16 bytes
	Hash   []byte       `json:"hash"` // 32 bytes
	Params Argon2Params `json:"params"`
}

const (
	minPasswordLen = 8
	maxPasswordLen = 64
	pepperPrefix   = "oces-citizen-password-v1:"
)

// checkPassword applies the password rules: 8 to 64 characters, not the
// user ID.
func checkPassword(userID, pw string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case !utf8.ValidString(pw):
		return fmt.Errorf("%w: the password is not valid UTF-8", ErrInvalidRequest)
	case n < minPasswordLen || n > maxPasswordLen:
		return fmt.Errorf("%w: a password has %d to %d characters", ErrInvalidRequest, minPasswordLen, maxPasswordLen)
	case pw == userID:
		return fmt.Errorf("%w: the password cannot be the user ID", ErrInvalidRequest)
	}
	return nil
}

// hashPassword draws a salt and stretches the peppered password.
func (s *Service) hashPassword(ctx context.Context, pw string) (PasswordHash, error) {
	salt := make([]byte, 16)
	if err := s.readRandom(salt); err != nil {
		return PasswordHash{}, err
	}
	h := PasswordHash{Salt: salt, Params: s.argon}
	sum, err := s.stretch(ctx, &h, pw)
	if err != nil {
		return PasswordHash{}, err
	}
	h.Hash = sum
	return h, nil
}

// verifyPassword reports whether pw matches h, in time independent of
// where they differ.
func (s *Service) verifyPassword(ctx context.Context, h *PasswordHash, pw string) (bool, error) {
	sum, err := s.stretch(ctx, h, pw)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(sum, h.Hash) == 1, nil
}

// stretch is argon2id over the HMAC of the password under the pepper key.
// Bounding the length first keeps a long input from costing the HSM more.
func (s *Service) stretch(ctx context.Context, h *PasswordHash, pw string) ([]byte, error) {
	if len(pw) > 4*maxPasswordLen {
		pw = pw[:4*maxPasswordLen]
	}
	peppered, err := s.keys.MAC(ctx, s.pepper, []byte(pepperPrefix+pw))
	if err != nil {
		return nil, fmt.Errorf("citizen: peppering the password: %w", err)
	}
	p := h.Params
	if p.MemoryKiB == 0 || p.Time == 0 || p.Threads == 0 {
		return nil, fmt.Errorf("citizen: stored password has no argon2 parameters")
	}
	return argon2.IDKey(peppered, h.Salt, p.Time, p.MemoryKiB, p.Threads, 32), nil
}
