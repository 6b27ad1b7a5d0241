package bolt

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oces-pki/oces/ca"
)

// crashEnv names the database a re-executed test binary issues into until
// it is killed.
const crashEnv = "OCES_STORE_CRASH_CHILD"

// TestCrashDurability kills a process that is issuing certificates with
// SIGKILL and checks that every certificate whose Complete had returned is
// in the file, completed. It tests the store's part of durability (nothing
// acknowledged before commit, a consistent file after a crash at any point);
// surviving a power cut also needs the disk to honour fsync.
func TestCrashDurability(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(t, path)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	t.Parallel()
	for round := range 3 {
		t.Run(fmt.Sprint("round ", round), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "oces.db")
			printed := runAndKill(t, path, 100+round*150)
			db := openAt(t, path)
			for _, s := range printed {
				c, err := db.Certificate(context.Background(), s)
				if err != nil {
					t.Errorf("certificate %s was acknowledged but is lost: %v", s, err)
					continue
				}
				if c.Status != ca.StatusGood || len(c.DER) == 0 {
					t.Errorf("certificate %s is incomplete: %+v", s, c)
				}
			}
			t.Logf("%d acknowledged certificates survived SIGKILL", len(printed))
		})
	}
}

// runAndKill starts the child, reads the serials it acknowledges, kills it
// with SIGKILL once it has printed after of them, and returns every serial
// printed before it died.
func runAndKill(t *testing.T, path string, after int) []ca.Serial {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDurability$", "-test.v=false")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var printed []ca.Serial
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		hex, ok := strings.CutPrefix(sc.Text(), "completed ")
		if !ok {
			continue
		}
		s, err := ca.ParseSerial(hex)
		if err != nil {
			t.Fatalf("child printed %q: %v", sc.Text(), err)
		}
		if printed = append(printed, s); len(printed) == after {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	if len(printed) < after {
		t.Fatalf("child stopped after %d certificates: %v\n%s", len(printed), err, stderr.String())
	}
	return printed
}

// crashChild issues certificates from four goroutines until it is killed,
// printing each serial after Complete returns.
func crashChild(t *testing.T, path string) {
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	for range 4 {
		go func() {
			for {
				p, der := prepared(t, "issuing-1", "poces")
				if err := db.Reserve(context.Background(), p); err != nil {
					panic(err)
				}
				if _, err := db.Complete(context.Background(), p.Serial, der, time.Now()); err != nil {
					panic(err)
				}
				mu.Lock()
				_, _ = fmt.Fprintf(os.Stdout, "completed %s\n", p.Serial)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Minute) // the parent kills us long before this
	os.Exit(3)
}
