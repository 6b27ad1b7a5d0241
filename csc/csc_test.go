package csc_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oces-pki/oces/internal/pdfcheck"
	"github.com/oces-pki/oces/pades/testdata/corpus"
)

// specClient is a CSC API v2.0.0.2 client written from the specification
// (sections 8.3.3 and 11), not from package csc: plain JSON over HTTPS.
type specClient struct {
	t     *testing.T
	base  string
	http  *http.Client
	token string
}

func (c *specClient) post(method string, req any, wantStatus int) map[string]any {
	c.t.Helper()
	body, _ := json.Marshal(req)
	r, _ := http.NewRequest(http.MethodPost, c.base+"/csc/v2/"+method, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		r.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(r)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		c.t.Fatalf("%s: status %d, want %d: %s", method, resp.StatusCode, wantStatus, raw)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		c.t.Fatalf("%s: %v: %s", method, err, raw)
	}
	return out
}

// oauth2 gets an access token with the client credentials grant.
func (c *specClient) oauth2(id, secret string) {
	c.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
	resp, err := c.http.PostForm(c.base+"/csc/v2/oauth2/token", form)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || out.TokenType != "Bearer" {
		c.t.Fatalf("oauth2/token: %d %v %+v", resp.StatusCode, err, out)
	}
	c.token = out.AccessToken
}

func TestSpecClient(t *testing.T) {
	f := newFixture(t)
	c := &specClient{t: t, base: f.server.URL, http: f.server.Client()}

	info := c.post("info", map[string]any{}, 200)
	if info["specs"] != "2.0.0.2" {
		t.Fatalf("info: %v", info)
	}
	c.post("credentials/list", map[string]any{"userID": userID}, 401)
	resp, err := c.http.PostForm(c.base+"/csc/v2/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {"wrong"}})
	if err != nil || resp.StatusCode != 401 {
		t.Fatalf("oauth2/token with a wrong secret: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	c.oauth2(clientID, clientSecret)

	list := c.post("credentials/list", map[string]any{"userID": userID, "maxResults": 10}, 200)
	ids, _ := list["credentialIDs"].([]any)
	if len(ids) != 2 {
		t.Fatalf("credentials/list: %v", list)
	}
	var longTerm string
	for _, id := range ids {
		if strings.HasPrefix(id.(string), "poces:") {
			longTerm = id.(string)
		}
	}
	credInfo := c.post("credentials/info", map[string]any{"credentialID": longTerm, "certificates": "chain", "certInfo": true, "authInfo": true}, 200)
	if credInfo["SCAL"] != "2" || credInfo["authMode"] != "explicit" {
		t.Fatalf("credentials/info: %v", credInfo)
	}
	certs := credInfo["cert"].(map[string]any)["certificates"].([]any)
	der, _ := base64.StdEncoding.DecodeString(certs[0].(string))
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	// The OTP label names the code card key to use.
	label := credInfo["OTP"].(map[string]any)["label"].(string)
	key := label[strings.LastIndex(label, " ")+1:]

	hashA, hashB := sha256.Sum256([]byte("document A")), sha256.Sum256([]byte("document B"))
	b64 := base64.StdEncoding.EncodeToString
	auth := c.post("credentials/authorize", map[string]any{
		"credentialID": longTerm, "numSignatures": 1, "hashes": []string{b64(hashA[:])},
		"hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "PIN": password, "OTP": f.code(t, key),
	}, 200)
	sad, _ := auth["SAD"].(string)
	if sad == "" {
		t.Fatalf("authorize: %v", auth)
	}
	// The SAD for hash A refuses hash B ...
	c.post("signatures/signHash", map[string]any{"credentialID": longTerm, "SAD": sad, "hashes": []string{b64(hashB[:])},
		"hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "signAlgo": "1.2.840.10045.4.3.2"}, 400)
	// ... and, used up by that attempt, refuses hash A too; a new one signs A once.
	c.post("signatures/signHash", map[string]any{"credentialID": longTerm, "SAD": sad, "hashes": []string{b64(hashA[:])},
		"hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "signAlgo": "1.2.840.10045.4.3.2"}, 400)
	credInfo = c.post("credentials/info", map[string]any{"credentialID": longTerm}, 200)
	label = credInfo["OTP"].(map[string]any)["label"].(string)
	key = label[strings.LastIndex(label, " ")+1:]
	sad = c.post("credentials/authorize", map[string]any{
		"credentialID": longTerm, "numSignatures": 1, "hashes": []string{b64(hashA[:])},
		"hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "PIN": password, "OTP": f.code(t, key),
	}, 200)["SAD"].(string)
	signReq := map[string]any{"credentialID": longTerm, "SAD": sad, "hashes": []string{b64(hashA[:])},
		"hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "signAlgo": "1.2.840.10045.4.3.2"}
	sig := c.post("signatures/signHash", signReq, 200)
	raw, _ := base64.StdEncoding.DecodeString(sig["signatures"].([]any)[0].(string))
	if !ecdsa.VerifyASN1(leaf.PublicKey.(*ecdsa.PublicKey), hashA[:], raw) {
		t.Fatal("signHash: the signature does not verify under the credential's certificate")
	}
	if e := c.post("signatures/signHash", signReq, 400); e["error"] != "invalid_request" {
		t.Fatalf("the same SAD twice: %v", e)
	}
	// A wrong password: an invalid_request, as for an unknown user.
	c.post("credentials/authorize", map[string]any{"credentialID": longTerm, "numSignatures": 1, "hashes": []string{b64(hashA[:])},
		"PIN": "wrong", "OTP": "123456"}, 400)
}

func TestSignDocOneTime(t *testing.T) {
	f := newFixture(t)
	c := &specClient{t: t, base: f.server.URL, http: f.server.Client()}
	c.oauth2(clientID, clientSecret)
	pdf := corpus.Read(t, "v15-objstm.pdf")
	digest := sha256.Sum256(pdf)
	credInfo := c.post("credentials/info", map[string]any{"credentialID": "qes:" + userID}, 200)
	label := credInfo["OTP"].(map[string]any)["label"].(string)
	key := label[strings.LastIndex(label, " ")+1:]
	sad := c.post("credentials/authorize", map[string]any{"credentialID": "qes:" + userID, "numSignatures": 1,
		"hashes": []string{base64.StdEncoding.EncodeToString(digest[:])}, "PIN": password, "OTP": f.code(t, key)}, 200)["SAD"].(string)
	out := c.post("signatures/signDoc", map[string]any{"credentialID": "qes:" + userID, "signatureQualifier": "eu_eidas_qes", "SAD": sad,
		"documents": []map[string]any{{"document": base64.StdEncoding.EncodeToString(pdf), "signature_format": "P",
			"conformance_level": "Ades-B-LTA", "signAlgo": "1.2.840.10045.4.3.2"}}}, 200)
	signed, _ := base64.StdEncoding.DecodeString(out["DocumentWithSignature"].([]any)[0].(string))
	path := filepath.Join(t.TempDir(), "signed.pdf")
	if err := os.WriteFile(path, signed, 0o600); err != nil {
		t.Fatal(err)
	}
	sigs := pdfcheck.Pdfsig(t, path, "")
	if len(sigs) != 2 || !sigs[0].SignatureValid || !strings.Contains(sigs[0].SignerDN, "UI:DK-P:G:") {
		t.Fatalf("pdfsig: %+v", sigs)
	}
}
