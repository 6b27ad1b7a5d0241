package citizen

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/oces-pki/oces/audit"
)

// The code app is a TOTP authenticator (RFC 6238 over RFC 4226's HOTP):
// HMAC-SHA-1, 6 digits, 30-second steps, one step of clock drift either
// way, and no code accepted twice (a code's step must be later than the
// last accepted one). The seed is sealed with AES-GCM under a key in the
// HSM, bound to the user ID.
const (
	totpStep   = 30 * time.Second
	totpDigits = 6
	seedLen    = 20 // 160 bits, RFC 4226 section 4 R6
	appIssuer  = "OCES"
)

// CodeApp is the stored side of an activated code app.
type CodeApp struct {
	Sealed    []byte    `json:"sealed_seed"`
	Activated time.Time `json:"activated"`
	LastStep  int64     `json:"last_step,omitempty"` // the step of the last accepted code
}

// Sealer seals the code app's seed in the HSM; *hsm.HSM implements it.
type Sealer interface {
	Seal(ctx context.Context, keyURI string, plaintext, aad []byte) ([]byte, error)
	Open(ctx context.Context, keyURI string, sealed, aad []byte) ([]byte, error)
}

// AppEnrolment is shown once, when the app is activated: the seed as an
// otpauth:// URI (the Key Uri Format of Google Authenticator) and as a QR
// code in PNG.
type AppEnrolment struct {
	URI string
	QR  []byte
}

// AppChallenge names the two code card keys whose codes activate the
// code app. They stay the same until the app is activated.
func (s *Service) AppChallenge(ctx context.Context, sessionID string) ([2]string, error) {
	sess, err := s.session(sessionID, LevelLow)
	if err != nil {
		return [2]string{}, err
	}
	c, err := s.store.Citizen(ctx, sess.UserID)
	if err != nil {
		return [2]string{}, err
	}
	if c.Card == nil || c.Card.Suspended || len(c.Card.Codes) < 3 {
		return [2]string{}, ErrCardSuspended
	}
	if len(c.Card.AppChallenge) == 2 {
		return [2]string{c.Card.AppChallenge[0], c.Card.AppChallenge[1]}, nil
	}
	var pick [2]string
	for pick[0] == pick[1] || pick[0] == c.Card.Challenge || pick[1] == c.Card.Challenge {
		for i := range pick {
			if pick[i], err = s.pickChallenge(c.Card); err != nil {
				return pick, err
			}
		}
	}
	_, err = s.store.UpdateCitizen(ctx, sess.UserID, func(c *Citizen) ([]audit.Event, error) {
		if c.Card != nil && len(c.Card.AppChallenge) != 2 {
			c.Card.AppChallenge = pick[:]
		}
		return nil, nil
	})
	if err != nil {
		return pick, err
	}
	c, err = s.store.Citizen(ctx, sess.UserID)
	if err != nil {
		return pick, err
	}
	return [2]string{c.Card.AppChallenge[0], c.Card.AppChallenge[1]}, nil
}

// ActivateApp activates the code app with the codes of the two keys that
// AppChallenge named, and returns the seed, once. A wrong code counts as a
// wrong code at login does.
func (s *Service) ActivateApp(ctx context.Context, sessionID, code1, code2 string) (*AppEnrolment, error) {
	if s.sealer == nil || s.appKey == "" {
		return nil, fmt.Errorf("%w: the code app is not configured (citizen.app_key)", ErrInvalidRequest)
	}
	sess, err := s.session(sessionID, LevelLow)
	if err != nil {
		return nil, err
	}
	c, err := s.store.Citizen(ctx, sess.UserID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if c.Lock.refusal(now, s.policy) != "" || c.Status != StatusActive {
		return nil, ErrAuthFailed
	}
	if c.Card == nil || c.Card.Suspended || len(c.Card.AppChallenge) != 2 {
		return nil, fmt.Errorf("%w: ask for the two key numbers first", ErrInvalidRequest)
	}
	keys := c.Card.AppChallenge
	ok1, err := s.checkCode(ctx, c.UserID, c.Card, keys[0], code1)
	if err != nil {
		return nil, err
	}
	ok2, err := s.checkCode(ctx, c.UserID, c.Card, keys[1], code2)
	if err != nil {
		return nil, err
	}
	seed := make([]byte, seedLen)
	if err := s.readRandom(seed); err != nil {
		return nil, err
	}
	var sealed []byte
	if ok1 && ok2 {
		if sealed, err = s.sealer.Seal(ctx, s.appKey, seed, []byte(appAAD+c.UserID)); err != nil {
			return nil, fmt.Errorf("citizen: sealing the code app seed: %w", err)
		}
	}
	var accepted bool
	_, err = s.store.UpdateCitizen(ctx, c.UserID, func(c *Citizen) ([]audit.Event, error) {
		accepted = false
		if c.Card == nil || len(c.Card.AppChallenge) != 2 || c.Card.AppChallenge[0] != keys[0] || c.Card.AppChallenge[1] != keys[1] {
			return nil, nil
		}
		if _, unused := c.Card.Codes[keys[1]]; !ok1 || !ok2 || !unused {
			return s.wrongCode(c, now, "app activation"), nil
		}
		delete(c.Card.Codes, keys[0])
		delete(c.Card.Codes, keys[1])
		c.Card.AppChallenge, c.Card.WrongCodes = nil, 0
		c.App = &CodeApp{Sealed: sealed, Activated: now.UTC()}
		accepted = true
		return []audit.Event{s.event(ActionAppActivate, c.UserID, nil, nil)}, nil
	})
	if err != nil {
		return nil, err
	}
	if !accepted {
		return nil, ErrAuthFailed
	}
	return appEnrolment(c.UserID, seed)
}

const appAAD = "oces-citizen-app-seed-v1:"

func appEnrolment(userID string, seed []byte) (*AppEnrolment, error) {
	secret := strings.TrimRight(base32.StdEncoding.EncodeToString(seed), "=")
	q := url.Values{}
	q.Set("secret", secret)
	q.Set("issuer", appIssuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", "6")
	q.Set("period", "30")
	u := "otpauth://totp/" + url.PathEscape(appIssuer+":"+userID) + "?" + q.Encode()
	png, err := qrcode.Encode(u, qrcode.Medium, 256)
	if err != nil {
		return nil, fmt.Errorf("citizen: drawing the QR code: %w", err)
	}
	return &AppEnrolment{URI: u, QR: png}, nil
}

// checkApp reports whether code is a TOTP of the citizen's app at now,
// one step either way, later than the last accepted step, and which step.
func (s *Service) checkApp(ctx context.Context, c *Citizen, code string, now time.Time) (int64, bool, error) {
	if c.App == nil || s.sealer == nil || len(code) != totpDigits || strings.Trim(code, "0123456789") != "" {
		return 0, false, nil
	}
	seed, err := s.sealer.Open(ctx, s.appKey, c.App.Sealed, []byte(appAAD+c.UserID))
	if err != nil {
		return 0, false, fmt.Errorf("citizen: opening the code app seed: %w", err)
	}
	step := now.Unix() / int64(totpStep/time.Second)
	for _, st := range []int64{step - 1, step, step + 1} {
		if st > c.App.LastStep && hmac.Equal([]byte(TOTP(seed, st)), []byte(code)) {
			return st, true, nil
		}
	}
	return 0, false, nil
}

// TOTP is the RFC 6238 code of seed at time step (T = floor(unix/30)):
// HOTP (RFC 4226 section 5.3) with HMAC-SHA-1 and 6 digits.
func TOTP(seed []byte, step int64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(step))
	m := hmac.New(sha1.New, seed)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", v%1_000_000)
}
