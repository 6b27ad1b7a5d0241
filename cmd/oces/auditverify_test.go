package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/oces-pki/oces/internal/audittest"
)

// TestAuditVerifyLive checks the chain of a running CA through the admin
// API with the audit key's public key from the key ceremony, and shows
// that a witness file catches a chain cut back after its last checkpoint,
// which the chain alone cannot show.
func TestAuditVerifyLive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "p-256")
	s := e.serve()
	for i := range 2 {
		e.cliOK(e.officer, "cert", "issue", "--profile", "foces", "--csr", e.newCSR(fmt.Sprintf("live-%d", i)),
			"--cvr", "12345678", "--org", "Firma A/S", "--name", "Lønsystem")
	}
	s.stop() // the last checkpoint
	s = e.serve()
	if _, errOut, code := e.run("audit", "verify"); code == 0 {
		t.Errorf("offline verify while the server runs: exit 0 (%s); the store should be locked", errOut)
	}
	witness := e.path("witness")
	var rep struct {
		Records, Checkpoints, LastSeq uint64
		KeyFromChain                  bool
	}
	out := e.cliOK(e.officer, "audit", "verify", "--live", "--audit-key", e.path("audit-key.pem"), "--witness", witness, "-o", "json")
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Records < 6 || rep.Checkpoints < 1 || rep.KeyFromChain {
		t.Fatalf("live verify: %s (%v)", out, err)
	}
	data, err := os.ReadFile(witness)
	if err != nil || !strings.HasPrefix(string(data), strconv.FormatUint(rep.LastSeq, 10)+" ") {
		t.Fatalf("witness %q after verifying up to %d: %v", data, rep.LastSeq, err)
	}
	// Another key than the audit key: the checkpoints do not verify.
	if _, errOut, code := e.cli(e.officer, "audit", "verify", "--live", "--audit-key", e.ra.cert); code == 0 || !strings.Contains(errOut, "checkpoint") {
		t.Errorf("live verify with another key: exit %d, %s", code, errOut)
	}
	if _, errOut, code := e.cli(e.ra, "audit", "verify", "--live"); code != exitDenied {
		t.Errorf("live verify by a registration authority: exit %d, %s", code, errOut)
	}
	e.cliOK(e.officer, "audit", "verify", "--live", "--witness", witness) // the chain only grew
	data, _ = os.ReadFile(witness)
	last, _ := strconv.ParseUint(strings.Fields(string(data))[0], 10, 64)
	if last <= rep.LastSeq {
		t.Errorf("the witness did not move on: %d after %d", last, rep.LastSeq)
	}

	// Cut the chain back to before the witnessed record, with the server
	// stopped, as someone with the file could: the chain alone is intact.
	e.adminURL = ""
	s.stop()
	var full struct{ LastSeq uint64 }
	if err := json.Unmarshal([]byte(e.ok("audit", "verify", "-o", "json")), &full); err != nil {
		t.Fatal(err)
	}
	for seq := full.LastSeq; seq >= last; seq-- {
		if err := audittest.Delete(e.path("oces.db"), seq); err != nil {
			t.Fatal(err)
		}
	}
	if out, errOut, code := e.run("audit", "verify"); code != 0 {
		t.Fatalf("the cut chain without a witness: exit %d, %s%s (the test wants a cut that hashes alone cannot see)", code, out, errOut)
	}
	if _, errOut, code := e.run("audit", "verify", "--witness", witness); code == 0 || !strings.Contains(errOut, "cut back or rewritten") {
		t.Errorf("the cut chain with the witness: exit %d, %s", code, errOut)
	}
}
