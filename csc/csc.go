// Package csc is the Cloud Signature Consortium API v2 (CSC "Architectures
// and protocols for remote signature applications", version 2.0.0.2) in
// front of the citizens' signing service, for the signing clients that
// speak it. It serves, under /csc/v2/ on the HTTPS listener:
//
//   - info (section 11.1), unauthenticated;
//   - oauth2/token (section 8.3.3), the client credentials grant of RFC 6749
//     section 4.4 for service providers; a service provider may present a
//     configured client certificate instead;
//   - credentials/list, credentials/info (11.4, 11.5): per citizen, the
//     long-term POCES credential and the one-time qualified credentials
//     (qes: with a P-256 key, qes-rsa: with an RSA-3072 key from the
//     pool; a CSC credential has one key), all SCAL 2 with explicit
//     authorisation and multisign;
//   - credentials/authorize (11.6), explicit mode: user ID, password (PIN)
//     and one-time code (OTP) give a SAD bound to the hashes named, valid a
//     few minutes and usable once;
//   - signatures/signHash (11.9) with the long-term credential, and
//     signatures/signDoc (11.11) with any (the one-time credentials with
//     signatureQualifier eu_eidas_qes; documents[].signAlgo must go with
//     the credential's key and picks PKCS#1 v1.5 or RSASSA-PSS for RSA).
//
// The SAD is checked by package citizen, next to the keys, not here.
// Handlers only decode, call, map errors and encode; errors are the CSC
// error objects (section 10.1) with the status of statusOf.
package csc

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/oces-pki/oces/citizen"
)

// Citizens is what the API needs of the signing service; *citizen.Service
// implements it.
type Citizens interface {
	Enrolled(ctx context.Context, userID string) (bool, error)
	Credential(ctx context.Context, userID string) ([]*x509.Certificate, error)
	Challenge(ctx context.Context, userID string) (string, error)
	Authorize(ctx context.Context, req citizen.AuthorizeRequest) (*citizen.SAD, error)
	SignHash(ctx context.Context, req citizen.HashRequest) ([][]byte, error)
	SignDocument(ctx context.Context, req citizen.DocumentRequest) (*citizen.Signed, error)
	OneTimeKeys() []citizen.KeyAlgorithm
}

var _ Citizens = (*citizen.Service)(nil)

// Client is a service provider allowed to call the API.
type Client struct {
	ID string
	// SecretSHA256 is the SHA-256 of the client secret (OAuth2 client
	// credentials); empty for a client that only uses its certificate.
	SecretSHA256 []byte
	// CertificateSHA256 is the SHA-256 of the client certificate's DER
	// (a VOCES or FOCES certificate verified by the TLS layer); optional.
	CertificateSHA256 []byte
}

// Config wires the API.
type Config struct {
	Citizens Citizens
	Clients  []Client
	// MaxBodyBytes bounds a request; 32 MiB by default (signDoc carries
	// the documents, base64).
	MaxBodyBytes int64
	TokenTTL     time.Duration // access tokens; 1 hour by default
	Clock        func() time.Time
	Logger       *slog.Logger
}

// API is the CSC handler. Mount it at the root of the HTTPS listener.
type API struct {
	citizens Citizens
	clients  []Client
	maxBody  int64
	ttl      time.Duration
	now      func() time.Time
	log      *slog.Logger
	mux      *http.ServeMux

	mu     sync.Mutex
	tokens map[string]token
}

type token struct {
	client  string
	expires time.Time
}

// Prefix is where the API lives.
const Prefix = "/csc/v2/"

// New builds the handler.
func New(cfg Config) (*API, error) {
	if cfg.Citizens == nil {
		return nil, errors.New("csc: the citizens' signing service is required")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 32 << 20
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = time.Hour
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a := &API{citizens: cfg.Citizens, clients: cfg.Clients, maxBody: cfg.MaxBodyBytes, ttl: cfg.TokenTTL,
		now: cfg.Clock, log: cfg.Logger, mux: http.NewServeMux(), tokens: make(map[string]token)}
	a.mux.HandleFunc("POST "+Prefix+"info", a.info)
	a.mux.HandleFunc("POST "+Prefix+"oauth2/token", a.token)
	a.mux.HandleFunc("POST "+Prefix+"credentials/list", a.authed(a.credentialsList))
	a.mux.HandleFunc("POST "+Prefix+"credentials/info", a.authed(a.credentialsInfo))
	a.mux.HandleFunc("POST "+Prefix+"credentials/authorize", a.authed(a.authorize))
	a.mux.HandleFunc("POST "+Prefix+"signatures/signHash", a.authed(a.signHash))
	a.mux.HandleFunc("POST "+Prefix+"signatures/signDoc", a.authed(a.signDoc))
	return a, nil
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Errors of the API, mapped by statusOf to the CSC error codes.
var (
	errInvalidRequest = errors.New("invalid_request")
	errInvalidClient  = errors.New("invalid_client")
	errInvalidToken   = errors.New("invalid_token")
	errUnsupported    = errors.New("unsupported_grant_type")
)

// statusOf is the one place errors become a CSC error code and a status.
func statusOf(err error) (int, string) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, "invalid_request"
	case errors.Is(err, errInvalidClient):
		return http.StatusUnauthorized, "invalid_client"
	case errors.Is(err, errInvalidToken):
		return http.StatusUnauthorized, "invalid_token"
	case errors.Is(err, errUnsupported):
		return http.StatusBadRequest, "unsupported_grant_type"
	case errors.Is(err, citizen.ErrAuthFailed), errors.Is(err, citizen.ErrCardSuspended),
		errors.Is(err, citizen.ErrSuspended), errors.Is(err, citizen.ErrPasswordChange):
		return http.StatusBadRequest, "invalid_request" // CSC 11.6: wrong PIN or OTP is invalid_request
	case errors.Is(err, citizen.ErrSAD):
		return http.StatusBadRequest, "invalid_request"
	case errors.Is(err, citizen.ErrNotFound):
		return http.StatusBadRequest, "invalid_request"
	case errors.Is(err, errInvalidRequest), errors.Is(err, citizen.ErrInvalidRequest):
		return http.StatusBadRequest, "invalid_request"
	case errors.Is(err, citizen.ErrUnavailable), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "temporarily_unavailable"
	}
	return http.StatusInternalServerError, "server_error"
}

// fail writes the CSC error object. Internal errors are logged, not shown.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code := statusOf(err)
	desc := err.Error()
	if status >= 500 {
		a.log.ErrorContext(r.Context(), "csc: request failed", "path", r.URL.Path, "err", err)
		desc = "the service failed; try again later"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (a *API) reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a bounded JSON body into v. Unknown members are ignored, as
// the CSC specification allows clients to send optional ones this service
// does not use.
func (a *API) decode(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxBody))
	if err != nil {
		return err
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: malformed JSON: %v", errInvalidRequest, err)
	}
	return nil
}

// authed requires a bearer token from oauth2/token or a configured client
// certificate.
func (a *API) authed(h func(w http.ResponseWriter, r *http.Request, client string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		client, err := a.client(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="csc"`)
			a.fail(w, r, err)
			return
		}
		h(w, r, client)
	}
}

func (a *API) client(r *http.Request) (string, error) {
	if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Bearer ") {
		a.mu.Lock()
		defer a.mu.Unlock()
		t, ok := a.tokens[strings.TrimPrefix(auth, "Bearer ")]
		if !ok || !a.now().Before(t.expires) {
			return "", fmt.Errorf("%w: the access token is unknown or expired", errInvalidToken)
		}
		return t.client, nil
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		sum := sha256.Sum256(r.TLS.VerifiedChains[0][0].Raw)
		for _, c := range a.clients {
			if len(c.CertificateSHA256) > 0 && subtle.ConstantTimeCompare(c.CertificateSHA256, sum[:]) == 1 {
				return c.ID, nil
			}
		}
	}
	return "", fmt.Errorf("%w: send a bearer token from oauth2/token, or a registered client certificate", errInvalidToken)
}

// hashOID maps the hashAlgorithmOID values of CSC onto crypto.Hash.
var hashOIDs = map[string]crypto.Hash{
	"2.16.840.1.101.3.4.2.1": crypto.SHA256,
	"2.16.840.1.101.3.4.2.2": crypto.SHA384,
	"2.16.840.1.101.3.4.2.3": crypto.SHA512,
}

// Credential IDs name a citizen and a model.
const (
	longTermPrefix   = "poces:"
	oneTimePrefix    = "qes:"     // a P-256 key made for the signature
	oneTimeRSAPrefix = "qes-rsa:" // an RSA-3072 key from the pool
	// QualifierQES is the signatureQualifier of the one-time model.
	QualifierQES = "eu_eidas_qes"
	// OIDECDSAWithSHA256 and friends are the signAlgo values accepted.
	oidECDSAWithSHA256 = "1.2.840.10045.4.3.2"
	oidECDSAWithSHA384 = "1.2.840.10045.4.3.3"
	oidECDSAWithSHA512 = "1.2.840.10045.4.3.4"
	oidECPublicKey     = "1.2.840.10045.2.1"
	oidP256            = "1.2.840.10045.3.1.7"
	// RSA (RFC 8017 appendix C): the key, PKCS#1 v1.5 with SHA-256, and
	// RSASSA-PSS (whose parameters are SHA-256, MGF1 with SHA-256 and a
	// 32-byte salt here).
	oidRSAEncryption = "1.2.840.113549.1.1.1"
	oidRSAWithSHA256 = "1.2.840.113549.1.1.11"
	oidRSAPSS        = "1.2.840.113549.1.1.10"
)

// credential is a parsed credential ID: a citizen and a model, and for
// the one-time model the key algorithm.
type credential struct {
	userID  string
	oneTime bool
	key     citizen.KeyAlgorithm
}

// parseCredential splits a credential ID into user ID and model.
func parseCredential(id string) (credential, error) {
	switch {
	case strings.HasPrefix(id, longTermPrefix) && len(id) > len(longTermPrefix):
		return credential{userID: id[len(longTermPrefix):], key: citizen.KeyP256}, nil
	case strings.HasPrefix(id, oneTimePrefix) && len(id) > len(oneTimePrefix):
		return credential{userID: id[len(oneTimePrefix):], oneTime: true, key: citizen.KeyP256}, nil
	case strings.HasPrefix(id, oneTimeRSAPrefix) && len(id) > len(oneTimeRSAPrefix):
		return credential{userID: id[len(oneTimeRSAPrefix):], oneTime: true, key: citizen.KeyRSA3072}, nil
	}
	return credential{}, fmt.Errorf("%w: unknown credentialID", errInvalidRequest)
}

// hexes is for logs: digests, never secrets.
func hexes(hs [][]byte) string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = hex.EncodeToString(h)
	}
	return strings.Join(out, ",")
}
