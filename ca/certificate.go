package ca

import (
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Serial is a certificate serial number: 128 random bits, kept as the
// 16-byte big-endian value so that it sorts and compares as bytes.
type Serial [16]byte

// ParseSerial reads a serial written in hexadecimal, with or without colons
// and leading zeros, as openssl and `oces cert list` print it.
func ParseSerial(s string) (Serial, error) {
	var out Serial
	h := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	h = strings.TrimPrefix(h, "0x")
	if h == "" {
		return out, fmt.Errorf("%w: empty serial", ErrInvalidRequest)
	}
	n, ok := new(big.Int).SetString(h, 16)
	if !ok {
		return out, fmt.Errorf("%w: serial %q is not hexadecimal", ErrInvalidRequest, s)
	}
	if n.Sign() <= 0 || n.BitLen() > 128 {
		return out, fmt.Errorf("%w: serial %q is not a positive 128-bit number", ErrInvalidRequest, s)
	}
	n.FillBytes(out[:])
	return out, nil
}

// SerialFromBig converts a certificate's serial number. It fails for serials
// that this CA cannot have issued (negative, zero or wider than 128 bits).
func SerialFromBig(n *big.Int) (Serial, error) {
	var out Serial
	if n == nil || n.Sign() <= 0 || n.BitLen() > 128 {
		return out, fmt.Errorf("ca: serial %v is outside the 128-bit range", n)
	}
	n.FillBytes(out[:])
	return out, nil
}

// Big returns the serial as the integer that goes into a certificate.
func (s Serial) Big() *big.Int { return new(big.Int).SetBytes(s[:]) }

// String is the serial in lower-case hexadecimal, 32 digits.
func (s Serial) String() string { return hex.EncodeToString(s[:]) }

// Status is the revocation status of an issued certificate.
type Status string

// The statuses of RFC 5280 and RFC 6960 as OCES uses them. A suspended
// certificate is on hold (reason certificateHold) and may be released back to
// good; a revoked certificate stays revoked.
const (
	StatusGood      Status = "good"
	StatusSuspended Status = "suspended"
	StatusRevoked   Status = "revoked"
)

// ParseStatus validates a status name.
func ParseStatus(s string) (Status, error) {
	switch Status(s) {
	case StatusGood, StatusSuspended, StatusRevoked:
		return Status(s), nil
	}
	return "", fmt.Errorf("%w: unknown status %q (want good, suspended or revoked)", ErrInvalidRequest, s)
}

// Certificate is an issued certificate as the CA keeps it.
type Certificate struct {
	Serial    Serial `json:"serial"`
	CA        string `json:"ca"`
	Profile   string `json:"profile"`
	SubjectID string `json:"subject_id"` // registry identifier, e.g. "PID:9208-2002-2-…"
	Partition int    `json:"partition"`  // CRL partition named in the certificate

	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	IssuedAt  time.Time `json:"issued_at"`

	Status         Status           `json:"status"`
	StatusChanged  time.Time        `json:"status_changed,omitzero"`
	Reason         RevocationReason `json:"reason,omitempty"`
	InvalidityDate time.Time        `json:"invalidity_date,omitzero"`
	// RevokedAt is the time of the first suspension or revocation; a
	// revocation that follows a hold keeps the hold's time (RFC 5280 5.3.2).
	RevokedAt time.Time `json:"revoked_at,omitzero"`

	DER []byte `json:"der"`
}

// X509 parses the stored DER.
func (c *Certificate) X509() (*x509.Certificate, error) {
	return x509.ParseCertificate(c.DER)
}

// Prepared is an issuance between its two durable steps: the serial is
// reserved and the exact TBSCertificate to be signed has passed the linter,
// but the CA key has not signed yet. A Prepared that never completes keeps its
// serial reserved forever.
type Prepared struct {
	Serial    Serial
	CA        string
	Profile   string
	SubjectID string
	Partition int
	NotBefore time.Time
	NotAfter  time.Time
	Created   time.Time
	// TBS is the DER TBSCertificate that was linted; the signed certificate
	// must carry exactly these bytes.
	TBS []byte
	// NewSubject, when set, is a subject first seen in this issuance, with
	// its identifier drawn already. Reserve registers it in the same
	// transaction, so a new citizen costs no extra commit; it fails with
	// ErrSubjectExists if the identifier or the lookup key is taken.
	NewSubject *Subject
}
