package main

import (
	"context"
	"encoding/pem"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/store/bolt"
)

// TestOfficerCredentials: the key file of an officer credential is an
// encrypted PKCS#8 key that openssl opens with the passphrase and not
// without; the CLI needs the passphrase too. Once an officer exists, a new
// credential is issued only to an officer who proves their own, and the
// audit chain names that officer as the actor, not the system.
func TestOfficerCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "p-256") // makes the officer (by the system), then the RA (by the officer)

	// 1. Encrypted on disk.
	data, err := os.ReadFile(e.officer.key)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := pem.Decode(data); b == nil || b.Type != "ENCRYPTED PRIVATE KEY" {
		t.Fatalf("officer.key is not an encrypted PKCS#8 key:\n%.80s", data)
	}
	if _, err := exec.LookPath("openssl"); err == nil {
		if out, err := exec.Command("openssl", "pkey", "-in", e.officer.key, "-passin", "file:"+e.passphraseFile(), "-noout").CombinedOutput(); err != nil {
			t.Errorf("openssl cannot open the key with the passphrase: %v\n%s", err, out)
		}
		wrong := e.write("wrong", "not the passphrase at all\n")
		if out, err := exec.Command("openssl", "pkey", "-in", e.officer.key, "-passin", "file:"+wrong, "-noout").CombinedOutput(); err == nil {
			t.Errorf("openssl opens the key with a wrong passphrase:\n%s", out)
		}
	}

	// 2. Who asked.
	_, errOut, code := e.run("ceremony", "officer", "--name", "Nobody Asked", "--out", e.path("o3"), "--passphrase-file", e.passphraseFile())
	if code != exitUsage || !strings.Contains(errOut, "--by-cert") {
		t.Errorf("a credential without the asking officer: exit %d, %s", code, errOut)
	}
	_, errOut, code = e.run("ceremony", "officer", "--name", "By RA", "--out", e.path("o4"), "--passphrase-file", e.passphraseFile(),
		"--by-cert", e.ra.cert, "--by-key", e.ra.key, "--by-key-passphrase-file", e.passphraseFile())
	if code != exitUsage || !strings.Contains(errOut, "not a CA officer's") {
		t.Errorf("a credential asked for by an RA: exit %d, %s", code, errOut)
	}
	_, errOut, code = e.run("ceremony", "officer", "--name", "Wrong Key", "--out", e.path("o5"), "--passphrase-file", e.passphraseFile(),
		"--by-cert", e.officer.cert, "--by-key", e.ra.key, "--by-key-passphrase-file", e.passphraseFile())
	if code != exitUsage || !strings.Contains(errOut, "not the certificate's") {
		t.Errorf("the asking officer's certificate with another key: exit %d, %s", code, errOut)
	}
	_, errOut, code = e.run("ceremony", "officer", "--name", "Short", "--out", e.path("o6"), "--passphrase-file", e.write("short", "short\n"),
		"--by-cert", e.officer.cert, "--by-key", e.officer.key, "--by-key-passphrase-file", e.passphraseFile())
	if code != exitUsage || !strings.Contains(errOut, "at least 12") {
		t.Errorf("a short passphrase: exit %d, %s", code, errOut)
	}

	db, err := bolt.Open(e.path("oces.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	actors := map[string]string{} // certificate serial -> actor of its issuance
	err = db.AuditRecords(context.Background(), 1, func(_ uint64, data []byte) error {
		var r audit.Record
		if err := r.UnmarshalBinary(data); err != nil {
			return err
		}
		if r.Action == audit.ActionSignBefore {
			actors[r.Target] = r.Actor.Subject
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	find := func(serial string) string {
		for target, actor := range actors {
			if strings.Contains(target, serial) {
				return actor
			}
		}
		return "(no record)"
	}
	if got := find(e.officer.serial); got != "system" {
		t.Errorf("the first officer's certificate was issued by %q, want the system", got)
	}
	if got := find(e.ra.serial); !strings.Contains(got, "CN=Test Officer") {
		t.Errorf("the RA's certificate was issued by %q, want the officer who asked", got)
	}

	// 3. The CLI opens the encrypted key with the passphrase, and refuses
	// a wrong one naming the passphrase.
	s := e.serve()
	defer s.stop()
	if out := e.cliOK(e.officer, "cert", "list"); !strings.Contains(out, "SERIAL") {
		t.Errorf("cert list: %s", out)
	}
	_, errOut, code = e.runEnv([]string{"OCES_API=" + e.adminURL, "OCES_CERT=" + e.officer.cert, "OCES_KEY=" + e.officer.key,
		"OCES_CA_FILE=" + e.path("ca/root.pem"), keyPassphraseEnv + "=" + e.path("wrong")}, "cert", "list")
	if code != exitUsage || !strings.Contains(errOut, "passphrase") {
		t.Errorf("cert list with a wrong passphrase: exit %d, %s", code, errOut)
	}
}
