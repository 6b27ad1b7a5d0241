package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oces-pki/oces/internal/audittest"
)

// TestCheckpointAnchors: with audit.anchor_dir the server time-stamps its
// checkpoints at its own TSA and writes the tokens there; 'oces audit
// verify --anchors' then finds a chain cut back before the newest
// time-stamped checkpoint, which the chain alone cannot show.
func TestCheckpointAnchors(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	e := newEnvAt(t, "p-256", "http://"+addr, addr, func(e *env) string {
		return fmt.Sprintf("tsa: {key: %q, certificate: tsa/tsa.pem}\n", e.tok.KeyURI("tsa"))
	})
	cfg, err := os.ReadFile(e.path("oces.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	line := fmt.Sprintf("audit: {key: %q}", e.tok.KeyURI("audit"))
	if !strings.Contains(string(cfg), line) {
		t.Fatalf("oces.yaml has no %s", line)
	}
	e.write("oces.yaml", strings.Replace(string(cfg), line,
		fmt.Sprintf("audit: {key: %q, anchor_dir: anchors, checkpoint_interval: 1s}", e.tok.KeyURI("audit")), 1))
	e.ok("ceremony", "tsa")
	s := e.serve()
	newest := func() uint64 {
		entries, _ := os.ReadDir(e.path("anchors"))
		var last uint64
		for _, en := range entries {
			if n, err := strconv.ParseUint(strings.TrimSuffix(en.Name(), ".tst"), 10, 64); err == nil && strings.HasSuffix(en.Name(), ".tst") {
				last = max(last, n)
			}
		}
		return last
	}
	for i := range 2 {
		e.cliOK(e.officer, "cert", "issue", "--profile", "foces", "--csr", e.newCSR(fmt.Sprintf("anchor-%d", i)),
			"--cvr", "12345678", "--org", "Firma A/S", "--name", "Lønsystem")
	}
	deadline := time.Now().Add(20 * time.Second)
	for newest() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint anchored in %s after 20s:\n%s", e.path("anchors"), tail(s.stderr.String(), 2048))
		}
		time.Sleep(200 * time.Millisecond)
	}
	anchored := newest()
	anchorArgs := []string{"--anchors", e.path("anchors"), "--tsa-roots", e.path("ca/root.pem")}
	if out, errOut, code := e.cli(e.officer, append([]string{"audit", "verify", "--live", "--audit-key", e.path("audit-key.pem")}, anchorArgs...)...); code != 0 {
		t.Fatalf("live verify with the anchors: exit %d, %s%s", code, out, errOut)
	}
	e.adminURL = ""
	s.stop()

	// Cut the chain back to before the anchored checkpoint.
	var full struct{ LastSeq uint64 }
	if err := json.Unmarshal([]byte(e.ok("audit", "verify", "-o", "json")), &full); err != nil {
		t.Fatal(err)
	}
	for seq := full.LastSeq; seq >= anchored; seq-- {
		if err := audittest.Delete(e.path("oces.db"), seq); err != nil {
			t.Fatal(err)
		}
	}
	if _, errOut, code := e.run("audit", "verify"); code != 0 {
		t.Fatalf("the cut chain alone: exit %d, %s (the test wants a cut hashes cannot see)", code, errOut)
	}
	if _, errOut, code := e.run(append([]string{"audit", "verify"}, anchorArgs...)...); code == 0 || !strings.Contains(errOut, "time-stamped checkpoint") {
		t.Errorf("the cut chain with the anchors: exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(e.path("anchors"), anchorName(anchored))); err != nil {
		t.Error(err)
	}
}
