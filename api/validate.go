package api

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/internal/ratelimit"
	"github.com/oces-pki/oces/validate"
)

// DocumentValidator is what POST /api/v1/validate needs of the validation
// service.
type DocumentValidator interface {
	Validate(ctx context.Context, doc, detached []byte) (*validate.Report, error)
	MaxDocumentBytes() int64
}

var _ DocumentValidator = (*validate.Validator)(nil)

// ValidateRequest is the JSON form of POST /api/v1/validate, for a
// detached CAdES signature: both parts base64 (RFC 4648 §4). A PDF or an
// encapsulated CMS can be sent as the raw body instead.
type ValidateRequest struct {
	Signature string `json:"signature"` // the PDF, or the CMS SignedData (DER or BER)
	Content   string `json:"content"`   // the signed content of a detached CMS
}

// ValidateConfig tunes ValidateHandler.
type ValidateConfig struct {
	Validator DocumentValidator
	// RatePerSecond and Burst bound each client address's validations
	// (a token bucket); defaults 2 per second, bursts of 10.
	RatePerSecond float64
	Burst         int
	Logger        *slog.Logger
	Now           func() time.Time
}

// ValidateHandler serves POST /api/v1/validate on the public listener: no
// login, the body bounded by the validator's document size, each client
// address rate-limited. The answer is the validation report (200), whatever
// the verdict; 400 for a request that is not a document, 413 for one too
// large, 429 when the client is over its rate.
func ValidateHandler(cfg ValidateConfig) http.Handler {
	if cfg.RatePerSecond <= 0 {
		cfg.RatePerSecond = 2
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &API{log: cfg.Logger}
	lim := ratelimit.New(cfg.RatePerSecond, cfg.Burst)
	retry := strconv.Itoa(int(math.Ceil(1 / cfg.RatePerSecond)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !lim.Allow(ratelimit.ClientAddr(r), cfg.Now()) {
			w.Header().Set("Retry-After", retry)
			writeJSON(w, http.StatusTooManyRequests, Error{Error: "too many validations from this address; retry later"})
			return
		}
		max := cfg.Validator.MaxDocumentBytes()
		// base64 of a document and of its content, with room for the JSON.
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max*8/3+4096))
		if err != nil {
			a.fail(w, r, err)
			return
		}
		doc, detached, err := validateInput(r, body)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if int64(len(doc)) > max || int64(len(detached)) > max {
			a.fail(w, r, &http.MaxBytesError{Limit: max})
			return
		}
		report, err := cfg.Validator.Validate(r.Context(), doc, detached)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, report)
	})
}

func (b *ValidateRequest) fields() []field {
	return []field{{"signature", b.Signature, math.MaxInt}, {"content", b.Content, math.MaxInt}}
}

// validateInput reads the document from a raw body (application/pdf,
// application/pkcs7-signature, application/octet-stream, …) or from a
// ValidateRequest (application/json).
func validateInput(r *http.Request, body []byte) (doc, detached []byte, err error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" {
		if len(body) == 0 {
			return nil, nil, fmt.Errorf("%w: the body is empty; send the signed PDF or CMS", ca.ErrInvalidRequest)
		}
		return body, nil, nil
	}
	var req ValidateRequest
	if err := decodeBody(body, &req); err != nil {
		return nil, nil, err
	}
	if doc, err = base64.StdEncoding.DecodeString(req.Signature); err != nil || len(doc) == 0 {
		return nil, nil, fmt.Errorf("%w: signature must be the base64 of the signed document", ca.ErrInvalidRequest)
	}
	if req.Content != "" {
		if detached, err = base64.StdEncoding.DecodeString(req.Content); err != nil {
			return nil, nil, fmt.Errorf("%w: content must be base64", ca.ErrInvalidRequest)
		}
	}
	return doc, detached, nil
}
