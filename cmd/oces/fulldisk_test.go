package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// TestFullDisk (issue 15, part 6) fills the store's volume while four
// clients issue and revoke, and frees it again. While the volume is full
// every refusal must be 503; once space is back the same process must serve
// again; and afterwards every acknowledged certificate is stored byte for
// byte, OCSP agrees with the store, bbolt's consistency check passes and
// the audit chain verifies.
//
// As root the store is on a 16 MiB tmpfs, filled with a file and freed by
// removing it. Elsewhere (or with OCES_FULLDISK=fsize) the fallback lowers
// the server's RLIMIT_FSIZE to the store file's size with prlimit(1): a
// write that would grow the file fails with EFBIG, as one on a full disk
// fails with ENOSPC (Go ignores SIGXFSZ); raising the limit frees it.
func TestFullDisk(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "p-256")
	mode := os.Getenv("OCES_FULLDISK")
	if mode == "" {
		mode = "tmpfs"
		if os.Geteuid() != 0 {
			mode = "fsize"
		}
	}
	var vol volume
	switch mode {
	case "tmpfs":
		vol = newTmpfsVolume(t, e)
	case "fsize":
		vol = &fsizeVolume{db: e.path("oces.db")}
		if _, err := exec.LookPath("prlimit"); err != nil {
			t.Skip("prlimit (util-linux) not installed, and mounting a tmpfs needs root")
		}
	default:
		t.Fatalf("OCES_FULLDISK=%q: want tmpfs or fsize", mode)
	}
	t.Logf("full disk by %s", mode)
	s := e.serve()
	pid := s.cmd.Process.Pid

	all := newAcks()
	for round := range 2 {
		waitReady(t, e, s, "filling the disk")
		a := newAcks()
		ctx, cancel := context.WithCancel(t.Context())
		wait := load(ctx, t, e, 4, a)
		time.Sleep(300 * time.Millisecond)
		vol.fill(t, s)
		full := time.Now()
		time.Sleep(1500 * time.Millisecond)
		fullCerts, _ := a.count()
		healthz, _, _ := quickGet("http://" + s.public + "/healthz")
		readyz, _, _ := quickGet("http://" + s.public + "/readyz")
		vol.free(t, s)
		freed := time.Now()
		recovered := waitForSuccess(a, freed, 20*time.Second)
		time.Sleep(300 * time.Millisecond)
		cancel()
		wait()
		certs, revoked := a.count()
		t.Logf("round %d: %d certificates and %d revocations acknowledged, %d of them by the end of %s of full disk; /healthz %d and /readyz %d while full; first success %s after space was freed; refusals: %s",
			round, certs, revoked, fullCerts, freed.Sub(full).Round(time.Millisecond), healthz, readyz, recovered.Round(time.Millisecond), a.refusals())
		if a.refused[http.StatusServiceUnavailable] == 0 {
			t.Errorf("round %d: no request was refused while the disk was full; did the store write at all?", round)
		}
		if !a.only(http.StatusServiceUnavailable) {
			t.Errorf("round %d: refusals other than 503: %s; the server logged:\n%s", round, a.refusals(), firstLines(grepLines(s.stderr.String(), "level=ERROR"), 3))
		}
		if recovered < 0 {
			t.Errorf("round %d: no issuance succeeded within 20s of freeing the disk", round)
		}
		if s.exited() || s.cmd.Process.Pid != pid {
			t.Fatalf("round %d: the server exited on a full disk:\n%s", round, tail(s.stderr.String(), 4096))
		}
		merge(all, a)
	}
	n := checkAcked(t, e, s, all)
	t.Logf("after the full disks: %d certificates listed, every acknowledged one byte for byte, OCSP agrees", n)
	s.stop()
	checkBolt(t, vol.path())
	if out, errOut, code := e.run("audit", "verify"); code != 0 || !strings.Contains(out, "intact") {
		t.Errorf("oces audit verify after the full disks: exit %d\n%s%s", code, out, errOut)
	}
}

// volume is the store's volume, which a test can fill and free.
type volume interface {
	fill(tb testing.TB, s *served)
	free(tb testing.TB, s *served)
	path() string // of the store file
}

// tmpfsVolume is a 16 MiB tmpfs holding the store.
type tmpfsVolume struct{ dir string }

// newTmpfsVolume mounts the tmpfs and moves e's store onto it.
func newTmpfsVolume(tb testing.TB, e *env) *tmpfsVolume {
	tb.Helper()
	v := &tmpfsVolume{dir: e.path("vol")}
	mountTmpfs(tb, v.dir, "16m")
	if out, err := exec.Command("mv", e.path("oces.db"), v.path()).CombinedOutput(); err != nil {
		tb.Fatalf("mv: %v %s", err, out)
	}
	cfg, err := os.ReadFile(e.path("oces.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	e.write("oces.yaml", strings.Replace(string(cfg), "store: {path: oces.db}", "store: {path: vol/oces.db}", 1))
	return v
}

func (v *tmpfsVolume) path() string                  { return filepath.Join(v.dir, "oces.db") }
func (v *tmpfsVolume) fill(tb testing.TB, _ *served) { fill(tb, filepath.Join(v.dir, "filler")) }
func (v *tmpfsVolume) free(tb testing.TB, _ *served) {
	tb.Helper()
	if err := os.Remove(filepath.Join(v.dir, "filler")); err != nil {
		tb.Fatal(err)
	}
}

// fsizeVolume stands for a full disk by the server's file size limit.
type fsizeVolume struct{ db string }

func (v *fsizeVolume) path() string { return v.db }

func (v *fsizeVolume) fill(tb testing.TB, s *served) {
	tb.Helper()
	fi, err := os.Stat(v.db)
	if err != nil {
		tb.Fatal(err)
	}
	prlimitFsize(tb, s.cmd.Process.Pid, fmt.Sprint(fi.Size()))
}

func (v *fsizeVolume) free(tb testing.TB, s *served) {
	tb.Helper()
	prlimitFsize(tb, s.cmd.Process.Pid, "unlimited")
}

// prlimitFsize sets the soft RLIMIT_FSIZE of pid (the hard limit stays).
func prlimitFsize(tb testing.TB, pid int, soft string) {
	tb.Helper()
	if out, err := exec.Command("prlimit", "--pid", fmt.Sprint(pid), "--fsize="+soft+":").CombinedOutput(); err != nil {
		tb.Fatalf("prlimit --fsize=%s: %v %s", soft, err, out)
	}
}

// mountTmpfs mounts a tmpfs of the given size at dir until the end of the
// test.
func mountTmpfs(tb testing.TB, dir, size string) {
	tb.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0755"); err != nil {
		tb.Skipf("mounting a tmpfs at %s: %v (needs CAP_SYS_ADMIN; OCES_FULLDISK=fsize runs the fallback)", dir, err)
	}
	tb.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			tb.Errorf("unmounting %s: %v", dir, err)
		}
	})
}

// fill writes to path until the volume has no space left.
func fill(tb testing.TB, path string) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			tb.Fatal(err)
		}
	}
	// The last partial pages too: what a small write can still take.
	for {
		if _, err := f.Write(buf[:512]); err != nil {
			break
		}
	}
}

// checkBolt runs bbolt's consistency check on the store file.
func checkBolt(tb testing.TB, path string) {
	tb.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		tb.Fatalf("opening %s after the test: %v", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		tb.Errorf("bbolt check of %s: %v", path, err)
	}
}
