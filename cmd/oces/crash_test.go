package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oces-pki/oces/api"
	"github.com/oces-pki/oces/internal/audittest"
)

// TestCrashDuringIssuance kills the server with SIGKILL in the middle of a
// burst of concurrent issuance and restarts it on the same store and
// token: every certificate a client received must be there, byte for byte,
// and no serial may appear twice (the design's "every returned certificate
// survives a crash; serials are never reused").
func TestCrashDuringIssuance(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "p-256")
	s := e.serve()
	csrs := make([]string, 16)
	for i := range csrs {
		csrs[i] = csrPEM(t)
	}

	const workers, killAfter = 8, 60
	var (
		mu       sync.Mutex
		received = map[string][]byte{} // serial -> DER, as the clients got them
		killed   atomic.Bool
		count    atomic.Int64
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for w := range workers {
		cl := e.client(e.officer)
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				c, err := cl.Issue(ctx, api.IssueRequest{Profile: "moces", CSR: csrs[(w+i)%len(csrs)],
					CVR: "12345678", Organization: "Firma A/S", Name: fmt.Sprintf("Medarbejder %d-%d", w, i)})
				if err != nil {
					if !killed.Load() {
						t.Errorf("worker %d: issuing before the crash: %v", w, err)
					}
					return
				}
				b, _ := pem.Decode([]byte(c.PEM))
				if b == nil {
					t.Errorf("worker %d: certificate %s without PEM", w, c.Serial)
					return
				}
				der := b.Bytes
				mu.Lock()
				if _, dup := received[c.Serial]; dup {
					t.Errorf("serial %s returned twice", c.Serial)
				}
				received[c.Serial] = der
				mu.Unlock()
				count.Add(1)
			}
		})
	}
	for count.Load() < killAfter && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	killed.Store(true)
	s.kill()
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("killed the server after %d certificates were received", len(received))

	s = e.serve()
	checkAfterCrash(t, &crashState{e: e, s: s, received: received})
	s.stop()
	// The chain survived the crash: every record links, and the checkpoints
	// (the last one written at the clean stop) verify with the audit key.
	if out, errOut, code := e.run("audit", "verify"); code != 0 || !strings.Contains(out, "intact") {
		t.Errorf("oces audit verify after the crash: exit %d\n%s%s", code, out, errOut)
	}
}

// TestAuditVerifyDetectsTampering changes one record in the bbolt file and
// expects 'oces audit verify' to fail naming it; unchanged, it passes.
func TestAuditVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "p-256")
	s := e.serve()
	for i := range 3 {
		csr := e.newCSR(fmt.Sprintf("tamper-%d", i))
		if _, errOut, code := e.cli(e.officer, "cert", "issue", "--profile", "foces", "--csr", csr,
			"--cvr", "12345678", "--org", "Firma A/S", "--name", "Lønsystem"); code != 0 {
			t.Fatalf("issue: exit %d: %s", code, errOut)
		}
	}
	s.stop()
	out := e.ok("audit", "verify", "-o", "json")
	var rep struct{ Records, Checkpoints uint64 }
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Records < 9 || rep.Checkpoints < 1 {
		t.Fatalf("audit verify on the untouched chain: %s (%v)", out, err)
	}
	if err := audittest.Tamper(filepath.Join(e.dir, "oces.db"), 4); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := e.run("audit", "verify")
	if code == 0 || !strings.Contains(errOut, "record 4") {
		t.Fatalf("audit verify after changing record 4: exit %d, %q; want a failure naming record 4", code, errOut)
	}
}

// crashState is what the checks after a crash see: the environment, the
// restarted server, and every certificate the clients received before the
// crash (serial to DER).
type crashState struct {
	e        *env
	s        *served
	received map[string][]byte
	listed   map[string]issued // the full listing after the restart, filled by the first check
}

// crashCheck is one invariant that must hold after a crash and restart.
type crashCheck struct {
	name string
	run  func(tb testing.TB, st *crashState)
}

// crashChecks are run in order by checkAfterCrash. Integrations that keep
// their own state across a crash (the audit chain and 'oces audit verify',
// CRLs, OCSP) append their invariant here.
var crashChecks = []crashCheck{
	{"serials are unique in the full listing", checkListingUnique},
	{"every received certificate is stored, byte for byte", checkReceivedStored},
	{"new serials after the restart are fresh", checkFreshSerials},
}

// checkAfterCrash runs every crash check on st.
func checkAfterCrash(tb testing.TB, st *crashState) {
	tb.Helper()
	for _, c := range crashChecks {
		failed := tb.Failed()
		c.run(tb, st)
		if !failed && tb.Failed() {
			tb.Logf("after the crash: check %q failed", c.name)
		}
	}
}

func checkListingUnique(tb testing.TB, st *crashState) {
	st.listed = listAll(tb, st.e, st.e.officer, 50) // fails on a serial listed twice
	if len(st.listed) < len(st.received) {
		tb.Errorf("the listing has %d certificates; the clients received %d", len(st.listed), len(st.received))
	}
}

func checkReceivedStored(tb testing.TB, st *crashState) {
	cl := st.e.client(st.e.officer)
	for serial, der := range st.received {
		if _, ok := st.listed[serial]; !ok {
			tb.Errorf("received certificate %s is not in the listing", serial)
		}
		c, err := cl.Show(tb.Context(), serial)
		if err != nil {
			tb.Errorf("received certificate %s: %v", serial, err)
			continue
		}
		if !bytes.Equal(pemDER(tb, c.PEM), der) || c.Status != "good" {
			tb.Errorf("received certificate %s: stored %s with other bytes than the client got", serial, c.Status)
		}
	}
}

func checkFreshSerials(tb testing.TB, st *crashState) {
	cl := st.e.client(st.e.officer)
	for i := range 4 {
		c, err := cl.Issue(tb.Context(), api.IssueRequest{Profile: "voces", CSR: csrPEM(tb), CVR: "12345678", Organization: "Firma A/S"})
		if err != nil {
			tb.Errorf("issuing after the restart: %v", err)
			return
		}
		if _, used := st.listed[c.Serial]; used {
			tb.Errorf("issuance %d after the restart reused serial %s", i, c.Serial)
		}
	}
}
