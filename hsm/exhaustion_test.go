package hsm_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/softhsmtest"
)

// childEnv marks the test binary run as a child process by a test that
// needs a process of its own.
const childEnv = "OCES_HSM_TEST_CHILD"

// runChild runs the test named name in a child process with childEnv set
// and fails t with the child's output if the child fails.
func runChild(t *testing.T, name string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+name)
	out, err := cmd.CombinedOutput()
	switch {
	case strings.Contains(string(out), "--- SKIP"):
		t.Skipf("child skipped:\n%s", out)
	case err != nil:
		t.Fatalf("child process: %v\n%s", err, out)
	}
	t.Logf("child process:\n%s", out)
}

// TestTokenComesBackAfterFileExhaustion is the HSM half of issue 16 item
// 1. A process that runs out of file descriptors leaves SoftHSM's token
// unusable: keys fail while no descriptor is free, and afterwards every
// reopen fails with CKR_GENERAL_ERROR until the module is re-initialised.
// The token must come back on its own once descriptors are free. It runs
// in a child process, whose open-file limit it lowers.
func TestTokenComesBackAfterFileExhaustion(t *testing.T) {
	if os.Getenv(childEnv) != t.Name() {
		runChild(t, t.Name())
		return
	}
	tok := softhsmtest.New(t)
	ctx := context.Background()
	h := hsm.New(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	defer h.Close()
	s, err := h.GenerateKey(ctx, tok.KeyURI("k"), hsm.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.GenerateSecret(ctx, tok.KeyURI("mac")); err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, s)
	if _, err := h.MAC(ctx, tok.KeyURI("mac"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := h.Check(ctx); err != nil {
		t.Fatalf("Check on a healthy token: %v", err)
	}

	// Use up every file descriptor.
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	limit := uint64(len(fds) + 16)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
		t.Fatal(err)
	}
	var files []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				t.Fatal(err)
			}
			break
		}
		files = append(files, f)
	}
	// The readiness check sees it before any key is used.
	if err := h.Check(ctx); err == nil {
		t.Error("Check passed with no file descriptor free")
	} else {
		t.Logf("Check with no descriptor free: %v", err)
	}
	d := digest("exhausted")
	for range 3 {
		if _, err := s.Sign(rand.Reader, d, crypto.SHA256); err == nil {
			t.Fatal("signing succeeded with no file descriptor free; the test does not exhaust them")
		} else {
			t.Logf("signing with no descriptor free: %v", err)
		}
	}
	for _, f := range files {
		f.Close()
	}

	// The same signer and secret work again, without anything reopened by hand.
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, serr := s.Sign(rand.Reader, d, crypto.SHA256)
		_, merr := h.MAC(ctx, tok.KeyURI("mac"), []byte("x"))
		cerr := h.Check(ctx)
		if serr == nil && merr == nil && cerr == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("15s after the descriptors were freed: sign: %v; MAC: %v; Check: %v", serr, merr, cerr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	signAndVerify(t, s)
}
