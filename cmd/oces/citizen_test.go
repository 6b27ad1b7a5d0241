package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runStdin runs oces with stdin and returns stdout, stderr and the exit code.
func (e *env) runStdin(stdin string, args ...string) (string, string, int) {
	e.tb.Helper()
	cmd := exec.Command(ocesBinary(e.tb), args...)
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(), e.tok.Env()...)
	cmd.Env = append(cmd.Env, "OCES_CONFIG="+filepath.Join(e.dir, "oces.yaml"))
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return stdout.String(), stderr.String(), ee.ExitCode()
	} else if err != nil {
		e.tb.Fatal(err)
	}
	return stdout.String(), stderr.String(), 0
}

func citizenConfig(e *env) string {
	return fmt.Sprintf("citizen: {pepper_key: %q, code_key: %q, app_key: %q, key_token: %q, rsa_pool_size: 0}\n",
		e.tok.KeyURI("citizen-pepper"), e.tok.KeyURI("citizen-codes"), e.tok.KeyURI("citizen-app"), e.tok.TokenURI())
}

func TestCitizenCommands(t *testing.T) {
	e := newEnvAt(t, "p-256", "http://127.0.0.1:8080", "127.0.0.1:0", citizenConfig)
	const cpr = "0101901234"
	out, errOut, code := e.runStdin(cpr+"\n", "citizen", "enrol", "--name", "Karen Jensen", "--user-id", "karen.j", "--card-out", "card.pdf", "-o", "json")
	if code != 0 {
		t.Fatalf("enrol: exit %d\n%s", code, errOut)
	}
	var en map[string]string
	if err := json.Unmarshal([]byte(out), &en); err != nil {
		t.Fatal(err)
	}
	if en["user_id"] != "karen.j" || !strings.HasPrefix(en["pid"], "PID:9208-2002-2-") || len(en["initial_password"]) != 12 {
		t.Fatalf("enrol: %v", en)
	}
	if strings.Contains(errOut, cpr) || strings.Contains(errOut, en["initial_password"]) {
		t.Fatalf("a secret in the log:\n%s", errOut)
	}
	// The card is a PDF that qpdf accepts and poppler reads 148 keys from.
	if r := exec.Command("qpdf", "--check", e.path("card.pdf")); r.Run() != nil {
		t.Fatal("qpdf --check refuses the code card")
	}
	if _, err := exec.LookPath("pdftotext"); err == nil {
		txt, err := exec.Command("pdftotext", "-layout", e.path("card.pdf"), "-").Output()
		if err != nil {
			t.Fatal(err)
		}
		if n := len(strings.Fields(string(txt))); !strings.Contains(string(txt), en["card_serial"]) || n < 2*148 {
			t.Fatalf("pdftotext finds %d words on the card:\n%s", n, txt)
		}
	}
	// The same person twice is refused, as a conflict.
	if _, _, code := e.runStdin(cpr+"\n", "citizen", "enrol", "--name", "Karen Jensen", "--card-out", "card2.pdf"); code != exitConflict {
		t.Fatalf("second enrolment: exit %d, want %d", code, exitConflict)
	}
	// No CPR number: a usage error, not a prompt.
	if _, _, code := e.runStdin("", "citizen", "enrol", "--name", "Jens Hansen", "--card-out", "card3.pdf"); code != exitUsage {
		t.Fatalf("enrol without a CPR number: exit %d", code)
	}
	e.ok("citizen", "suspend", "karen.j")
	var sum map[string]any
	if err := json.Unmarshal([]byte(e.ok("citizen", "show", "karen.j", "-o", "json")), &sum); err != nil {
		t.Fatal(err)
	}
	if sum["status"] != "suspended" || sum["keys_left"] != float64(148) {
		t.Fatalf("show: %v", sum)
	}
	e.ok("citizen", "unlock", "karen.j")
	e.ok("citizen", "card", "new", "karen.j", "--card-out", "card-new.pdf")
	pw := e.ok("citizen", "reset-password", "karen.j", "-o", "json")
	if !strings.Contains(pw, "initial_password") {
		t.Fatalf("reset-password: %s", pw)
	}
	if _, _, code := e.run("citizen", "show", "nobody.here"); code != exitNotFound {
		t.Fatalf("show of an unknown user: exit %d", code)
	}
	db, err := os.ReadFile(e.path("oces.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{cpr, en["initial_password"]} {
		if bytes.Contains(db, []byte(s)) {
			t.Errorf("the store holds %q", s)
		}
	}
}

func TestServeCSC(t *testing.T) {
	e := newEnvAt(t, "p-256", "http://127.0.0.1:8080", "127.0.0.1:0", func(e *env) string {
		e.write("csc-secret", "s3cret-of-the-webshop\n")
		return fmt.Sprintf("citizen: {pepper_key: %q, code_key: %q, app_key: %q, key_token: %q, rsa_pool_size: 0, csc_clients: [{id: webshop, secret_file: csc-secret}]}\n",
			e.tok.KeyURI("citizen-pepper"), e.tok.KeyURI("citizen-codes"), e.tok.KeyURI("citizen-app"), e.tok.TokenURI()) +
			"signer: {tsa_url: \"http://127.0.0.1:1/tsa\"}\n"
	})
	if _, errOut, code := e.runStdin("0101901234\n", "citizen", "enrol", "--name", "Karen Jensen", "--user-id", "karen.j", "--card-out", "card.pdf"); code != 0 {
		t.Fatalf("enrol: %s", errOut)
	}
	s := e.serve()
	client := e.httpClient(credential{}) // no client certificate
	post := func(path, token, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "https://"+s.admin+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if code, out := post("/csc/v2/info", "", "{}"); code != 200 || out["specs"] != "2.0.0.2" {
		t.Fatalf("info: %d %v", code, out)
	}
	// Without a certificate the admin API still refuses.
	resp, err := client.Get("https://" + s.admin + "/api/v1/whoami")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("admin API without a client certificate: %d", resp.StatusCode)
	}
	form := "grant_type=client_credentials&client_id=webshop&client_secret=s3cret-of-the-webshop"
	req, _ := http.NewRequest(http.MethodPost, "https://"+s.admin+"/csc/v2/oauth2/token", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	access, _ := tok["access_token"].(string)
	if access == "" {
		t.Fatalf("oauth2/token: %v", tok)
	}
	if code, out := post("/csc/v2/credentials/info", access, `{"credentialID":"qes:karen.j"}`); code != 200 || out["SCAL"] != "2" {
		t.Fatalf("credentials/info: %d %v", code, out)
	}
}
