package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"time"

	"github.com/oces-pki/oces/citizen"
)

// A service provider's signing request, as NemLog-in's signing client
// runs it (docs/api.md, docs/web.md): the provider posts a document and a
// return URL and gets the signing address on the citizens' web listener;
// the citizen signs there and is sent back with a one-time reference; the
// provider fetches the signed document for it, once.

// SigningProvider is a service provider allowed to make signing requests:
// a CSC client (citizen.csc_clients) with a client certificate, and the
// origins its return URLs may have.
type SigningProvider struct {
	ID                string
	CertificateSHA256 []byte
	ReturnOrigins     []string
}

// SigningRequestsConfig wires SigningRequestsHandler.
type SigningRequestsConfig struct {
	Requests  *citizen.SigningRequests
	Providers []SigningProvider
	// SignURL gives the web listener's base URL (https://host:port); the
	// signing address is SignURL()/request/<id>.
	SignURL func() string
	// MaxDocumentBytes bounds a document; the body may hold its base64.
	MaxDocumentBytes int64
	Logger           *slog.Logger
}

// SigningRequest is the body of POST /api/v1/signing-requests.
type SigningRequest struct {
	Document  string `json:"document"` // the PDF, base64 (RFC 4648 section 4)
	ReturnURL string `json:"return_url"`
	UserHint  string `json:"user_hint,omitempty"`
}

func (b *SigningRequest) fields() []field {
	return []field{{"document", b.Document, math.MaxInt}, {"return_url", b.ReturnURL, 2048}, {"user_hint", b.UserHint, 64}}
}

var _ bounded = (*SigningRequest)(nil)

// SigningRequestCreated is the answer: where to send the citizen.
type SigningRequestCreated struct {
	ID             string    `json:"id"`
	SignURL        string    `json:"sign_url"`
	Expires        time.Time `json:"expires"`
	DocumentSHA256 string    `json:"document_sha256"`
}

// SigningRequestsHandler serves POST /api/v1/signing-requests and
// GET /api/v1/signing-requests/{reference} on the admin listener, for
// service providers authenticated by their registered client certificate.
func SigningRequestsHandler(cfg SigningRequestsConfig) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxDocumentBytes <= 0 {
		cfg.MaxDocumentBytes = 10 << 20
	}
	a := &API{log: cfg.Logger, maxBody: cfg.MaxDocumentBytes*4/3 + 4096}
	provider := func(r *http.Request) (*SigningProvider, error) {
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			sum := sha256.Sum256(r.TLS.VerifiedChains[0][0].Raw)
			for i, p := range cfg.Providers {
				if subtle.ConstantTimeCompare(p.CertificateSHA256, sum[:]) == 1 {
					return &cfg.Providers[i], nil
				}
			}
		}
		return nil, fmt.Errorf("%w: signing requests need the client certificate of a registered service provider (citizen.csc_clients)", ErrForbidden)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/signing-requests", func(w http.ResponseWriter, r *http.Request) {
		sp, err := provider(r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		var req SigningRequest
		if err := a.decode(w, r, &req); err != nil {
			a.fail(w, r, err)
			return
		}
		doc, err := base64.StdEncoding.DecodeString(req.Document)
		if err != nil {
			a.fail(w, r, fmt.Errorf("%w: document must be the base64 of the PDF", citizen.ErrInvalidRequest))
			return
		}
		if int64(len(doc)) > cfg.MaxDocumentBytes {
			a.fail(w, r, &http.MaxBytesError{Limit: cfg.MaxDocumentBytes})
			return
		}
		created, err := cfg.Requests.Create(r.Context(), citizen.ServiceProvider{ID: sp.ID, ReturnOrigins: sp.ReturnOrigins},
			citizen.NewRequest{Document: doc, ReturnURL: req.ReturnURL, UserHint: req.UserHint})
		if err != nil {
			a.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusCreated, SigningRequestCreated{ID: created.ID, SignURL: cfg.SignURL() + "/request/" + url.PathEscape(created.ID),
			Expires: created.Expires.UTC(), DocumentSHA256: hex.EncodeToString(created.SHA256[:])})
	})
	mux.HandleFunc("GET /api/v1/signing-requests/{reference}", func(w http.ResponseWriter, r *http.Request) {
		sp, err := provider(r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		ref, err := pathValue(r, "reference", "reference", 64)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		got, err := cfg.Requests.Collect(r.Context(), sp.ID, ref)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/pdf")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Document-SHA256", hex.EncodeToString(got.SHA256[:]))
		_, _ = w.Write(got.Signed)
	})
	return mux
}
