package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cliStdin is cli with stdin as the process's standard input.
func (e *env) cliStdin(c credential, stdin string, args ...string) (string, string, int) {
	e.tb.Helper()
	cmd := exec.Command(ocesBinary(e.tb), args...)
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(), e.tok.Env()...)
	cmd.Env = append(cmd.Env, "OCES_CONFIG="+filepath.Join(e.dir, "oces.yaml"), "OCES_API="+e.adminURL, "OCES_CERT="+c.cert,
		"OCES_KEY="+c.key, "OCES_CA_FILE="+e.path("ca/root.pem"), keyPassphraseEnv+"="+e.passphraseFile())
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		e.tb.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

// TestSubjectMatchCPR drives 'oces subject match-cpr' with the CPR number
// on standard input: as the officer, and, once the configuration names
// it, as a relying party with its FOCES certificate; a registration
// authority is denied.
func TestSubjectMatchCPR(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "p-256")
	s := e.serve()

	// The citizen's certificate, the CPR number on standard input.
	var poces issued
	out, errOut, code := e.cliStdin(e.officer, "010190-1234\n", "cert", "issue", "--profile", "poces", "--csr", e.newCSR("citizen"),
		"--name", "Jens Hansen", "--cpr-file", "-", "-o", "json")
	if code != 0 {
		t.Fatalf("cert issue with the CPR number on stdin: exit %d, %s", code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &poces); err != nil {
		t.Fatalf("cert issue -o json: %v\n%s", err, out)
	}
	pid := poces.SubjectID

	ask := func(c credential, cpr string) (string, string, int) {
		return e.cliStdin(c, cpr+"\n", "subject", "match-cpr", pid)
	}
	for cpr, want := range map[string]string{"010190-1234": "yes\n", "020290-4321": "no\n"} {
		if out, errOut, code := ask(e.officer, cpr); code != 0 || out != want {
			t.Errorf("officer, %s: exit %d, %q %s; want %q", cpr, code, out, errOut, want)
		}
	}
	if _, errOut, code := ask(e.ra, "010190-1234"); code != exitDenied {
		t.Errorf("RA: exit %d, %s; want %d", code, errOut, exitDenied)
	}
	if _, errOut, code := e.cliStdin(e.officer, "", "subject", "match-cpr", pid); code != exitUsage || !strings.Contains(errOut, "no CPR number") {
		t.Errorf("no CPR number on stdin: exit %d, %s", code, errOut)
	}

	// A relying party: a FOCES certificate, allowed by its fingerprint.
	e.cliOK(e.officer, "cert", "issue", "--profile", "foces", "--csr", e.newCSR("bank"), "--cvr", "87654321",
		"--org", "Bank A/S", "--name", "Bank login", "--out", e.path("bank.pem"))
	bank := credential{cert: e.path("bank.pem"), key: e.path("bank.key")}
	if _, _, code := ask(bank, "010190-1234"); code != exitDenied {
		t.Errorf("relying party before it is allowed: exit %d, want %d", code, exitDenied)
	}
	s.stop()
	sum := sha256.Sum256(readCerts(t, bank.cert)[0].Raw)
	cfg, err := os.ReadFile(e.path("oces.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	e.write("oces.yaml", string(cfg)+"match_cpr:\n  relying_parties: [\"sha256:"+hex.EncodeToString(sum[:])+"\"]\n  burst: 2\n")
	e.serve()
	for i, want := range []string{"yes\n", "no\n"} {
		cpr := []string{"010190-1234", "020290-4321"}[i]
		if out, errOut, code := ask(bank, cpr); code != 0 || out != want {
			t.Errorf("relying party, %s: exit %d, %q %s; want %q", cpr, code, out, errOut, want)
		}
	}
	if _, errOut, code := ask(bank, "010190-1234"); code == 0 || !strings.Contains(errOut, "too many requests") {
		t.Errorf("relying party past its burst: exit %d, %s", code, errOut)
	}
}
