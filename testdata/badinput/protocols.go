package badinput

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
)

// ocspRequest is an OCSPRequest (RFC 6960 section 4.1.1) for one
// certificate of the placeholder issuer, with the given serial and
// extensions (the DER of requestExtensions' content, [2] EXPLICIT).
func ocspRequest(hashAlg, nameHash, keyHash, serial []byte, exts ...[]byte) []byte {
	certID := seq(hashAlg, octets(nameHash), octets(keyHash), serial)
	tbs := [][]byte{seq(seq(certID))}
	if len(exts) > 0 {
		tbs = append(tbs, tlv(0xa2, seq(exts...)))
	}
	return seq(seq(tbs...))
}

func extension(o []byte, critical bool, value []byte) []byte {
	if critical {
		return seq(oid(o...), []byte{0x01, 0x01, 0xff}, octets(value))
	}
	return seq(oid(o...), octets(value))
}

var serial16 = integer(0x3c, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff)

func (g *gen) ocsp() {
	sha1 := algID(oidSHA1, null)
	valid := ocspRequest(sha1, NameHash, KeyHash, serial16, extension(oidNonce, false, octets(g.junk(16))))
	post := func(name string, body []byte, ct string) {
		g.add(Request{Name: "ocsp-post-" + name, Kind: KindOCSPPost, Listener: Public, Method: "POST", Path: "/ocsp",
			ContentType: ct, Body: body})
	}
	getDER := func(name string, body []byte) {
		g.add(Request{Name: "ocsp-get-" + name, Kind: KindOCSPGet, Listener: Public, Method: "GET", Body: body})
	}
	getPath := func(name, path string) {
		g.add(Request{Name: "ocsp-get-" + name, Kind: KindOCSPGet, Listener: Public, Method: "GET", Path: path})
	}
	const ct = "application/ocsp-request"

	// Structured variants: each field of the request wrong in one way.
	structured := []struct {
		name string
		der  []byte
	}{
		{"no-requests", seq(seq(seq()))},
		{"empty-tbs", seq(seq())},
		{"empty-outer", seq()},
		{"md5-certid", ocspRequest(algID(oidMD5, null), NameHash, KeyHash, serial16)},
		{"unknown-hash-oid", ocspRequest(algID(oidOther), NameHash, KeyHash, serial16)},
		{"sha256-with-sha1-lengths", ocspRequest(algID(oidSHA256), NameHash, KeyHash, serial16)},
		{"namehash-empty", ocspRequest(sha1, nil, KeyHash, serial16)},
		{"namehash-19", ocspRequest(sha1, NameHash[:19], KeyHash, serial16)},
		{"keyhash-21", ocspRequest(sha1, NameHash, append(append([]byte(nil), KeyHash...), 0), serial16)},
		{"keyhash-1000", ocspRequest(sha1, NameHash, bytes.Repeat([]byte{0xb2}, 1000), serial16)},
		{"serial-zero", ocspRequest(sha1, NameHash, KeyHash, integer(0))},
		{"serial-negative", ocspRequest(sha1, NameHash, KeyHash, integer(0xff, 0x01))},
		{"serial-empty", ocspRequest(sha1, NameHash, KeyHash, integer())},
		{"serial-non-minimal", ocspRequest(sha1, NameHash, KeyHash, integer(0x00, 0x01))},
		{"serial-100-bytes", ocspRequest(sha1, NameHash, KeyHash, tlv(0x02, bytes.Repeat([]byte{0x7f}, 100)))},
		{"serial-as-octets", ocspRequest(sha1, NameHash, KeyHash, octets([]byte{1, 2, 3}))},
		{"nonce-empty", ocspRequest(sha1, NameHash, KeyHash, serial16, extension(oidNonce, false, octets(nil)))},
		{"nonce-33", ocspRequest(sha1, NameHash, KeyHash, serial16, extension(oidNonce, false, octets(g.junk(33))))},
		{"nonce-not-octets", ocspRequest(sha1, NameHash, KeyHash, serial16, extension(oidNonce, false, integer(5)))},
		{"nonce-bare", ocspRequest(sha1, NameHash, KeyHash, serial16, extension(oidNonce, false, g.junk(8)))},
		{"nonce-twice", ocspRequest(sha1, NameHash, KeyHash, serial16, extension(oidNonce, false, octets(g.junk(8))), extension(oidNonce, false, octets(g.junk(8))))},
		{"critical-unknown-extension", ocspRequest(sha1, NameHash, KeyHash, serial16, extension(oidOther, true, null))},
		{"critical-not-boolean", ocspRequest(sha1, NameHash, KeyHash, serial16, seq(oid(oidOther...), integer(1), octets(null)))},
		{"critical-ber-true", ocspRequest(sha1, NameHash, KeyHash, serial16, seq(oid(oidNonce...), []byte{0x01, 0x01, 0x01}, octets(octets(g.junk(8)))))},
		{"version-2", seq(seq(tlv(0xa0, integer(1)), seq(seq(seq(sha1, octets(NameHash), octets(KeyHash), serial16)))))},
		{"version-huge", seq(seq(tlv(0xa0, integer(0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)), seq(seq(seq(sha1, octets(NameHash), octets(KeyHash), serial16)))))},
		{"requestor-name", seq(seq(tlv(0xa1, tlv(0xa4, seq())), seq(seq(seq(sha1, octets(NameHash), octets(KeyHash), serial16)))))},
		{"optional-signature-garbage", seq(seq(seq(seq(seq(sha1, octets(NameHash), octets(KeyHash), serial16)))), tlv(0xa0, seq(algID(oidSHA256), tlv(0x03, []byte{0, 1, 2}))))},
		{"single-request-extensions", seq(seq(seq(seq(seq(sha1, octets(NameHash), octets(KeyHash), serial16), tlv(0xa0, seq(extension(oidOther, true, null)))))))},
		{"many-requests", seq(seq(seq(bytes.Repeat(seq(seq(sha1, octets(NameHash), octets(KeyHash), serial16)), 60))))},
		{"many-extensions", ocspRequest(sha1, NameHash, KeyHash, serial16, bytes.Repeat(extension(oidOther, false, null), 200))},
		{"deep-indefinite", deep(2000)},
		{"deep-definite", deepDefinite(300)},
		{"oversized", append(append([]byte(nil), valid[:len(valid)-2]...), g.junk(6000)...)},
		{"random-100", g.junk(100)},
		{"random-4000", g.junk(4000)},
		{"ascii", []byte("GET me a certificate status, please")},
		{"pem", pemBlock("OCSP REQUEST", valid)},
		{"base64-in-body", []byte(b64(valid))},
	}
	for _, s := range structured {
		post(s.name, s.der, ct)
	}
	for _, m := range g.mutations(valid, 24) {
		post(m.name, m.data, ct)
	}
	// The valid request itself with wrong framing.
	for _, c := range []string{"", "text/plain", "application/json", "application/ocsp-request; charset=\x00", "multipart/form-data; boundary=x"} {
		post("content-type-"+strings.NewReplacer("/", "-", ";", "", " ", "", "=", "", "\x00", "nul").Replace(c), valid, c)
	}
	post("empty-body", nil, ct)

	// GET: the same DER values in the URL, and URLs that are not base64.
	for _, s := range structured[:30] {
		getDER(s.name, s.der)
	}
	for _, m := range g.mutations(valid, 12) {
		getDER(m.name, m.data)
	}
	std := base64.StdEncoding.EncodeToString(valid)
	for _, p := range []struct{ name, path string }{
		{"empty", "/ocsp/"},
		{"not-base64", "/ocsp/this-is-not-base64!!"},
		{"base64url", "/ocsp/" + base64.RawURLEncoding.EncodeToString(valid)},
		{"unpadded", "/ocsp/" + strings.TrimRight(std, "=")},
		{"unescaped-slash", "/ocsp/" + std},
		{"double-escaped", "/ocsp/" + url.PathEscape(url.PathEscape(std))},
		{"percent-broken", "/ocsp/%zz%"},
		{"nul", "/ocsp/%00"},
		{"newline-inside", "/ocsp/" + url.PathEscape(std[:10]+"\n"+std[10:])},
		{"extra-segment", "/ocsp/" + url.PathEscape(std) + "/more"},
		{"dot-dot", "/ocsp/../ca/root.cer"},
		{"very-long", "/ocsp/" + strings.Repeat("A", 7000)},
		{"query", "/ocsp/" + url.PathEscape(std) + "?nonce=1"},
		{"unicode", "/ocsp/%C3%A6%C3%B8%C3%A5"},
		{"spaces", "/ocsp/%20%20%20%20"},
		{"padding-only", "/ocsp/" + url.PathEscape("====")},
	} {
		getPath(p.name, p.path)
	}
	for _, m := range []string{"PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"} {
		g.add(Request{Name: "ocsp-method-" + m, Kind: KindOCSPPost, Listener: Public, Method: m, Path: "/ocsp", ContentType: ct, Body: valid})
	}
}

// tsaRequest is a TimeStampReq (RFC 3161 section 2.4.1).
func tsaRequest(version, imprint []byte, rest ...[]byte) []byte {
	return seq(append([][]byte{version, imprint}, rest...)...)
}

func imprint(alg, digest []byte) []byte { return seq(alg, octets(digest)) }

func (g *gen) tsa() {
	sha256 := algID(oidSHA256)
	digest := g.junk(32)
	v1 := integer(1)
	nonce := integer(g.junk(8)...)
	nonce[2] &= 0x7f
	valid := tsaRequest(v1, imprint(sha256, digest), nonce, []byte{0x01, 0x01, 0xff})
	post := func(name string, body []byte, ct string) {
		g.add(Request{Name: "tsa-" + name, Kind: KindTSA, Listener: Public, Method: "POST", Path: "/tsa", ContentType: ct, Body: body})
	}
	const ct = "application/timestamp-query"
	structured := []struct {
		name string
		der  []byte
	}{
		{"version-0", tsaRequest(integer(0), imprint(sha256, digest))},
		{"version-2", tsaRequest(integer(2), imprint(sha256, digest))},
		{"version-negative", tsaRequest(integer(0xff), imprint(sha256, digest))},
		{"version-missing", seq(imprint(sha256, digest))},
		{"md5", tsaRequest(v1, imprint(algID(oidMD5, null), g.junk(16)))},
		{"sha1", tsaRequest(v1, imprint(algID(oidSHA1, null), g.junk(20)))},
		{"unknown-hash", tsaRequest(v1, imprint(algID(oidOther), digest))},
		{"digest-short", tsaRequest(v1, imprint(sha256, digest[:31]))},
		{"digest-long", tsaRequest(v1, imprint(sha256, g.junk(33)))},
		{"digest-empty", tsaRequest(v1, imprint(sha256, nil))},
		{"digest-huge", tsaRequest(v1, imprint(sha256, g.junk(10000)))},
		{"digest-not-octets", tsaRequest(v1, seq(sha256, integer(1)))},
		{"alg-params-garbage", tsaRequest(v1, imprint(algID(oidSHA256, []byte{0x0c, 0x01, 'x'}), digest))},
		{"unknown-policy", tsaRequest(v1, imprint(sha256, digest), oid(oidPolicy...))},
		{"policy-empty-oid", tsaRequest(v1, imprint(sha256, digest), oid())},
		{"nonce-zero", tsaRequest(v1, imprint(sha256, digest), integer(0))},
		{"nonce-negative", tsaRequest(v1, imprint(sha256, digest), integer(0x80, 0x01))},
		{"nonce-huge", tsaRequest(v1, imprint(sha256, digest), tlv(0x02, append([]byte{0x7f}, g.junk(500)...)))},
		{"nonce-empty", tsaRequest(v1, imprint(sha256, digest), integer())},
		{"certreq-ber-true", tsaRequest(v1, imprint(sha256, digest), []byte{0x01, 0x01, 0x01})},
		{"certreq-explicit-false", tsaRequest(v1, imprint(sha256, digest), []byte{0x01, 0x01, 0x00})},
		{"certreq-long", tsaRequest(v1, imprint(sha256, digest), []byte{0x01, 0x02, 0xff, 0xff})},
		{"critical-extension", tsaRequest(v1, imprint(sha256, digest), tlv(0xa0, extension(oidOther, true, null)))},
		{"noncritical-extension", tsaRequest(v1, imprint(sha256, digest), tlv(0xa0, extension(oidOther, false, null)))},
		{"extensions-empty", tsaRequest(v1, imprint(sha256, digest), tlv(0xa0))},
		{"fields-reordered", tsaRequest(v1, imprint(sha256, digest), []byte{0x01, 0x01, 0xff}, nonce)},
		{"unknown-trailing-field", tsaRequest(v1, imprint(sha256, digest), tlv(0x0c, []byte("extra")))},
		{"set-instead-of-sequence", tlv(0x31, v1, imprint(sha256, digest))},
		{"deep-indefinite", deep(3000)},
		{"deep-definite", deepDefinite(400)},
		{"oversized", append(seq(v1, imprint(sha256, digest)), g.junk(20000)...)},
		{"random", g.junk(200)},
		{"pem", pemBlock("TIMESTAMP REQUEST", valid)},
		{"text", []byte("please time-stamp this")},
		{"an-ocsp-request", ocspRequest(algID(oidSHA1, null), NameHash, KeyHash, serial16)},
	}
	for _, s := range structured {
		post(s.name, s.der, ct)
	}
	for _, m := range g.mutations(valid, 24) {
		post(m.name, m.data, ct)
	}
	for _, c := range []string{"", "application/ocsp-request", "text/plain"} {
		post("content-type-"+strings.ReplaceAll(c, "/", "-"), valid, c)
	}
	post("empty-body", nil, ct)
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		g.add(Request{Name: "tsa-method-" + m, Kind: KindTSA, Listener: Public, Method: m, Path: "/tsa", ContentType: ct, Body: valid})
	}
}

// paths are the CRL and CA file paths (and a few others) with names that
// do not exist, try to escape, or are not names at all.
func (g *gen) paths() {
	add := func(method, path string) {
		name := strings.NewReplacer("/", "_", "%", "pct", "?", "q", ".", "dot").Replace(path)
		if len(name) > 40 {
			name = name[:40]
		}
		g.add(Request{Name: fmt.Sprintf("path-%s-%s", strings.ToLower(method), name), Kind: KindPath, Listener: Public, Method: method, Path: path})
	}
	for _, p := range []string{
		"/crl/", "/crl", "/crl/nope.crl", "/crl/issuing-1", "/crl/issuing-1/", "/crl/issuing-1.pem",
		"/crl/issuing-1.crl.crl", "/crl/issuing-1/999999999.crl", "/crl/issuing-1/-1.crl", "/crl/issuing-1/0x10.crl",
		"/crl/issuing-1/1e9.crl", "/crl/issuing-1/" + strings.Repeat("9", 400) + ".crl", "/crl/issuing-1/delta.crl/x",
		"/crl/issuing-1/Delta.crl", "/crl/issuing-1/delta", "/crl/../oces.db", "/crl/..%2f..%2foces.db", "/crl/%2e%2e/oces.yaml",
		"/crl/issuing-1%00.crl", "/crl/issuing-1.crl%00", "/crl/" + strings.Repeat("a", 5000) + ".crl", "/crl/%C3%A6.crl",
		"/crl/issuing-1/1/2/3.crl", "/crl//issuing-1.crl", "/crl/issuing-1.crl?delta=1&x=%zz", "/crl/root/1.crl",
		"/crl/root/delta.crl", "/crl/ISSUING-1.CRL", "/crl/issuing-1.crl;jsessionid=1", "/crl/.crl",
		"/ca/", "/ca", "/ca/.cer", "/ca/../oces.yaml", "/ca/%2e%2e%2foces.db", "/ca/root.cer/", "/ca/root.cer%00",
		"/ca/" + strings.Repeat("r", 3000) + ".cer", "/ca/root.der", "/ca/issuing-1.crt",
		"/", "/index.html", "/.git/config", "/api/v1/certificates", "/ocspx", "/tsa/x", "/healthz/x", "/metrics?x=%zz",
	} {
		add("GET", p)
	}
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "BREW"} {
		add(m, "/crl/issuing-1.crl")
	}
	for _, p := range []string{"/crl/issuing-1.crl", "/crl/issuing-1/delta.crl", "/ca/root.cer"} {
		add("HEAD", p)
	}
}
