package csc

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/oces-pki/oces/citizen"
)

// info answers section 11.1.
func (a *API) info(w http.ResponseWriter, r *http.Request) {
	a.reply(w, map[string]any{
		"specs":       "2.0.0.2",
		"name":        "OCES PKI remote signing",
		"logo":        "",
		"region":      "DK",
		"lang":        "en-US",
		"description": "Signatures by Danish citizens under sole control: password and one-time code",
		"authType":    []string{"oauth2client"},
		"methods": []string{"info", "oauth2/token", "credentials/list", "credentials/info", "credentials/authorize",
			"signatures/signHash", "signatures/signDoc"},
		"signAlgorithms": map[string]any{"algos": []string{oidECDSAWithSHA256, oidECDSAWithSHA384, oidECDSAWithSHA512}},
		"signature_formats": map[string]any{
			"formats": []string{"C", "P"}, "envelope_properties": [][]string{{"Detached"}, {"Certification", "Revision"}},
		},
		"conformance_levels": []string{"Ades-B-LTA"},
	})
}

// token is the client credentials grant (RFC 6749 section 4.4), with the
// client authenticated by HTTP Basic or by client_id and client_secret in
// the form (section 2.3.1).
func (a *API) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		a.fail(w, r, fmt.Errorf("%w: %v", errInvalidRequest, err))
		return
	}
	if g := r.PostForm.Get("grant_type"); g != "client_credentials" {
		a.fail(w, r, fmt.Errorf("%w: grant_type %q; only client_credentials", errUnsupported, g))
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	sum := sha256.Sum256([]byte(secret))
	var client string
	for _, c := range a.clients {
		if len(c.SecretSHA256) > 0 && subtle.ConstantTimeCompare([]byte(c.ID), []byte(id)) == 1 &&
			subtle.ConstantTimeCompare(c.SecretSHA256, sum[:]) == 1 {
			client = c.ID
		}
	}
	if client == "" {
		a.fail(w, r, fmt.Errorf("%w: unknown client or wrong secret", errInvalidClient))
		return
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	now := a.now()
	a.mu.Lock()
	for k, t := range a.tokens {
		if !now.Before(t.expires) {
			delete(a.tokens, k)
		}
	}
	a.tokens[tok] = token{client: client, expires: now.Add(a.ttl)}
	a.mu.Unlock()
	a.reply(w, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(a.ttl.Seconds())})
}

type listRequest struct {
	UserID     string `json:"userID"`
	MaxResults int    `json:"maxResults"`
}

// credentialsList answers section 11.4: the citizen's two credentials.
func (a *API) credentialsList(w http.ResponseWriter, r *http.Request, _ string) {
	var req listRequest
	if err := a.decode(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if req.UserID == "" || len(req.UserID) > 64 {
		a.fail(w, r, fmt.Errorf("%w: userID is required", errInvalidRequest))
		return
	}
	ids := []string{}
	ok, err := a.citizens.Enrolled(r.Context(), req.UserID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if ok {
		// The long-term credential is listed when long-term keys are on;
		// its key and certificate are made on first listing.
		if _, err := a.citizens.Credential(r.Context(), req.UserID); err == nil {
			ids = append(ids, longTermPrefix+req.UserID)
		} else if !errors.Is(err, citizen.ErrInvalidRequest) {
			a.fail(w, r, err)
			return
		}
		ids = append(ids, oneTimePrefix+req.UserID)
		if a.rsaOn() {
			ids = append(ids, oneTimeRSAPrefix+req.UserID)
		}
	}
	a.reply(w, map[string]any{"credentialIDs": ids})
}

type infoRequest struct {
	CredentialID string `json:"credentialID"`
	Certificates string `json:"certificates"` // none, single, chain
	CertInfo     bool   `json:"certInfo"`
	AuthInfo     bool   `json:"authInfo"`
}

// credentialsInfo answers section 11.5.
func (a *API) credentialsInfo(w http.ResponseWriter, r *http.Request, _ string) {
	var req infoRequest
	cred, ok := a.credentialRequest(w, r, &req, &req.CredentialID)
	if !ok {
		return
	}
	userID, oneTime := cred.userID, cred.oneTime
	if ok, err := a.citizens.Enrolled(r.Context(), userID); err != nil || !ok {
		a.fail(w, r, cmpErr(err, fmt.Errorf("%w: unknown credentialID", errInvalidRequest)))
		return
	}
	key := map[string]any{"status": "enabled", "algo": []string{oidECDSAWithSHA256, oidECDSAWithSHA384, oidECDSAWithSHA512},
		"len": 256, "curve": oidP256}
	out := map[string]any{
		"description": "POCES certificate (long-term key, wrapped in the HSM)",
		"key":         key, "authMode": "explicit", "SCAL": "2", "multisign": 10, "lang": "en-US",
	}
	if oneTime {
		out["description"] = "one-time qualified certificate, made for each signature (sign with signDoc, signatureQualifier " + QualifierQES + ")"
		out["multisign"] = 1
		out["signatureQualifier"] = QualifierQES
		if cred.key == citizen.KeyRSA3072 {
			out["key"] = map[string]any{"status": "enabled", "algo": []string{oidRSAEncryption, oidRSAWithSHA256, oidRSAPSS}, "len": 3072}
			out["description"] = "one-time qualified certificate for an RSA-3072 key made ahead of time (sign with signDoc, signatureQualifier " + QualifierQES + ")"
		}
	} else {
		chain, err := a.citizens.Credential(r.Context(), userID)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		cert := map[string]any{"status": "valid"}
		switch req.Certificates {
		case "", "single":
			cert["certificates"] = []string{base64.StdEncoding.EncodeToString(chain[0].Raw)}
		case "chain":
			var all []string
			for _, c := range chain {
				all = append(all, base64.StdEncoding.EncodeToString(c.Raw))
			}
			cert["certificates"] = all
		case "none":
		default:
			a.fail(w, r, fmt.Errorf("%w: certificates must be none, single or chain", errInvalidRequest))
			return
		}
		if req.CertInfo {
			cert["issuerDN"], cert["subjectDN"] = chain[0].Issuer.String(), chain[0].Subject.String()
			cert["serialNumber"] = chain[0].SerialNumber.Text(16)
			cert["validFrom"] = chain[0].NotBefore.UTC().Format("20060102150405Z")
			cert["validTo"] = chain[0].NotAfter.UTC().Format("20060102150405Z")
		}
		out["cert"] = cert
	}
	// The PIN and OTP objects come whether or not authInfo is asked for:
	// a signing client needs the key number to show to the citizen.
	challenge, err := a.citizens.Challenge(r.Context(), userID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out["PIN"] = map[string]any{"presence": "true", "format": "A", "label": "Password", "description": "The citizen's password"}
	out["OTP"] = map[string]any{"presence": "true", "type": "offline", "format": "N", "label": "Code card key " + challenge,
		"description": "The code of key " + challenge + " on the code card, or a code from the code app", "ID": "key-" + challenge,
		"provider": "OCES"}
	a.reply(w, out)
}

type authorizeRequest struct {
	CredentialID     string   `json:"credentialID"`
	NumSignatures    int      `json:"numSignatures"`
	Hashes           []string `json:"hashes"`
	HashAlgorithmOID string   `json:"hashAlgorithmOID"`
	PIN              string   `json:"PIN"`
	OTP              string   `json:"OTP"`
}

// authorize answers section 11.6 in explicit mode.
func (a *API) authorize(w http.ResponseWriter, r *http.Request, client string) {
	var req authorizeRequest
	cred, ok := a.credentialRequest(w, r, &req, &req.CredentialID)
	if !ok {
		return
	}
	userID := cred.userID
	hashes, err := decodeHashes(req.Hashes, req.HashAlgorithmOID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if req.NumSignatures != len(hashes) {
		a.fail(w, r, fmt.Errorf("%w: numSignatures must equal the number of hashes", errInvalidRequest))
		return
	}
	sad, err := a.citizens.Authorize(r.Context(), citizen.AuthorizeRequest{UserID: userID, Password: req.PIN, Code: req.OTP, Hashes: hashes})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.log.InfoContext(r.Context(), "csc: authorised", "client", client, "credential", req.CredentialID, "hashes", hexes(hashes))
	a.reply(w, map[string]any{"SAD": sad.Token, "expiresIn": int(sad.Expires.Sub(a.now()).Seconds())})
}

type signHashRequest struct {
	CredentialID     string   `json:"credentialID"`
	SAD              string   `json:"SAD"`
	Hashes           []string `json:"hashes"`
	HashAlgorithmOID string   `json:"hashAlgorithmOID"`
	SignAlgo         string   `json:"signAlgo"`
}

// signHash answers section 11.9 with the long-term credential.
func (a *API) signHash(w http.ResponseWriter, r *http.Request, _ string) {
	var req signHashRequest
	cred, ok := a.credentialRequest(w, r, &req, &req.CredentialID)
	if !ok {
		return
	}
	userID := cred.userID
	if cred.oneTime {
		a.fail(w, r, fmt.Errorf("%w: the one-time credential signs documents only (signatures/signDoc)", errInvalidRequest))
		return
	}
	if req.HashAlgorithmOID == "" {
		req.HashAlgorithmOID = map[string]string{oidECDSAWithSHA256: "2.16.840.1.101.3.4.2.1",
			oidECDSAWithSHA384: "2.16.840.1.101.3.4.2.2", oidECDSAWithSHA512: "2.16.840.1.101.3.4.2.3"}[req.SignAlgo]
	}
	hashes, err := decodeHashes(req.Hashes, req.HashAlgorithmOID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	want := map[string]string{"2.16.840.1.101.3.4.2.1": oidECDSAWithSHA256, "2.16.840.1.101.3.4.2.2": oidECDSAWithSHA384,
		"2.16.840.1.101.3.4.2.3": oidECDSAWithSHA512}[req.HashAlgorithmOID]
	if req.SignAlgo != want && req.SignAlgo != oidECPublicKey {
		a.fail(w, r, fmt.Errorf("%w: signAlgo %q does not go with the hash; use %s", errInvalidRequest, req.SignAlgo, want))
		return
	}
	sigs, err := a.citizens.SignHash(r.Context(), citizen.HashRequest{UserID: userID, SAD: req.SAD, Hashes: hashes, Hash: hashOIDs[req.HashAlgorithmOID]})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]string, len(sigs))
	for i, s := range sigs {
		out[i] = base64.StdEncoding.EncodeToString(s)
	}
	a.reply(w, map[string]any{"signatures": out})
}

type signDocRequest struct {
	CredentialID       string `json:"credentialID"`
	SignatureQualifier string `json:"signatureQualifier"`
	SAD                string `json:"SAD"`
	Documents          []struct {
		Document               string `json:"document"`
		SignatureFormat        string `json:"signature_format"`
		ConformanceLevel       string `json:"conformance_level"`
		SignAlgo               string `json:"signAlgo"`
		SignedEnvelopeProperty string `json:"signed_envelope_property"`
	} `json:"documents"`
}

// signDoc answers section 11.11: one document, PAdES ("P") or detached
// CAdES ("C"), at B-LTA, with the long-term credential or the one-time one.
func (a *API) signDoc(w http.ResponseWriter, r *http.Request, _ string) {
	var req signDocRequest
	cred, ok := a.credentialRequest(w, r, &req, &req.CredentialID)
	if !ok {
		return
	}
	userID, oneTime := cred.userID, cred.oneTime
	if oneTime != (req.SignatureQualifier == QualifierQES) {
		a.fail(w, r, fmt.Errorf("%w: the one-time credential, and only it, goes with signatureQualifier %s", errInvalidRequest, QualifierQES))
		return
	}
	if len(req.Documents) != 1 {
		a.fail(w, r, fmt.Errorf("%w: one document per request", errInvalidRequest))
		return
	}
	d := req.Documents[0]
	if lvl := strings.ToLower(d.ConformanceLevel); lvl != "" && lvl != "ades-b-lta" {
		a.fail(w, r, fmt.Errorf("%w: conformance_level %q; this service signs at Ades-B-LTA", errInvalidRequest, d.ConformanceLevel))
		return
	}
	if d.SignatureFormat != "P" && d.SignatureFormat != "C" {
		a.fail(w, r, fmt.Errorf("%w: signature_format must be P (PAdES) or C (CAdES)", errInvalidRequest))
		return
	}
	pss := false
	if oneTime {
		var err error
		if pss, err = signAlgoPSS(cred, d.SignAlgo); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	doc, err := base64.StdEncoding.DecodeString(d.Document)
	if err != nil {
		a.fail(w, r, fmt.Errorf("%w: document is not base64: %v", errInvalidRequest, err))
		return
	}
	signed, err := a.citizens.SignDocument(r.Context(), citizen.DocumentRequest{UserID: userID, SAD: req.SAD, Document: doc,
		PDF: d.SignatureFormat == "P", LongTerm: !oneTime, Key: cred.key, PSS: pss})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := base64.StdEncoding.EncodeToString(signed.Data)
	if d.SignatureFormat == "P" {
		a.reply(w, map[string]any{"DocumentWithSignature": []string{out}})
		return
	}
	a.reply(w, map[string]any{"SignatureObject": []string{out}})
}

// cmpErr is err if there is one, else fallback.
func cmpErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

// decodeHashes decodes base64 hashes of the named algorithm (SHA-256 by default).
func decodeHashes(in []string, oid string) ([][]byte, error) {
	if oid == "" {
		oid = "2.16.840.1.101.3.4.2.1"
	}
	h, ok := hashOIDs[oid]
	if !ok {
		return nil, fmt.Errorf("%w: hashAlgorithmOID %q; use SHA-256, -384 or -512", errInvalidRequest, oid)
	}
	if len(in) == 0 || len(in) > 10 {
		return nil, fmt.Errorf("%w: 1 to 10 hashes", errInvalidRequest)
	}
	out := make([][]byte, len(in))
	for i, s := range in {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			if b, err = base64.RawURLEncoding.DecodeString(s); err != nil {
				return nil, fmt.Errorf("%w: hash %d is not base64", errInvalidRequest, i+1)
			}
		}
		if len(b) != h.Size() {
			return nil, fmt.Errorf("%w: hash %d has %d bytes, not %d (%s)", errInvalidRequest, i+1, len(b), h.Size(), hex.EncodeToString(b[:min(len(b), 4)]))
		}
		out[i] = b
	}
	return out, nil
}

// credentialRequest decodes a request body naming a credential and parses
// the credential's ID; on failure it has answered and ok is false.
func (a *API) credentialRequest(w http.ResponseWriter, r *http.Request, req any, credentialID *string) (credential, bool) {
	if err := a.decode(w, r, req); err != nil {
		a.fail(w, r, err)
		return credential{}, false
	}
	cred, err := parseCredential(*credentialID)
	if err == nil && cred.key == citizen.KeyRSA3072 && !a.rsaOn() {
		err = fmt.Errorf("%w: unknown credentialID (RSA-3072 one-time keys are not configured)", errInvalidRequest)
	}
	if err != nil {
		a.fail(w, r, err)
		return credential{}, false
	}
	return cred, true
}

// rsaOn: the service has RSA-3072 one-time keys.
func (a *API) rsaOn() bool {
	for _, k := range a.citizens.OneTimeKeys() {
		if k == citizen.KeyRSA3072 {
			return true
		}
	}
	return false
}

// signAlgoPSS checks a one-time credential's signAlgo (CSC 2.0 section
// 11.11, documents[].signAlgo) against its key and says whether it asks
// for RSASSA-PSS. An absent signAlgo takes the key's default (ECDSA with
// SHA-256, or PKCS#1 v1.5 with SHA-256).
func signAlgoPSS(cred credential, signAlgo string) (bool, error) {
	if cred.key == citizen.KeyRSA3072 {
		switch signAlgo {
		case "", oidRSAEncryption, oidRSAWithSHA256:
			return false, nil
		case oidRSAPSS:
			return true, nil
		}
		return false, fmt.Errorf("%w: signAlgo %q; the RSA-3072 credential signs with %s or %s (RSASSA-PSS)", errInvalidRequest, signAlgo, oidRSAWithSHA256, oidRSAPSS)
	}
	switch signAlgo {
	case "", oidECDSAWithSHA256, oidECPublicKey:
		return false, nil
	case oidRSAEncryption, oidRSAWithSHA256, oidRSAPSS:
		return false, fmt.Errorf("%w: signAlgo %q is RSA; the RSA-3072 credential is %s<user>", errInvalidRequest, signAlgo, oneTimeRSAPrefix)
	}
	return false, fmt.Errorf("%w: signAlgo %q; the one-time P-256 credential signs with %s", errInvalidRequest, signAlgo, oidECDSAWithSHA256)
}
