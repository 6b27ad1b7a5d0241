package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oces-pki/oces/api"
	"github.com/oces-pki/oces/ceremony"
	"github.com/oces-pki/oces/internal/pgtest"
	"github.com/oces-pki/oces/internal/softhsmtest"
)

// The end-to-end tests build the real binary once and drive it as an
// officer would, against a SoftHSM token of their own: the ceremonies and
// credentials through the CLI (as scripts/dev-setup.sh does), then
// 'oces serve' as a subprocess on free loopback ports (as scripts/run.sh
// does), then the cert commands and the API over real HTTPS.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func ocesBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "oces-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "oces")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binPath
}

// TestMain removes the binary built for the tests.
func TestMain(m *testing.M) {
	code := pgtest.Main(m) // stops the throwaway PostgreSQL, if a test started it
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// credential is an officer's or registration authority's certificate (with
// its chain) and key file, as 'oces ceremony officer' writes them.
type credential struct {
	cert, key, serial string
}

// env is a development PKI made through the CLI in a temporary directory.
type env struct {
	tb  testing.TB
	dir string
	tok *softhsmtest.Token

	officer credential // a CA officer
	ra      credential // a registration authority for CVR 12345678

	adminURL string // https://ADDR of the running server, set by serve
}

// run runs oces with args and returns stdout, stderr and the exit code.
func (e *env) run(args ...string) (string, string, int) {
	e.tb.Helper()
	return e.runEnv(nil, args...)
}

// runEnv runs oces with extra environment entries. A run that failed
// because SoftHSM could not be initialised is retried: see hsmInitFailed.
func (e *env) runEnv(extra []string, args ...string) (string, string, int) {
	e.tb.Helper()
	for attempt := 1; ; attempt++ {
		out, errOut, code := e.runOnce(extra, args...)
		if code == 0 || attempt == 3 || !hsmInitFailed(errOut) {
			return out, errOut, code
		}
		e.tb.Logf("oces %s: retrying after a transient SoftHSM error: %s", strings.Join(args, " "), strings.TrimSpace(errOut))
	}
}

// hsmInitFailed tells whether a process failed in opening its SoftHSM
// token with CKR_GENERAL_ERROR, before it did anything. The parallel tests
// share one SoftHSM token directory; while one process writes a token's
// files (another test's key generation or token creation), C_GetTokenInfo
// on that token can fail in a process starting up, and crypto11, looking
// for its own token, gives up on the first slot that errs. Only the test
// set-up has many tokens in one directory.
func hsmInitFailed(stderr string) bool {
	return strings.Contains(stderr, "error initializing PKCS#11") && strings.Contains(stderr, "CKR_GENERAL_ERROR")
}

func (e *env) runOnce(extra []string, args ...string) (string, string, int) {
	e.tb.Helper()
	cmd := exec.Command(ocesBinary(e.tb), args...)
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(), e.tok.Env()...)
	cmd.Env = append(cmd.Env, "OCES_CONFIG="+filepath.Join(e.dir, "oces.yaml"))
	cmd.Env = append(cmd.Env, extra...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		e.tb.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

// ok runs oces and fails the test unless it exits 0.
func (e *env) ok(args ...string) string {
	e.tb.Helper()
	out, errOut, code := e.run(args...)
	if code != 0 {
		e.tb.Fatalf("oces %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// cli runs 'oces cert …' against the running server as c, passing the
// connection through the environment (OCES_API, OCES_CERT, OCES_KEY,
// OCES_CA_FILE) as an officer's shell profile would.
func (e *env) cli(c credential, args ...string) (string, string, int) {
	e.tb.Helper()
	if e.adminURL == "" {
		e.tb.Fatal("cli: the server is not running; call serve first")
	}
	return e.runEnv([]string{"OCES_API=" + e.adminURL, "OCES_CERT=" + c.cert, "OCES_KEY=" + c.key,
		"OCES_CA_FILE=" + e.path("ca/root.pem"), keyPassphraseEnv + "=" + e.passphraseFile()}, args...)
}

// cliOK is cli that fails the test unless oces exits 0.
func (e *env) cliOK(c credential, args ...string) string {
	e.tb.Helper()
	out, errOut, code := e.cli(c, args...)
	if code != 0 {
		e.tb.Fatalf("oces %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// cliJSON runs a cert command with -o json and decodes its output into v.
func (e *env) cliJSON(c credential, v any, args ...string) {
	e.tb.Helper()
	out := e.cliOK(c, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		e.tb.Fatalf("oces %s -o json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (e *env) path(name string) string { return filepath.Join(e.dir, name) }

func (e *env) write(name, content string) string {
	e.tb.Helper()
	p := e.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.tb.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.tb.Fatal(err)
	}
	return p
}

// newEnv runs the ceremonies through the CLI, writes oces.yaml with both
// listeners on free loopback ports, and makes the admin TLS certificate, an
// officer credential (officer/) and a registration authority's for CVR
// 12345678 (ra/), as scripts/dev-setup.sh does.
func newEnv(tb testing.TB, issuingAlg string) *env {
	tb.Helper()
	return newEnvAt(tb, issuingAlg, "http://127.0.0.1:8080", "127.0.0.1:0", nil)
}

// newEnvAt is newEnv with the public base URL the certificates name, the
// public listener's address and more configuration appended to oces.yaml.
func newEnvAt(tb testing.TB, issuingAlg, baseURL, publicListen string, extra func(*env) string) *env {
	tb.Helper()
	e := &env{tb: tb, dir: tb.TempDir(), tok: softhsmtest.New(tb)}
	extraConfig := ""
	if extra != nil {
		extraConfig = extra(e)
	}
	e.write("ceremony/root.yaml", fmt.Sprintf(`key:
  uri: %q
  algorithm: p-384
subject: {country: DK, organization: OCES PKI Test, common_name: OCES PKI Test Root CA}
validity: 20y
certificate: ../ca/root.pem
`, e.tok.KeyURI("root")))
	e.write("ceremony/issuing.yaml", fmt.Sprintf(`name: issuing-1
key: {uri: %q, algorithm: %s}
parent: {name: root, certificate: ../ca/root.pem, key: %q}
subject: {country: DK, organization: OCES PKI Test, common_name: OCES PKI Test Issuing CA 1}
validity: 10y
public_base_url: %s
certificate: ../ca/issuing-1.pem
`, e.tok.KeyURI("issuing"), issuingAlg, e.tok.KeyURI("root"), baseURL))
	out := e.ok("ceremony", "root", "--config", "ceremony/root.yaml", "-o", "json")
	var res struct {
		SHA256 string `json:"sha256_fingerprint"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.SHA256) != 95 {
		tb.Fatalf("ceremony output %q: %v", out, err)
	}
	e.ok("ceremony", "issuing", "--config", "ceremony/issuing.yaml")
	e.ok("ceremony", "registry-key", "--key", e.tok.KeyURI("registry"))
	e.ok("ceremony", "audit-key", "--key", e.tok.KeyURI("audit"), "--public-key", e.path("audit-key.pem"))
	e.write("oces.yaml", fmt.Sprintf(`public_base_url: %s
store: {path: oces.db}
registry: {key: %q}
issuers:
  - name: issuing-1
    certificate: ca/issuing-1.pem
    chain: [ca/root.pem]
    key: %q
    ocsp_responder_key: %q
public: {listen: %q}
admin:
  listen: "127.0.0.1:0"
  tls_certificate: admin/tls.pem
  tls_key: %q
limits: {read_timeout: 2s}
audit: {key: %q}
%s`, baseURL, e.tok.KeyURI("registry"), e.tok.KeyURI("issuing"), e.tok.KeyURI("ocsp-responder"), publicListen,
		e.tok.KeyURI("admin-tls"), e.tok.KeyURI("audit"), extraConfig))
	e.ok("ceremony", "tls", "--host", "127.0.0.1")
	e.officer = e.credential("officer", "Test Officer")
	e.ra = e.credential("ra", "Firma A/S RA", "--ra-cvr", "12345678", "--org", "Firma A/S")
	return e
}

// credential makes an officer (or, with --ra-cvr, RA) credential in dir
// through 'oces ceremony officer'. The server must not be running.
func (e *env) credential(dir, name string, extra ...string) credential {
	e.tb.Helper()
	args := append([]string{"ceremony", "officer", "--name", name, "--out", e.path(dir), "-o", "json",
		"--passphrase-file", e.passphraseFile()}, extra...)
	if e.officer.cert != "" { // the first officer asks for every later credential
		args = append(args, "--by-cert", e.officer.cert, "--by-key", e.officer.key, "--by-key-passphrase-file", e.passphraseFile())
	}
	var res credentialResult
	if err := json.Unmarshal([]byte(e.ok(args...)), &res); err != nil {
		e.tb.Fatalf("ceremony officer output: %v", err)
	}
	return credential{cert: res.Certificate, key: res.Key, serial: res.Serial}
}

// client is an API client authenticated as c.
func (e *env) client(c credential) *api.Client {
	e.tb.Helper()
	return api.NewClient(e.adminURL, e.pair(c), e.roots(), 30*time.Second)
}

// testPassphrase encrypts the credentials' key files in the tests.
const testPassphrase = "correct horse battery staple"

// passphraseFile is the file holding testPassphrase.
func (e *env) passphraseFile() string {
	e.tb.Helper()
	p := e.path("passphrase")
	if _, err := os.Stat(p); err != nil {
		e.write("passphrase", testPassphrase+"\n")
	}
	return p
}

// pair is c's certificate and key for TLS; the key file may be encrypted
// (as 'oces ceremony officer' writes it) or not (openssl's).
func (e *env) pair(c credential) tls.Certificate {
	e.tb.Helper()
	chain := readCerts(e.tb, c.cert)
	data, err := os.ReadFile(c.key)
	if err != nil {
		e.tb.Fatal(err)
	}
	key, err := parseKeyFile(data, chain[0].PublicKey, func() (string, error) { return testPassphrase, nil })
	if err != nil {
		e.tb.Fatalf("%s: %v", c.key, err)
	}
	tc := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, x := range chain {
		tc.Certificate = append(tc.Certificate, x.Raw)
	}
	return tc
}

// readCerts reads a PEM file of certificates.
func readCerts(tb testing.TB, path string) []*x509.Certificate {
	tb.Helper()
	certs, err := ceremony.ReadCertificates(path)
	if err != nil {
		tb.Fatal(err)
	}
	return certs
}

// roots is a pool holding the root CA certificate.
func (e *env) roots() *x509.CertPool {
	e.tb.Helper()
	data, err := os.ReadFile(e.path("ca/root.pem"))
	if err != nil {
		e.tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		e.tb.Fatal("ca/root.pem holds no certificate")
	}
	return pool
}

// newCSR makes a P-256 key and a PKCS#10 request with openssl and returns
// the request's path.
func (e *env) newCSR(name string) string {
	e.tb.Helper()
	key, csr := e.path(name+".key"), e.path(name+".csr")
	out, err := exec.Command("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
		"-nodes", "-keyout", key, "-subj", "/CN=ignored", "-out", csr).CombinedOutput()
	if err != nil {
		e.tb.Fatalf("openssl req: %v\n%s", err, out)
	}
	return csr
}

// csrPEM makes a PKCS#10 request in process (faster than openssl, for
// bursts and benchmarks).
func csrPEM(tb testing.TB) string {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}, key)
	if err != nil {
		tb.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func needOpenSSL(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		tb.Skip("openssl not installed")
	}
}

// issued is a certificate as 'oces cert … -o json' prints it.
type issued = api.Certificate

// TestCeremonyAndCertLifeCycle makes a PKI with the default issuing
// algorithm (RSA-3072), serves it, and drives every cert command through
// the binary: every profile issued, shown, listed, suspended, released,
// revoked, with the exit codes of the outside contract.
func TestCeremonyAndCertLifeCycle(t *testing.T) {
	t.Parallel()
	needOpenSSL(t)
	e := newEnv(t, "rsa-3072")
	// A second ceremony into the same files is refused and changes nothing.
	if _, errOut, code := e.run("ceremony", "root", "--config", "ceremony/root.yaml"); code == 0 || !strings.Contains(errOut, "never overwrites") {
		t.Fatalf("second root ceremony: exit %d, %s", code, errOut)
	}
	s := e.serve()
	o := e.officer

	// 1. One certificate of every profile, each checked by openssl.
	profiles := []struct {
		profile string
		flags   []string
		id      string // the subject's serialNumber
	}{
		{"poces", []string{"--cpr-file", e.write("cpr.txt", "010190-1234\n"), "--name", "Jens Hansen"}, `^PID:9208-2002-2-\d{12}$`},
		{"moces", []string{"--cvr", "12345678", "--org", "Firma A/S", "--name", "Karen Jensen"}, `^CVR:12345678-RID:\d+$`},
		{"voces", []string{"--cvr", "12345678", "--org", "Firma A/S"}, `^CVR:12345678-UID:\d+$`},
		{"foces", []string{"--cvr", "12345678", "--org", "Firma A/S", "--name", "Lønsystem"}, `^CVR:12345678-FID:\d+$`},
		{"oces3-employee", []string{"--cvr", "12345678", "--org", "Firma A/S", "--name", "Karen Jensen", "--given-name", "Karen", "--surname", "Jensen"}, `^UI:DK-E:G:[0-9a-f-]{36}$`},
		{"oces3-organisation", []string{"--cvr", "12345678", "--org", "Firma A/S"}, `^UI:DK-O:G:[0-9a-f-]{36}$`},
		{"oces3-system", []string{"--cvr", "12345678", "--org", "Firma A/S", "--name", "Firma A/S Integration"}, `^UI:DK-O:G:[0-9a-f-]{36}$`},
	}
	serials := map[string]string{} // profile -> serial
	for _, p := range profiles {
		out := e.path(p.profile + ".pem")
		var c issued
		e.cliJSON(o, &c, append([]string{"cert", "issue", "--profile", p.profile, "--csr", e.newCSR(p.profile), "--out", out}, p.flags...)...)
		if c.Status != "good" || c.Profile != p.profile || c.CA != "issuing-1" {
			t.Errorf("%s: issued %+v", p.profile, c)
		}
		x := readCert(t, out)
		if x.SerialNumber.Text(16) != strings.TrimLeft(strings.ToLower(c.Serial), "0") {
			t.Errorf("%s: --out holds serial %x, the output says %s", p.profile, x.SerialNumber, c.Serial)
		}
		if !regexp.MustCompile(p.id).MatchString(x.Subject.SerialNumber) {
			t.Errorf("%s: subject serialNumber %q does not match %s", p.profile, x.Subject.SerialNumber, p.id)
		}
		if bytes.Contains(x.Raw, []byte("0101901234")) || bytes.Contains(x.Raw, []byte("010190-1234")) {
			t.Errorf("%s: the CPR number is in the certificate", p.profile)
		}
		if out, err := exec.Command("openssl", "verify", "-CAfile", e.path("ca/root.pem"),
			"-untrusted", e.path("ca/issuing-1.pem"), out).CombinedOutput(); err != nil {
			t.Errorf("%s: openssl verify: %v\n%s", p.profile, err, out)
		}
		serials[p.profile] = c.Serial
	}

	// 2. show gives the same certificate, in text and JSON.
	ms := serials["moces"]
	var shown issued
	e.cliJSON(o, &shown, "cert", "show", ms)
	if der := pemDER(t, shown.PEM); !bytes.Equal(der, readCert(t, e.path("moces.pem")).Raw) {
		t.Error("cert show returned other bytes than cert issue")
	}
	if txt := e.cliOK(o, "cert", "show", ms); !regexp.MustCompile(`(?m)^status:\s+good$`).MatchString(txt) || !strings.Contains(txt, "BEGIN CERTIFICATE") {
		t.Errorf("cert show text:\n%s", txt)
	}
	// The flags work as well as the environment, and take precedence.
	out, errOut, code := e.runEnv([]string{"OCES_API=https://127.0.0.1:1"}, "cert", "show", ms,
		"--api", e.adminURL, "--cert", o.cert, "--key", o.key, "--key-passphrase-file", e.passphraseFile(), "--ca-file", e.path("ca/root.pem"), "-o", "json")
	if code != 0 || !strings.Contains(out, `"serial": "`+ms+`"`) {
		t.Errorf("cert show with flags: exit %d\n%s%s", code, out, errOut)
	}

	// 3. list: filters, JSON, and pages that add up to the whole.
	var page api.CertificateList
	e.cliJSON(o, &page, "cert", "list", "--profile", "moces")
	if len(page.Certificates) != 1 || page.Certificates[0].Serial != ms {
		t.Errorf("list --profile moces: %+v", page)
	}
	all := listAll(t, e, o, 3)
	for p, sn := range serials {
		if all[sn].Profile != p {
			t.Errorf("the paged listing lacks %s certificate %s", p, sn)
		}
	}
	if txt := e.cliOK(o, "cert", "list", "--limit", "2"); !strings.Contains(txt, "SERIAL") || !strings.Contains(txt, "more: oces cert list --after ") {
		t.Errorf("cert list --limit 2 text:\n%s", txt)
	}

	// 4. The life cycle, with the exit codes of the outside contract.
	steps := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"cert", "suspend", ms}, 0, "suspended"},
		{[]string{"cert", "suspend", ms}, exitConflict, "already suspended"},
		{[]string{"cert", "list", "--status", "suspended"}, 0, ms},
		{[]string{"cert", "release", ms}, 0, "good"},
		{[]string{"cert", "release", ms}, exitConflict, "not suspended"},
		{[]string{"cert", "revoke", ms, "--reason", "certificateHold"}, exitUsage, "suspend with"},
		{[]string{"cert", "revoke", ms, "--reason", "keyCompromise", "--invalidity-date", "2026-01-02"}, exitUsage, "RFC 3339"},
		{[]string{"cert", "revoke", ms, "--reason", "keyCompromise", "--invalidity-date", "2026-01-02T03:04:05Z"}, 0, "keyCompromise"},
		{[]string{"cert", "revoke", ms, "--reason", "superseded"}, exitConflict, "revocation is final"},
		{[]string{"cert", "suspend", ms}, exitConflict, "revocation is final"},
		{[]string{"cert", "list", "--status", "revoked"}, 0, ms},
		{[]string{"cert", "show", "0123"}, exitNotFound, "not found"},
		{[]string{"cert", "suspend", "0123"}, exitNotFound, "not found"},
		{[]string{"cert", "show", "xyz"}, exitUsage, "not hexadecimal"},
		{[]string{"cert", "issue", "--profile", "moces", "--csr", e.path("moces.pem"), "--cvr", "12345678", "--org", "F", "--name", "J"}, exitInvalid, "PEM block"},
		{[]string{"cert", "issue", "--profile", "moces", "--csr", e.write("garbage.der", "not a request"), "--cvr", "12345678", "--org", "F", "--name", "J"}, exitInvalid, "invalid request"},
		{[]string{"cert", "issue", "--profile", "nope", "--csr", e.path("moces.csr")}, exitInvalid, "unknown profile"},
		{[]string{"cert", "issue", "--profile", "poces", "--csr", e.path("moces.csr"), "--name", "Jens Hansen", "--cpr-file", e.write("bad-cpr.txt", "not-a-cpr")}, exitInvalid, "CPR"},
		{[]string{"cert", "issue", "--profile", "poces", "--csr", e.path("moces.csr"), "--name", "Jens Hansen", "--cpr", "010190-1234"}, exitUsage, "--cpr is refused"},
		{[]string{"cert", "issue", "--csr", e.path("moces.csr")}, exitUsage, "--profile and --csr are required"},
		{[]string{"cert", "list", "--status", "lost"}, exitUsage, "--status"},
		{[]string{"cert", "list", "-o", "yaml"}, exitUsage, "--output"},
	}
	for _, st := range steps {
		out, errOut, code := e.cli(o, st.args...)
		if code != st.code || !strings.Contains(out+errOut, st.want) {
			t.Errorf("oces %s: exit %d (want %d), output %q does not mention %q", strings.Join(st.args, " "), code, st.code, out+errOut, st.want)
		}
	}
	e.cliJSON(o, &shown, "cert", "show", ms)
	if shown.Status != "revoked" || shown.Reason != "keyCompromise" || shown.InvalidityDate != "2026-01-02T03:04:05Z" || shown.RevokedAt == "" {
		t.Errorf("after revocation: %+v", shown)
	}
	s.stop()
}

// listAll pages through 'oces cert list' limit certificates at a time and
// returns every certificate by serial; it fails on a serial seen twice or
// pages out of serial order.
func listAll(tb testing.TB, e *env, c credential, limit int) map[string]issued {
	tb.Helper()
	all := map[string]issued{}
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10000 {
			tb.Fatal("cert list: no end of pages")
		}
		args := []string{"cert", "list", "--limit", fmt.Sprint(limit)}
		if after != "" {
			args = append(args, "--after", after)
		}
		var page api.CertificateList
		e.cliJSON(c, &page, args...)
		if len(page.Certificates) > limit {
			tb.Fatalf("cert list --limit %d returned %d", limit, len(page.Certificates))
		}
		for _, v := range page.Certificates {
			if _, dup := all[v.Serial]; dup {
				tb.Errorf("serial %s listed twice", v.Serial)
			}
			all[v.Serial] = v
		}
		if page.Next == "" {
			return all
		}
		after = page.Next
	}
}

func readCert(tb testing.TB, path string) *x509.Certificate {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := x509.ParseCertificate(pemDER(tb, string(data)))
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return c
}

func pemDER(tb testing.TB, s string) []byte {
	tb.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil || b.Type != "CERTIFICATE" {
		tb.Fatalf("no PEM certificate in %q", s)
	}
	return b.Bytes
}

func TestCeremonyConfigErrorsNameTheField(t *testing.T) {
	t.Parallel()
	e := &env{tb: t, dir: t.TempDir(), tok: softhsmtest.New(t)}
	cases := []struct{ name, file, want string }{
		{"unknown field", "key: {uri: 'pkcs11:token=x;object=y', algorithm: rsa-4096}\nsubject: {country: DK, organization: O, common_name: C}\nvalidity: 20y\ncertificate: r.pem\ncolour: blue\n", "field colour not found"},
		{"bad algorithm", "key: {uri: 'pkcs11:token=x;object=y', algorithm: rsa-2048}\nsubject: {country: DK, organization: O, common_name: C}\nvalidity: 20y\ncertificate: r.pem\n", "key.algorithm"},
		{"pin-value", "key: {uri: 'pkcs11:token=x;object=y?pin-value=1234', algorithm: p-384}\nsubject: {country: DK, organization: O, common_name: C}\nvalidity: 20y\ncertificate: r.pem\n", "pin-value"},
		{"bad validity", "key: {uri: 'pkcs11:token=x;object=y', algorithm: p-384}\nsubject: {country: DK, organization: O, common_name: C}\nvalidity: soon\ncertificate: r.pem\n", "not a duration"},
		{"missing subject", "key: {uri: 'pkcs11:token=x;object=y', algorithm: p-384}\nvalidity: 20y\ncertificate: r.pem\n", "subject.country"},
	}
	for _, tc := range cases {
		p := e.write(tc.name+".yaml", tc.file)
		_, errOut, code := e.run("ceremony", "root", "--config", p)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, %q; want exit %d mentioning %q", tc.name, code, errOut, exitUsage, tc.want)
		}
	}
}
