package api

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/cades"
	"github.com/oces-pki/oces/signer"
)

// DocumentSigner is what POST /api/v1/sign needs of the signing service.
type DocumentSigner interface {
	SignPDF(ctx context.Context, req signer.Request, pdf []byte) ([]byte, error)
	SignCAdES(ctx context.Context, req signer.Request, content []byte) ([]byte, error)
	SignDigest(ctx context.Context, req signer.Request, digest []byte) ([]byte, error)
	MaxDocumentBytes() int64
}

var _ DocumentSigner = (*signer.Service)(nil)

// SealAccess is a configured seal and who may use it.
type SealAccess struct {
	Seal *signer.Seal
	// Clients name the service providers allowed: "sha256:<hex>" of the
	// client certificate, or its subject serialNumber
	// ("CVR:12345678-UID:…", "UI:DK-O:G:…").
	Clients []string
	Level   cades.Level // default level when the request names none
}

// serviceProviderProfiles are the certificates a service provider
// authenticates with: an organisation's or a system's.
var serviceProviderProfiles = map[string]bool{
	"voces": true, "foces": true, "oces3-organisation": true, "oces3-system": true,
}

// RoleServiceProvider is a business using the signing service.
const RoleServiceProvider Role = "service-provider"

// serviceProvider authenticates an organisation or system certificate
// issued by this CA and still good, byte for byte the stored one.
func (a *API) serviceProvider(r *http.Request) (*Principal, *x509.Certificate, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return nil, nil, ErrUnauthenticated
	}
	leaf := r.TLS.VerifiedChains[0][0]
	serial, err := ca.SerialFromBig(leaf.SerialNumber)
	if err != nil {
		return nil, nil, ErrUnauthenticated
	}
	stored, err := a.ca.Certificate(r.Context(), serial)
	if errors.Is(err, ca.ErrNotFound) || (err == nil && !bytes.Equal(stored.DER, leaf.Raw)) {
		return nil, nil, fmt.Errorf("%w (certificate %s is not one this CA issued)", ErrUnauthenticated, serial)
	}
	if err != nil {
		return nil, nil, err
	}
	if stored.Status != ca.StatusGood {
		return nil, nil, fmt.Errorf("%w (certificate %s is %s)", ErrUnauthenticated, serial, stored.Status)
	}
	if !serviceProviderProfiles[stored.Profile] {
		return nil, nil, fmt.Errorf("%w: signing with a seal needs an organisation or system certificate, not %s", ErrForbidden, stored.Profile)
	}
	return &Principal{Role: RoleServiceProvider, Subject: leaf.Subject.String(), Fingerprint: fingerprint(leaf),
		Serial: serial.String(), Actor: audit.ActorOf(leaf)}, leaf, nil
}

// mayUse reports whether the client may use the seal: its certificate's
// fingerprint or subject serialNumber is listed, or its organisation's CVR
// number as "cvr:<number>".
func (s *SealAccess) mayUse(p *Principal, leaf *x509.Certificate) bool {
	serial := subjectSerial(leaf.Subject)
	if slices.Contains(s.Clients, "sha256:"+p.Fingerprint) || (serial != "" && slices.Contains(s.Clients, serial)) {
		return true
	}
	cvr := cvrOf(leaf.Subject, serial)
	return cvr != "" && slices.Contains(s.Clients, "cvr:"+cvr)
}

var oidOrganizationIdentifier = asn1.ObjectIdentifier{2, 5, 4, 97}

// cvrOf is the CVR number an organisation or system certificate names:
// serialNumber CVR:<cvr>-UID:… / -FID:… (OCES2) or organizationIdentifier
// NTRDK-<cvr> (OCES3).
func cvrOf(n pkix.Name, serial string) string {
	if rest, ok := strings.CutPrefix(serial, "CVR:"); ok {
		if cvr, _, ok := strings.Cut(rest, "-"); ok && len(cvr) == 8 {
			return cvr
		}
	}
	for _, atv := range n.Names {
		if atv.Type.Equal(oidOrganizationIdentifier) {
			if v, ok := atv.Value.(string); ok {
				if cvr, ok := strings.CutPrefix(v, "NTRDK-"); ok && len(cvr) == 8 {
					return cvr
				}
			}
		}
	}
	return ""
}

var oidSerialNumber = asn1.ObjectIdentifier{2, 5, 4, 5}

func subjectSerial(n pkix.Name) string {
	for _, atv := range n.Names {
		if atv.Type.Equal(oidSerialNumber) {
			if s, ok := atv.Value.(string); ok {
				return s
			}
		}
	}
	return ""
}

// SignDigestRequest is the JSON body of POST /api/v1/sign for a document
// too large to send: its hash goes in, a detached CAdES signature comes out.
type SignDigestRequest struct {
	Seal   string `json:"seal"`
	Digest []byte `json:"digest"` // base64 in JSON
	Hash   string `json:"hash,omitempty"`
	Level  string `json:"level,omitempty"`
	PSS    bool   `json:"pss,omitempty"`
}

// SignDigestResponse carries the CMS.
type SignDigestResponse struct {
	CMS   []byte `json:"cms"`
	Level string `json:"level"`
}

// sign serves POST /api/v1/sign. A document goes in as the body
// (application/pdf for PAdES, anything else for detached CAdES) with the
// options in the query; the signed PDF or the CMS comes out. A JSON body
// signs a hash instead.
func (a *API) sign(w http.ResponseWriter, r *http.Request) {
	p, leaf, err := a.serviceProvider(r)
	if err != nil {
		a.log.WarnContext(r.Context(), "api: refused signing client", "remote", r.RemoteAddr, "err", err)
		a.fail(w, r, err)
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/json" {
		a.signDigest(w, r, p, leaf)
		return
	}
	q := r.URL.Query()
	if err := checkFields(field{"seal", q.Get("seal"), maxSeal}, field{"level", q.Get("level"), maxLevel},
		field{"hash", q.Get("hash"), maxLevel}, field{"format", q.Get("format"), maxLevel}); err != nil {
		a.fail(w, r, err)
		return
	}
	req, err := a.signRequest(p, leaf, q.Get("seal"), q.Get("level"), q.Get("hash"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	format := q.Get("format")
	if format == "" {
		format = "cades"
		if mt == "application/pdf" {
			format = "pades"
		}
	}
	if err := pdfOptions(q, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	doc, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.signer.MaxDocumentBytes()))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if len(doc) == 0 {
		a.fail(w, r, fmt.Errorf("%w: the body is empty; send the document to sign", signer.ErrInvalidDocument))
		return
	}
	switch format {
	case "pades":
		signed, err := a.signer.SignPDF(r.Context(), req, doc)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		writeBlob(w, "application/pdf", signed)
	case "cades":
		cms, err := a.signer.SignCAdES(r.Context(), req, doc)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		writeBlob(w, "application/pkcs7-signature", cms)
	default:
		a.fail(w, r, fmt.Errorf("%w: format %q; use pades or cades", signer.ErrInvalidRequest, format))
	}
}

func (a *API) signDigest(w http.ResponseWriter, r *http.Request, p *Principal, leaf *x509.Certificate) {
	var in SignDigestRequest
	if err := a.decode(w, r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	req, err := a.signRequest(p, leaf, in.Seal, in.Level, in.Hash)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	req.PSS = in.PSS
	cms, err := a.signer.SignDigest(r.Context(), req, in.Digest)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, SignDigestResponse{CMS: cms, Level: req.Level.String()})
}

// signRequest resolves the seal, checks the client may use it, and parses
// the level and hash.
func (a *API) signRequest(p *Principal, leaf *x509.Certificate, name, level, hash string) (signer.Request, error) {
	seal, ok := a.seals[name]
	if name == "" || !ok || !seal.mayUse(p, leaf) {
		// The same answer for an unknown seal and a forbidden one.
		return signer.Request{}, fmt.Errorf("%w: no seal %q that this client may use", ErrForbidden, name)
	}
	req := signer.Request{Seal: seal.Seal, Level: seal.Level, Actor: p.Actor}
	if level != "" {
		l, err := signer.ParseLevel(level)
		if err != nil {
			return req, err
		}
		req.Level = l
	}
	h, err := signer.ParseHash(hash)
	if err != nil {
		return req, err
	}
	req.Hash = h
	return req, nil
}

// pdfOptions reads the PAdES options of the query: reason, location,
// contact, visible=PAGE,LLX,LLY,URX,URY and certify=1..3.
func pdfOptions(q map[string][]string, req *signer.Request) error {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"reason", &req.Reason}, {"location", &req.Location}, {"contact", &req.ContactInfo}} {
		v := get(f.key)
		if len(v) > 256 {
			return fmt.Errorf("%w: %s is longer than 256 characters", signer.ErrInvalidRequest, f.key)
		}
		*f.dst = v
	}
	if v := get("visible"); v != "" {
		vis, err := ParseVisible(v)
		if err != nil {
			return err
		}
		req.Visible = vis
	}
	if v := get("certify"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 3 {
			return fmt.Errorf("%w: certify must be 1, 2 or 3", signer.ErrInvalidRequest)
		}
		req.Certify = n
	}
	return nil
}

// ParseVisible parses "PAGE,LLX,LLY,URX,URY" (PDF points, origin at the
// page's lower left corner).
func ParseVisible(s string) (*signer.Visible, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 5 {
		return nil, fmt.Errorf("%w: visible stamp %q: want PAGE,LLX,LLY,URX,URY, e.g. 1,50,50,300,120", signer.ErrInvalidRequest, s)
	}
	page, err := strconv.Atoi(strings.TrimSpace(parts[0]))
	if err != nil || page < 1 {
		return nil, fmt.Errorf("%w: visible stamp: page %q must be a number from 1", signer.ErrInvalidRequest, parts[0])
	}
	v := &signer.Visible{Page: page}
	for i := range 4 {
		f, err := strconv.ParseFloat(strings.TrimSpace(parts[i+1]), 64)
		if err != nil || f < 0 || f > 14400 {
			return nil, fmt.Errorf("%w: visible stamp: coordinate %q must be between 0 and 14400 points", signer.ErrInvalidRequest, parts[i+1])
		}
		v.Rect[i] = f
	}
	if v.Rect[2] <= v.Rect[0] || v.Rect[3] <= v.Rect[1] {
		return nil, fmt.Errorf("%w: visible stamp: the rectangle's upper right must be above and right of its lower left", signer.ErrInvalidRequest)
	}
	return v, nil
}

func writeBlob(w http.ResponseWriter, contentType string, b []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}
