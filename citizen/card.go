package citizen

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/oces-pki/oces/internal/textpdf"
)

// cardKeys is how many numbered keys a code card has, as NemID's had.
const cardKeys = 148

const codePrefix = "oces-citizen-code-v1:"

// CodeCard is the stored side of a code card: per key number, a salted
// HMAC of its code under the code card key in the HSM. A key is removed
// once its code has been used.
type CodeCard struct {
	Serial string               `json:"serial"`
	Issued time.Time            `json:"issued"`
	Codes  map[string]CodeEntry `json:"codes"`
	// Challenge is the key number asked for until its code is given right.
	Challenge string `json:"challenge,omitempty"`
	// AppChallenge are the two key numbers that activate the code app.
	AppChallenge []string `json:"app_challenge,omitempty"`
	WrongCodes   int      `json:"wrong_codes,omitempty"`
	Suspended    bool     `json:"suspended,omitempty"`
}

// CodeEntry is one key's salted keyed hash.
type CodeEntry struct {
	Salt []byte `json:"salt"`
	MAC  []byte `json:"mac"`
}

// Card is the printable code card, handed out once and never stored.
type Card struct {
	Serial string
	UserID string
	Name   string
	Keys   []CardKey // in key number order
}

// CardKey is one numbered key: a 4-digit key number and its 6-digit code.
type CardKey struct {
	Number string
	Code   string
}

// newCard draws a card of 148 distinct key numbers and their codes and
// computes the stored side.
func (s *Service) newCard(ctx context.Context, userID, name string) (*Card, *CodeCard, error) {
	serialBytes := make([]byte, 5)
	if err := s.readRandom(serialBytes); err != nil {
		return nil, nil, err
	}
	card := &Card{Serial: fmt.Sprintf("%010d", binary.BigEndian.Uint64(append([]byte{0, 0, 0}, serialBytes...))%1e10),
		UserID: userID, Name: name}
	stored := &CodeCard{Serial: card.Serial, Issued: s.now().UTC(), Codes: make(map[string]CodeEntry, cardKeys)}
	for len(stored.Codes) < cardKeys {
		num, err := s.digits(4)
		if err != nil {
			return nil, nil, err
		}
		if _, dup := stored.Codes[num]; dup {
			continue
		}
		code, err := s.digits(6)
		if err != nil {
			return nil, nil, err
		}
		salt := make([]byte, 16)
		if err := s.readRandom(salt); err != nil {
			return nil, nil, err
		}
		mac, err := s.codeMAC(ctx, userID, card.Serial, num, salt, code)
		if err != nil {
			return nil, nil, err
		}
		stored.Codes[num] = CodeEntry{Salt: salt, MAC: mac}
		card.Keys = append(card.Keys, CardKey{Number: num, Code: code})
	}
	slices.SortFunc(card.Keys, func(a, b CardKey) int { return strings.Compare(a.Number, b.Number) })
	return card, stored, nil
}

// codeMAC binds a code to its user, card and key number.
func (s *Service) codeMAC(ctx context.Context, userID, serial, num string, salt []byte, code string) ([]byte, error) {
	msg := make([]byte, 0, 96)
	msg = fmt.Appendf(msg, "%s%s:%s:%s:", codePrefix, userID, serial, num)
	msg = append(msg, salt...)
	msg = append(msg, ':')
	msg = append(msg, code...)
	mac, err := s.keys.MAC(ctx, s.codeKey, msg)
	if err != nil {
		return nil, fmt.Errorf("citizen: hashing a code card code: %w", err)
	}
	return mac, nil
}

// checkCode reports whether code is the code of key num on the stored card.
func (s *Service) checkCode(ctx context.Context, userID string, c *CodeCard, num, code string) (bool, error) {
	e, ok := c.Codes[num]
	if !ok || len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return false, nil
	}
	mac, err := s.codeMAC(ctx, userID, c.Serial, num, e.Salt, code)
	if err != nil {
		return false, err
	}
	return hmac.Equal(mac, e.MAC), nil
}

// digits draws n uniformly random decimal digits.
func (s *Service) digits(n int) (string, error) {
	var max uint32 = 1
	for range n {
		max *= 10
	}
	limit := (1<<32 - 1) / max * max // reject the biased tail
	var b [4]byte
	for {
		if err := s.readRandom(b[:]); err != nil {
			return "", err
		}
		if v := binary.BigEndian.Uint32(b[:]); v < limit {
			return fmt.Sprintf("%0*d", n, v%max), nil
		}
	}
}

// pickChallenge chooses a random unused key number of c.
func (s *Service) pickChallenge(c *CodeCard) (string, error) {
	keys := make([]string, 0, len(c.Codes))
	for k := range c.Codes {
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return "", nil
	}
	slices.Sort(keys)
	var b [4]byte
	if err := s.readRandom(b[:]); err != nil {
		return "", err
	}
	return keys[binary.BigEndian.Uint32(b[:])%uint32(len(keys))], nil
}

// PDF renders the card as a one-page A4 PDF (ISO 32000-1) in Courier:
// the holder, the card number and the 148 keys in four columns. The file
// is written once, for printing; it is the only place the codes exist.
func (c *Card) PDF() []byte {
	var content bytes.Buffer
	text := func(x, y, size int, s string) {
		fmt.Fprintf(&content, "BT /F1 %d Tf %d %d Td (%s) Tj ET\n", size, x, y, textpdf.Literal(s))
	}
	text(50, 800, 14, "OCES code card")
	text(50, 782, 10, "Name: "+c.Name)
	text(50, 768, 10, "User ID: "+c.UserID+"    Card no.: "+c.Serial)
	text(50, 754, 8, "Keep this card safe. Give a code only when the login or signing page asks for its key number.")
	rows := (len(c.Keys) + 3) / 4
	for i, k := range c.Keys {
		col, row := i/rows, i%rows
		text(50+col*130, 730-row*18, 10, k.Number+"  "+k.Code)
	}
	stream := content.Bytes()
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Courier /Encoding /WinAnsiEncoding >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", len(stream), stream),
	}
	return textpdf.File(objs)
}
