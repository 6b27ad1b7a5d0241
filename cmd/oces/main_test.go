package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/oces-pki/oces/internal/softhsmtest"
)

// The end-to-end tests build the real binary once and drive it as an
// officer would, against a SoftHSM token of their own.

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

// env is a development PKI made through the CLI in a temporary directory.
type env struct {
	tb  testing.TB
	dir string
	tok *softhsmtest.Token
}

// run runs oces with args and returns stdout, stderr and the exit code.
func (e *env) run(args ...string) (string, string, int) {
	e.tb.Helper()
	cmd := exec.Command(ocesBinary(e.tb), args...)
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(), e.tok.Env()...)
	cmd.Env = append(cmd.Env, "OCES_CONFIG="+filepath.Join(e.dir, "oces.yaml"))
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

func (e *env) write(name, content string) string {
	e.tb.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.tb.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.tb.Fatal(err)
	}
	return p
}

// newEnv runs the ceremonies through the CLI and writes oces.yaml.
func newEnv(tb testing.TB, issuingAlg string) *env {
	tb.Helper()
	e := &env{tb: tb, dir: tb.TempDir(), tok: softhsmtest.New(tb)}
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
public_base_url: http://127.0.0.1:8080
certificate: ../ca/issuing-1.pem
`, e.tok.KeyURI("issuing"), issuingAlg, e.tok.KeyURI("root")))
	out := e.ok("ceremony", "root", "--config", "ceremony/root.yaml", "-o", "json")
	var res struct {
		SHA256 string `json:"sha256_fingerprint"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.SHA256) != 95 {
		tb.Fatalf("ceremony output %q: %v", out, err)
	}
	e.ok("ceremony", "issuing", "--config", "ceremony/issuing.yaml")
	e.ok("ceremony", "registry-key", "--key", e.tok.KeyURI("registry"))
	e.write("oces.yaml", fmt.Sprintf(`public_base_url: http://127.0.0.1:8080
store: {path: oces.db}
registry: {key: %q}
issuers:
  - name: issuing-1
    certificate: ca/issuing-1.pem
    chain: [ca/root.pem]
    key: %q
`, e.tok.KeyURI("registry"), e.tok.KeyURI("issuing")))
	return e
}

func (e *env) newCSR(name string) string {
	e.tb.Helper()
	key, csr := filepath.Join(e.dir, name+".key"), filepath.Join(e.dir, name+".csr")
	out, err := exec.Command("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
		"-nodes", "-keyout", key, "-subj", "/CN=ignored", "-out", csr).CombinedOutput()
	if err != nil {
		e.tb.Fatalf("openssl req: %v\n%s", err, out)
	}
	return csr
}

func TestCeremonyAndCertLifeCycle(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	e := newEnv(t, "rsa-3072")
	// A second ceremony into the same files is refused and changes nothing.
	if _, errOut, code := e.run("ceremony", "root", "--config", "ceremony/root.yaml"); code == 0 || !strings.Contains(errOut, "never overwrites") {
		t.Fatalf("second root ceremony: exit %d, %s", code, errOut)
	}
	csr := e.newCSR("jens")
	var issued struct {
		Serial, Subject, PEM string
		Status               string
	}
	out := e.ok("cert", "issue", "--profile", "moces", "--csr", csr, "--cvr", "12345678",
		"--org", "Firma A/S", "--name", "Jens Hansen", "-o", "json")
	if err := json.Unmarshal([]byte(out), &issued); err != nil {
		t.Fatal(err)
	}
	if issued.Status != "good" || !strings.Contains(issued.Subject, "CVR:12345678-RID:") {
		t.Fatalf("issued %+v", issued)
	}
	leaf := e.write("jens.pem", issued.PEM)
	if out, err := exec.Command("openssl", "verify", "-CAfile", filepath.Join(e.dir, "ca/root.pem"),
		"-untrusted", filepath.Join(e.dir, "ca/issuing-1.pem"), leaf).CombinedOutput(); err != nil {
		t.Fatalf("openssl verify: %v\n%s", err, out)
	}
	s := issued.Serial
	steps := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"cert", "show", s}, 0, "status:"},
		{[]string{"cert", "suspend", s}, 0, "suspended"},
		{[]string{"cert", "suspend", s}, exitConflict, "already suspended"},
		{[]string{"cert", "list", "--status", "suspended"}, 0, s},
		{[]string{"cert", "release", s}, 0, "good"},
		{[]string{"cert", "revoke", s, "--reason", "certificateHold"}, exitUsage, "suspend with"},
		{[]string{"cert", "revoke", s, "--reason", "keyCompromise", "--invalidity-date", "2026-01-02T03:04:05Z"}, 0, "keyCompromise"},
		{[]string{"cert", "revoke", s, "--reason", "superseded"}, exitConflict, "revocation is final"},
		{[]string{"cert", "show", "0123"}, exitNotFound, "not found"},
		{[]string{"cert", "show", "xyz"}, exitUsage, "not hexadecimal"},
		{[]string{"cert", "issue", "--profile", "moces", "--csr", leaf, "--cvr", "12345678", "--org", "F", "--name", "J"}, exitInvalid, "PEM block"},
		{[]string{"cert", "issue", "--profile", "nope", "--csr", csr}, exitInvalid, "unknown profile"},
		{[]string{"cert", "list", "-o", "yaml"}, exitUsage, "--output"},
	}
	for _, st := range steps {
		out, errOut, code := e.run(st.args...)
		if code != st.code || !strings.Contains(out+errOut, st.want) {
			t.Errorf("oces %s: exit %d (want %d), output %q does not mention %q", strings.Join(st.args, " "), code, st.code, out+errOut, st.want)
		}
	}
}

func TestCeremonyConfigErrorsNameTheField(t *testing.T) {
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
