package badinput

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// Fixed PKCS#10 requests made once with openssl req (their keys thrown
// away): P-256 (acceptable), RSA-1024, Ed25519 and P-521 (refused by the
// key policy).
const (
	csrP256    = "MIHMMHUCAQAwEzERMA8GA1UEAwwIYmFkaW5wdXQwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAR21RvG/tQjm6C1qrfCd/v0z3H8lWXOArWnEUb7etfZefFaPs6o9gjh6LfhnlY3lUXWrN6BZd+fe9UjbPpOjM4ZoAAwCgYIKoZIzj0EAwIDRwAwRAIgT476wibCi8okSiwDk/FzrFf+88Sq7q9kh6pOfp4/HHkCICODvT5oBtpOv2oiVNKabRcfgAY2lePtVfItz4ZGNcTB"
	csrRSA1024 = "MIIBUjCBvAIBADATMREwDwYDVQQDDAhiYWRpbnB1dDCBnzANBgkqhkiG9w0BAQEFAAOBjQAwgYkCgYEAr/o9sF1P8QOhaJUwJIMtEgb0LSVWngwUizTPAimPsEI/8mwbcpbT8eSGZZmdpnHGpTpuqvdtxgtURgmtoz/GfSt8bYjqwx0R8e8OKl9owTCq8NjeXOkq5G8tmJ1d3JJoXRMwLPSXf89Xl1RvFutIUz2pFYc9ieR67o6mD8nSTIsCAwEAAaAAMA0GCSqGSIb3DQEBCwUAA4GBAHNRzxuoyNkdKOesfzL1UJdY5WoGK84fivL+yv7keGltEdgqBQweAu+YSw+67JZyGfnEC0APYwFtT+1IjDgW8SeGF2Ohwm6inuRKByJhTp1CMQ9t+aVaSmr2I04oqGdkigFP+KLlK9vx103EOHrWJpdimLMeI6M/82SEyBz0VE/V"
	csrEd25519 = "MIGSMEYCAQAwEzERMA8GA1UEAwwIYmFkaW5wdXQwKjAFBgMrZXADIQDkdQUXOCoH1ZUSwiMhTR8/SB34/V6pNk1OnOP409xZe6AAMAUGAytlcANBAIX57N7Ze1ietHuG3M0/eOoSO9/CLqi4kkHLTOxwkE5E+OXeyI21OpgQ8b0tpjeU96ov8SiCcC61/V2EdQ5qXA4="
	csrP521    = "MIIBVTCBuAIBADATMREwDwYDVQQDDAhiYWRpbnB1dDCBmzAQBgcqhkjOPQIBBgUrgQQAIwOBhgAEACMdXU9VDYNXdnL51k51QKrsvsB9jEIxngABZ/3BFTFt+TS+Qu2g02ch2PEuiQKl6xsXDU2CfRUA2G9tUY8jabLsAU7T1DoPpKNkiOYLDrKQyFiAmSfM8Z6hwW044kG1hkkvgOJ1tlQX3t/OBOlLpwnQMzmqhFrJ922VQ/chiRyS7ZJXoAAwCgYIKoZIzj0EAwIDgYsAMIGHAkE8aCgrFQM0Zw+ftlWOAX+StIBYtwX66qlkK00zgd2mQUdIuPnxeXAE8w7ZhkmbqORAo8M1t0cr4NPca+Foz7IttwJCAPbINBbeK0mL40o/SPxZN6zFjpku/u82x5/E25Tg2xtMnBWgXOLFazwJOuWLRc4uU8kbeYt85UpFoBYADQaF3mZs"
)

func csrDER(s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// issueBody is a valid foces issuance body with csr as the request.
func issueBody(csr string) string {
	return `{"profile": "foces", "csr": ` + jsonString(csr) + `, "cvr": "12345678", "organization": "Firma A/S", "name": "Badinput"}`
}

// json is malformed JSON for every admin endpoint that takes a body, and
// well-formed JSON with the wrong shape or values.
func (g *gen) json() {
	endpoints := []struct{ name, method, path, valid string }{
		{"issue", "POST", "/api/v1/certificates", issueBody(string(pemBlock("CERTIFICATE REQUEST", csrDER(csrP256))))},
		{"revoke", "POST", "/api/v1/certificates/" + SerialPlaceholder + "/revoke", `{"reason": "superseded"}`},
		{"suspend", "POST", "/api/v1/certificates/" + SerialPlaceholder + "/suspend", `{}`},
		{"release", "POST", "/api/v1/certificates/" + SerialPlaceholder + "/release", `{}`},
		{"match-cpr", "POST", "/api/v1/subjects/match-cpr", `{"pid": "PID:9208-2002-2-000000000000", "cpr": "010170-0000"}`},
		{"crl-generate", "POST", "/api/v1/crl/issuing-1/generate", `{}`},
		{"events", "POST", "/api/v1/audit/events", `{"action": "badinput", "target": "x", "outcome": "ok"}`},
	}
	syntax := []struct{ name, body string }{
		{"truncated", "{\"profile\": "},
		{"only-open", "{"},
		{"only-close", "}"},
		{"array", "[]"},
		{"string", `"hello"`},
		{"number", "12345678901234567890123456789"},
		{"null", "null"},
		{"true", "true"},
		{"single-quotes", "{'reason': 'superseded'}"},
		{"trailing-comma", `{"reason": "superseded",}`},
		{"comment", `{/* hi */ "reason": "superseded"}`},
		{"two-objects", `{} {}`},
		{"trailing-garbage", `{}xyz`},
		{"bom", "\ufeff{}"},
		{"invalid-utf8", "{\"reason\": \"\xff\xfe\"}"},
		{"lone-surrogate", `{"reason": "\ud800"}`},
		{"nul-in-key", "{\"rea\u0000son\": 1}"},
		{"bad-escape", `{"reason": "\q"}`},
		{"deep-arrays", strings.Repeat("[", 10000) + strings.Repeat("]", 10000)},
		{"deep-objects", strings.Repeat(`{"a":`, 2000) + "1" + strings.Repeat("}", 2000)},
		{"unknown-field", `{"colour": "blue"}`},
		{"wrong-case-key", `{"Reason": "superseded"}`},
		{"duplicate-key", `{"reason": "superseded", "reason": "keyCompromise"}`},
		{"huge-string", `{"reason": "` + strings.Repeat("x", 70000) + `"}`},
		{"huge-number", `{"reason": 1e999999}`},
		{"many-keys", "{" + strings.TrimSuffix(strings.Repeat(`"a": 1,`, 5000), ",") + "}"},
		{"whitespace-only", "   \n\t  "},
		{"utf16", "\xff\xfe{\x00}\x00"},
	}
	big := map[string]bool{"deep-arrays": true, "deep-objects": true, "huge-string": true, "many-keys": true}
	for i, ep := range endpoints {
		for _, s := range syntax {
			if big[s.name] && i > 1 {
				continue // the large bodies once or twice, not for every endpoint
			}
			g.add(Request{Name: "json-" + ep.name + "-" + s.name, Kind: KindJSON, Listener: Admin, Method: ep.method, Path: ep.path,
				ContentType: "application/json", Body: []byte(s.body)})
		}
	}
	// Wrong types and values per field of the richer bodies.
	csr := jsonString(string(pemBlock("CERTIFICATE REQUEST", csrDER(csrP256))))
	typed := []struct{ name, path, body string }{
		{"issue-profile-number", "/api/v1/certificates", `{"profile": 7, "csr": ` + csr + `}`},
		{"issue-profile-null", "/api/v1/certificates", `{"profile": null, "csr": ` + csr + `}`},
		{"issue-profile-unknown", "/api/v1/certificates", `{"profile": "gold", "csr": ` + csr + `}`},
		{"issue-profile-long", "/api/v1/certificates", `{"profile": "` + strings.Repeat("p", 10000) + `", "csr": ` + csr + `}`},
		{"issue-csr-object", "/api/v1/certificates", `{"profile": "foces", "csr": {"pem": 1}}`},
		{"issue-csr-array", "/api/v1/certificates", `{"profile": "foces", "csr": [1, 2]}`},
		{"issue-ca-unknown", "/api/v1/certificates", `{"ca": "nope", "profile": "foces", "csr": ` + csr + `, "cvr": "12345678", "organization": "Firma A/S", "name": "X"}`},
		{"issue-cvr-letters", "/api/v1/certificates", `{"profile": "foces", "csr": ` + csr + `, "cvr": "1234567A", "organization": "Firma A/S", "name": "X"}`},
		{"issue-cvr-number", "/api/v1/certificates", `{"profile": "foces", "csr": ` + csr + `, "cvr": 12345678, "organization": "Firma A/S", "name": "X"}`},
		{"issue-name-control", "/api/v1/certificates", `{"profile": "foces", "csr": ` + csr + `, "cvr": "12345678", "organization": "Firma A/S", "name": "X\u202eY"}`},
		{"issue-name-newline", "/api/v1/certificates", `{"profile": "foces", "csr": ` + csr + `, "cvr": "12345678", "organization": "Firma A/S", "name": "X\nCN=Y"}`},
		{"issue-name-300", "/api/v1/certificates", `{"profile": "foces", "csr": ` + csr + `, "cvr": "12345678", "organization": "Firma A/S", "name": "` + strings.Repeat("Æ", 150) + `"}`},
		{"issue-email-bad", "/api/v1/certificates", `{"profile": "moces", "csr": ` + csr + `, "cvr": "12345678", "organization": "Firma A/S", "name": "X", "email": "a@@b"}`},
		{"issue-email-unicode", "/api/v1/certificates", `{"profile": "moces", "csr": ` + csr + `, "cvr": "12345678", "organization": "Firma A/S", "name": "X", "email": "æ@ø.dk"}`},
		{"issue-cpr-for-foces", "/api/v1/certificates", `{"profile": "foces", "csr": ` + csr + `, "cvr": "12345678", "organization": "Firma A/S", "name": "X", "cpr": "010170-0000"}`},
		{"issue-subject-id-garbage", "/api/v1/certificates", `{"profile": "moces", "csr": ` + csr + `, "cvr": "12345678", "organization": "Firma A/S", "name": "X", "subject_id": "CVR:1-RID:../../"}`},
		{"issue-poces-no-cpr", "/api/v1/certificates", `{"profile": "poces", "csr": ` + csr + `, "name": "X"}`},
		{"revoke-reason-number", "/api/v1/certificates/" + SerialPlaceholder + "/revoke", `{"reason": 1}`},
		{"revoke-reason-unknown", "/api/v1/certificates/" + SerialPlaceholder + "/revoke", `{"reason": "bored"}`},
		{"revoke-reason-hold", "/api/v1/certificates/" + SerialPlaceholder + "/revoke", `{"reason": "certificateHold"}`},
		{"revoke-reason-removefromcrl", "/api/v1/certificates/" + SerialPlaceholder + "/revoke", `{"reason": "removeFromCRL"}`},
		{"revoke-invalidity-text", "/api/v1/certificates/" + SerialPlaceholder + "/revoke", `{"reason": "keyCompromise", "invalidity_date": "yesterday"}`},
		{"revoke-invalidity-future", "/api/v1/certificates/" + SerialPlaceholder + "/revoke", `{"reason": "keyCompromise", "invalidity_date": "2999-01-01T00:00:00Z"}`},
		{"revoke-invalidity-year-0", "/api/v1/certificates/" + SerialPlaceholder + "/revoke", `{"reason": "keyCompromise", "invalidity_date": "0000-01-01T00:00:00Z"}`},
		{"revoke-invalidity-number", "/api/v1/certificates/" + SerialPlaceholder + "/revoke", `{"reason": "keyCompromise", "invalidity_date": 0}`},
		{"revoke-unknown-serial", "/api/v1/certificates/00112233445566778899aabbccddeeff/revoke", `{"reason": "superseded"}`},
		{"revoke-bad-serial", "/api/v1/certificates/zz/revoke", `{"reason": "superseded"}`},
		{"revoke-serial-long", "/api/v1/certificates/" + strings.Repeat("f", 500) + "/revoke", `{"reason": "superseded"}`},
		{"revoke-serial-escaped", "/api/v1/certificates/%2e%2e%2f/revoke", `{"reason": "superseded"}`},
		{"match-cpr-malformed-cpr", "/api/v1/subjects/match-cpr", `{"pid": "PID:9208-2002-2-000000000000", "cpr": "abc"}`},
		{"match-cpr-malformed-pid", "/api/v1/subjects/match-cpr", `{"pid": "CVR:1", "cpr": "010170-0000"}`},
		{"match-cpr-empty", "/api/v1/subjects/match-cpr", `{}`},
		{"crl-unknown-ca", "/api/v1/crl/nope/generate", `{}`},
		{"crl-ca-long", "/api/v1/crl/" + strings.Repeat("c", 300) + "/generate", `{}`},
		{"events-empty", "/api/v1/audit/events", `{}`},
		{"events-outcome-long", "/api/v1/audit/events", `{"action": "a", "target": "t", "outcome": "` + strings.Repeat("o", 5000) + `"}`},
		{"events-action-control", "/api/v1/audit/events", `{"action": "a\u0000b", "target": "t", "outcome": "ok"}`},
	}
	for _, c := range typed {
		g.add(Request{Name: "json-" + c.name, Kind: KindJSON, Listener: Admin, Method: "POST", Path: c.path, ContentType: "application/json", Body: []byte(c.body)})
	}
	// GET endpoints with bad path values and queries.
	for _, p := range []string{
		"/api/v1/certificates?limit=abc", "/api/v1/certificates?limit=99999999999999999999", "/api/v1/certificates?limit=-5",
		"/api/v1/certificates?after=" + strings.Repeat("f", 300), "/api/v1/certificates?status=%00", "/api/v1/certificates?profile=%zz",
		"/api/v1/certificates?" + strings.Repeat("a=1&", 2000), "/api/v1/certificates/%00", "/api/v1/certificates/0x",
		"/api/v1/certificates/-1", "/api/v1/certificates/" + strings.Repeat("0", 64), "/api/v1/subjects/%C3%A6",
		"/api/v1/subjects/" + strings.Repeat("S", 400), "/api/v1/subjects/PID:", "/api/v1/whoami/x", "/api/v2/certificates",
		"/api/v1/../v1/whoami",
	} {
		g.add(Request{Name: fmt.Sprintf("json-get-%02d", len(g.out)%100), Kind: KindJSON, Listener: Admin, Method: "GET", Path: p})
	}
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin1"} {
		g.add(Request{Name: "json-issue-content-type-" + strings.ReplaceAll(ct, "/", "-"), Kind: KindJSON, Listener: Admin, Method: "POST",
			Path: "/api/v1/certificates", ContentType: ct, Body: []byte(endpoints[0].valid)})
	}
}

// csrs are issuance bodies whose PKCS#10 request is wrong.
func (g *gen) csrs() {
	p256 := csrDER(csrP256)
	add := func(name, csr string) {
		g.add(Request{Name: "csr-" + name, Kind: KindCSR, Listener: Admin, Method: "POST", Path: "/api/v1/certificates",
			ContentType: "application/json", Body: []byte(issueBody(csr))})
	}
	add("empty", "")
	add("rsa-1024", string(pemBlock("CERTIFICATE REQUEST", csrDER(csrRSA1024))))
	add("ed25519", string(pemBlock("CERTIFICATE REQUEST", csrDER(csrEd25519))))
	add("p521", string(pemBlock("CERTIFICATE REQUEST", csrDER(csrP521))))
	add("wrong-pem-type", string(pemBlock("CERTIFICATE", p256)))
	add("private-key-pem", string(pemBlock("PRIVATE KEY", g.junk(100))))
	add("pem-no-end", strings.Split(string(pemBlock("CERTIFICATE REQUEST", p256)), "-----END")[0])
	add("pem-bad-base64", "-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n")
	add("pem-two-blocks", string(pemBlock("CERTIFICATE REQUEST", p256))+string(pemBlock("CERTIFICATE REQUEST", csrDER(csrRSA1024))))
	add("base64-der", b64(p256))
	add("text", "please issue me a certificate")
	add("deep", string(pemBlock("CERTIFICATE REQUEST", deep(3000))))
	add("oversized", string(pemBlock("CERTIFICATE REQUEST", g.junk(20000))))
	// The signature no longer matches: a flipped bit in the subject, in the
	// key, in the signature.
	for _, pos := range []int{20, 40, 70, len(p256) - 5} {
		b := append([]byte(nil), p256...)
		b[pos] ^= 0x01
		add(fmt.Sprintf("flip-%d", pos), string(pemBlock("CERTIFICATE REQUEST", b)))
	}
	for _, m := range g.mutations(p256, 16) {
		add(m.name, string(pemBlock("CERTIFICATE REQUEST", m.data)))
	}
}

// uploads are documents sent to the signing service: broken PDFs and
// things that are not PDFs, under the PDF and the CAdES content types.
func (g *gen) uploads() {
	add := func(name, ct, query string, doc []byte) {
		g.add(Request{Name: "upload-" + name, Kind: KindUpload, Listener: Admin, Method: "POST", Path: "/api/v1/sign" + query,
			ContentType: ct, Body: doc})
	}
	const q = "?seal=firma"
	minimal := "%PDF-1.7\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n" +
		"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 10 10]>>endobj\nxref\n0 4\n0000000000 65535 f \n" +
		"0000000009 00000 n \n0000000052 00000 n \n0000000101 00000 n \ntrailer<</Size 4/Root 1 0 R>>\nstartxref\n160\n%%EOF\n"
	for _, d := range []struct {
		name string
		doc  []byte
	}{
		{"header-only", []byte("%PDF-1.7\n")},
		{"no-header", []byte("1 0 obj<<>>endobj\n%%EOF")},
		{"xref-loop", []byte(strings.Replace(minimal, "startxref\n160", "startxref\n9", 1))},
		{"startxref-huge", []byte(strings.Replace(minimal, "startxref\n160", "startxref\n99999999999999999999", 1))},
		{"startxref-negative", []byte(strings.Replace(minimal, "startxref\n160", "startxref\n-5", 1))},
		{"pages-cycle", []byte(strings.Replace(minimal, "/Kids[3 0 R]", "/Kids[2 0 R]", 1))},
		{"count-huge", []byte(strings.Replace(minimal, "/Count 1", "/Count 999999999999", 1))},
		{"root-missing", []byte(strings.Replace(minimal, "/Root 1 0 R", "", 1))},
		{"deep-arrays", []byte("%PDF-1.7\n1 0 obj" + strings.Repeat("[", 20000) + "\nendobj\n%%EOF\n")},
		{"deep-dicts", []byte("%PDF-1.7\n1 0 obj" + strings.Repeat("<</A ", 20000) + "\nendobj\n%%EOF\n")},
		{"stream-length-huge", []byte("%PDF-1.7\n1 0 obj<</Length 9999999999>>stream\nabc\nendstream endobj\n%%EOF\n")},
		{"flate-garbage", append([]byte("%PDF-1.7\n1 0 obj<</Length 64/Filter/FlateDecode>>stream\n"), append(g.junk(64), []byte("\nendstream endobj\n%%EOF\n")...)...)},
		{"random", g.junk(3000)},
		{"truncated", []byte(minimal[:len(minimal)/2])},
		{"nul-bytes", make([]byte, 4096)},
		{"encrypt-dict-garbage", []byte(strings.Replace(minimal, "/Root 1 0 R", "/Root 1 0 R/Encrypt<</Filter/Standard/V 99>>", 1))},
		{"sig-field-garbage", []byte(strings.Replace(minimal, "/Type/Catalog", "/Type/Catalog/AcroForm<</Fields[<</FT/Sig/V<</ByteRange[0 -1 99999 5]/Contents<zz>>>>>]>>", 1))},
	} {
		add(d.name, "application/pdf", q, d.doc)
	}
	add("empty-pdf", "application/pdf", q, nil)
	add("unknown-seal", "application/pdf", "?seal=nope", []byte(minimal))
	add("bad-level", "application/pdf", q+"&level=B-Z", []byte(minimal))
	add("bad-hash", "application/octet-stream", q+"&hash=md5", []byte("text"))
	add("bad-format", "application/octet-stream", q+"&format=xml", []byte("text"))
	add("seal-long", "application/octet-stream", "?seal="+strings.Repeat("s", 500), []byte("text"))
	add("query-broken", "application/pdf", "?seal=%zz", []byte(minimal))
	add("digest-json-not-base64", "application/json", "", []byte(`{"seal": "firma", "digest": "!!!"}`))
	add("digest-json-short", "application/json", "", []byte(`{"seal": "firma", "digest": "AAAA"}`))
	add("digest-json-truncated", "application/json", "", []byte(`{"seal": "firma", "digest": `))
	add("digest-json-unknown-level", "application/json", "", []byte(`{"seal": "firma", "digest": "`+b64(g.junk(32))+`", "level": "B-Q"}`))
	add("digest-json-pss-string", "application/json", "", []byte(`{"seal": "firma", "digest": "`+b64(g.junk(32))+`", "pss": "yes"}`))
}

// raw is HTTP/1.1 framing a client library would never send (RFC 9112).
func (g *gen) raw() {
	add := func(name, listener, text string) {
		g.add(Request{Name: "raw-" + name, Kind: KindRaw, Listener: listener, Body: []byte(text)})
	}
	for _, r := range []struct{ name, text string }{
		{"no-version", "GET /healthz\r\n\r\n"},
		{"http-0.9", "GET /\r\n"},
		{"lowercase-method", "get /healthz HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"no-host", "GET /healthz HTTP/1.1\r\n\r\n"},
		{"two-hosts", "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
		{"bare-lf", "GET /healthz HTTP/1.1\nHost: x\n\n"},
		{"header-no-colon", "GET /healthz HTTP/1.1\r\nHost: x\r\nBroken\r\n\r\n"},
		{"header-space-before-colon", "GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n"},
		{"obs-fold", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"},
		{"huge-header", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 40000) + "\r\n\r\n"},
		{"many-headers", "GET /healthz HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: 1\r\n", 3000) + "\r\n"},
		{"cl-negative", "POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"},
		{"cl-huge", "POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\nabc"},
		{"cl-conflict", "POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde"},
		{"cl-and-chunked", "POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
		{"chunk-size-garbage", "POST /ocsp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"},
		{"chunk-size-huge", "POST /tsa HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc\r\n"},
		{"chunk-no-terminator", "POST /tsa HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n"},
		{"te-unknown", "POST /ocsp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc"},
		{"expect-unknown", "POST /ocsp HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\na"},
		{"expect-continue", "POST /ocsp HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\na"},
		{"absolute-uri", "GET http://evil.example/healthz HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"connect", "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n"},
		{"uri-not-slash", "GET healthz HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"uri-nul", "GET /heal\x00thz HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"uri-very-long", "GET /" + strings.Repeat("a", 20000) + " HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"h2-preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
		{"tls-hello-on-plain", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"},
		{"binary", string(g.junk(512))},
		{"pipelined-garbage", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n"},
		{"upgrade-websocket", "GET /ocsp HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"},
	} {
		add(r.name, Public, r.text)
	}
	for _, r := range []struct{ name, text string }{
		{"admin-huge-header", "GET /api/v1/whoami HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 40000) + "\r\n\r\n"},
		{"admin-cl-conflict", "POST /api/v1/certificates HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"},
		{"admin-chunk-garbage", "POST /api/v1/certificates HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n"},
		{"admin-no-host", "GET /api/v1/whoami HTTP/1.1\r\n\r\n"},
	} {
		add(r.name, Admin, r.text)
	}
}
