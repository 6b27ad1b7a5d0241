package api

import (
	"fmt"
	"net/http"

	"github.com/oces-pki/oces/ca"
)

// Bounds of every input field, in bytes, checked before anything else
// looks at a request. They are generous next to what the CA accepts (a
// name of 64 characters may take 256 bytes in UTF-8), so that the CA's
// own checks give the precise message, but small enough that no field
// can swamp a log line, an error message or an audit record.
const (
	maxCA        = 64 // issuing CA names are at most 64 characters
	maxProfile   = 64 // profile names
	maxCSR       = 16 << 10
	maxName      = 256 // CN, GN, SN, O: 64 characters (X.520 upper bounds) of up to 4 bytes
	maxCVR       = 16  // 8 digits
	maxCPR       = 16  // DDMMYY-SSSS
	maxSubjectID = 128 // PID:9208-2002-2-…, CVR:…-RID:…, UI:DK-E:G:<uuid>
	maxEmail     = 254 // RFC 5321 section 4.5.3.1.3: a path of 256 octets less "<" and ">"
	maxReason    = 32  // RFC 5280 CRLReason names
	maxDate      = 64  // RFC 3339
	maxSerial    = 64  // 32 hexadecimal digits, with colons or 0x
	maxStatus    = 16
	maxLimit     = 8
)

// field is one input value and its bound.
type field struct {
	name  string // as the client writes it: the JSON key or the query parameter
	value string
	max   int
}

// checkFields refuses the first value over its bound, naming it without
// echoing it.
func checkFields(fs ...field) error {
	for _, f := range fs {
		if len(f.value) > f.max {
			return fmt.Errorf("%w: %s is %d bytes; at most %d are accepted", ca.ErrInvalidRequest, f.name, len(f.value), f.max)
		}
	}
	return nil
}

// bounded is a request body whose fields have bounds.
type bounded interface {
	fields() []field
}

func (b *IssueRequest) fields() []field {
	return []field{
		{"ca", b.CA, maxCA}, {"profile", b.Profile, maxProfile}, {"csr", b.CSR, maxCSR},
		{"name", b.Name, maxName}, {"given_name", b.GivenName, maxName}, {"surname", b.Surname, maxName},
		{"organization", b.Organization, maxName}, {"cvr", b.CVR, maxCVR}, {"cpr", b.CPR, maxCPR},
		{"subject_id", b.SubjectID, maxSubjectID}, {"email", b.Email, maxEmail},
	}
}

func (b *RevokeRequest) fields() []field {
	return []field{{"reason", b.Reason, maxReason}, {"invalidity_date", b.InvalidityDate, maxDate}}
}

func (b *MatchCPRRequest) fields() []field {
	return []field{{"pid", b.PID, maxSubjectID}, {"cpr", b.CPR, maxCPR}}
}

// emptyRequest is the body of the status changes without parameters and
// of a forced CRL run: an empty object, or none at all.
type emptyRequest struct{}

func (*emptyRequest) fields() []field { return nil }

var (
	_ bounded = (*IssueRequest)(nil)
	_ bounded = (*RevokeRequest)(nil)
	_ bounded = (*MatchCPRRequest)(nil)
	_ bounded = (*emptyRequest)(nil)
)

// pathValue returns a bounded path parameter; label names it in errors.
func pathValue(r *http.Request, param, label string, max int) (string, error) {
	v := r.PathValue(param)
	return v, checkFields(field{label + " in the path", v, max})
}

func (b *SignDigestRequest) fields() []field {
	return []field{{"seal", b.Seal, maxSeal}, {"hash", b.Hash, maxLevel}, {"level", b.Level, maxLevel}}
}

func (b *EventRequest) fields() []field {
	return []field{{"action", b.Action, maxProfile}, {"target", b.Target, 256}, {"outcome", b.Outcome, 1024}}
}

// Bounds of the signing service's inputs.
const (
	maxSeal  = 64
	maxLevel = 16
)
