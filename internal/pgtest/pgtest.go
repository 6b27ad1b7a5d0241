// Package pgtest runs a throwaway PostgreSQL server for tests: initdb in a
// temporary directory, the server on a free loopback port, one fresh
// database per test, and everything removed when the test binary ends.
//
// The server belongs to the test process: it is started once per process
// (on the first New) with a parent-death signal, so a test binary that
// crashes or is killed takes it along, and Main stops it cleanly and
// removes its directory. PostgreSQL refuses to run as root, and CI runs as
// root: then initdb and the server run as the unprivileged user "postgres"
// (Debian's package creates it), or "nobody" if there is none.
//
// The binaries come from $OCES_PG_BIN, $PATH, or Debian's
// /usr/lib/postgresql/<version>/bin (apt-get install postgresql;
// scripts/deps.sh installs it). Without them New skips the test, unless
// CI=true or OCES_REQUIRE_POSTGRES=1, in which case it fails.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a running throwaway PostgreSQL.
type Server struct {
	dir  string
	port int
	cmd  *exec.Cmd
	exit chan error
	log  string
}

var (
	startOnce sync.Once
	shared    *Server
	startErr  error
	dbSeq     atomic.Int64

	standbyOnce sync.Once
	standby     *Server
	standbyErr  error
)

// Main runs the tests of a package and stops the server afterwards; call it
// from TestMain: func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	if standby != nil {
		if err := standby.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	return code
}

// required reports whether a missing PostgreSQL fails the test.
func required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("OCES_REQUIRE_POSTGRES") == "1"
}

// New returns the DSN of a fresh, empty schema on the process's server,
// starting the server on first use: the DSN sets search_path to it, so a
// store made on it sees only its own tables. A schema costs milliseconds
// where a database costs a second (CREATE DATABASE copies and syncs a
// template). The schema is dropped at cleanup.
func New(tb testing.TB) string {
	tb.Helper()
	srv := Shared(tb)
	name := fmt.Sprintf("t%d", dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.exec(ctx, "CREATE SCHEMA "+name); err != nil {
		tb.Fatalf("pgtest: creating schema: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.exec(ctx, "DROP SCHEMA IF EXISTS "+name+" CASCADE"); err != nil {
			tb.Logf("pgtest: dropping schema %s: %v", name, err)
		}
	})
	return srv.DSN(name)
}

// Shared returns the process's server, starting it on first use.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	startOnce.Do(func() { shared, startErr = Start() })
	if startErr != nil {
		if errors.Is(startErr, errNotInstalled) && !required() {
			tb.Skipf("pgtest: %v", startErr)
		}
		tb.Fatalf("pgtest: %v", startErr)
	}
	return shared
}

// Standby returns a hot standby of the process's server, streaming from it
// (pg_basebackup -R), started on first use and stopped by Main. The
// schemas New makes appear on it as they replicate; Replica turns a DSN
// of New into one of the standby.
func Standby(tb testing.TB) *Server {
	tb.Helper()
	primary := Shared(tb)
	standbyOnce.Do(func() { standby, standbyErr = primary.startStandby() })
	if standbyErr != nil {
		tb.Fatalf("pgtest: %v", standbyErr)
	}
	return standby
}

// Replica is dsn, a DSN of the primary, pointed at s.
func (s *Server) Replica(dsn string) string {
	return strings.Replace(dsn, fmt.Sprintf("@127.0.0.1:%d/", shared.port), fmt.Sprintf("@127.0.0.1:%d/", s.port), 1)
}

func (s *Server) startStandby() (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	cred, uid, gid, err := runAs()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "oces-pgtest-standby-")
	if err != nil {
		return nil, err
	}
	st := &Server{dir: dir, log: filepath.Join(dir, "server.log")}
	if cred != nil {
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	bb := exec.Command(filepath.Join(bin, "pg_basebackup"), "-D", data, "-R", "-X", "stream", "-c", "fast",
		"-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "-U", "oces", "--no-sync")
	bb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	bb.Dir = dir
	if out, err := bb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pg_basebackup: %w\n%s", err, out)
	}
	if err := st.start(bin, data, cred); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return st, nil
}

// DSN is the connection string of schema name in the server's database
// (no schema if name is empty).
func (s *Server) DSN(name string) string {
	dsn := fmt.Sprintf("postgres://oces@127.0.0.1:%d/%s?sslmode=disable", s.port, database)
	if name != "" {
		dsn += "&search_path=" + name
	}
	return dsn
}

// database is the one database the tests' schemas live in: the one initdb
// makes.
const database = "postgres"

// Port is the server's TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

func (s *Server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.DSN(""))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

var errNotInstalled = errors.New("PostgreSQL is not installed (apt-get install postgresql, or run scripts/deps.sh --test)")

// BinDir finds the directory holding initdb and postgres.
func BinDir() (string, error) {
	if d := os.Getenv("OCES_PG_BIN"); d != "" {
		return d, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errNotInstalled
}

func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// Start initialises a cluster in a new temporary directory and starts it on
// a free loopback port. Stop ends it and removes the directory.
func Start() (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	cred, uid, gid, err := runAs()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "oces-pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, log: filepath.Join(dir, "server.log")}
	if cred != nil {
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("handing %s to uid %d: %w", dir, uid, err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "oces", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	for attempt := 0; ; attempt++ {
		err := s.start(bin, data, cred)
		if err == nil {
			return s, nil
		}
		if attempt == 3 {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

// start runs postgres on a free port and waits until it accepts
// connections. It runs the server itself rather than through pg_ctl so
// that the kernel ends it with the test process (Pdeathsig).
func (s *Server) start(bin, data string, cred *syscall.Credential) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+s.dir,
		"-c", "max_connections=300", "-c", "fsync=on", "-c", "synchronous_commit=on")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting postgres: %w", err)
	}
	s.cmd, s.port, s.exit = cmd, port, make(chan error, 1)
	go func() { s.exit <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.exit:
			return fmt.Errorf("postgres exited at start: %v\n%s", err, s.tail())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := s.exec(ctx, "SELECT 1")
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return fmt.Errorf("postgres did not accept connections within 30s\n%s", s.tail())
}

func (s *Server) tail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Stop shuts the server down (fast shutdown, as pg_ctl stop -m fast does)
// and removes its directory.
func (s *Server) Stop() error {
	defer os.RemoveAll(s.dir)
	if s.cmd == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exit:
		return nil
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exit
		return errors.New("postgres did not stop within 20s; killed it")
	}
}

// runAs is the credential for initdb and postgres: nil when not root.
func runAs() (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, 0, 0, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid, gid, nil
	}
	return nil, 0, 0, errors.New("running as root and there is no unprivileged user (postgres or nobody) to run PostgreSQL as")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// String names the server for logs.
func (s *Server) String() string {
	return strings.Join([]string{"postgres on 127.0.0.1:" + strconv.Itoa(s.port), s.dir}, " in ")
}
