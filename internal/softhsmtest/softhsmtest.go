// Package softhsmtest gives each test its own SoftHSM2 token.
//
// SoftHSM reads SOFTHSM2_CONF once, at C_Initialize, and (as verified with
// SoftHSM 2.6.1) does not rescan its token directory afterwards: a token made
// by softhsm2-util once the library is initialised in this process stays
// invisible until C_Finalize, which would tear down every other test's
// sessions. So the package keeps one temporary token directory per process
// and creates tokens inside the process with C_InitToken on SoftHSM's free
// slot, which SoftHSM shows at once and also writes to the directory, so
// subprocesses started with Env() see them too.
//
// The module must be initialised by crypto11 (which go.step.sm/crypto uses
// and which refuses a module someone else initialised), so setup first makes
// an anchor token with softhsm2-util, opens it with crypto11 and keeps that
// context for the life of the process; the package's own miekg/pkcs11 handle
// then joins the initialised module.
package softhsmtest

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"
)

// modules are the places SoftHSM2's PKCS#11 module is looked for, after
// $OCES_PKCS11_MODULE.
var modules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
	"/opt/homebrew/lib/softhsm/libsofthsm2.so",
}

const anchorLabel = "oces-anchor"

// env is the process-wide SoftHSM set-up.
type env struct {
	dir, conf, module string

	mu     sync.Mutex // serialises token creation on the free slot
	ctx    *pkcs11.Ctx
	anchor *crypto11.Context
}

var (
	setupOnce sync.Once
	shared    *env
	setupErr  error
	seq       atomic.Int64
)

// Token is a SoftHSM token of one test.
type Token struct {
	env     *env
	label   string
	pin     string
	pinFile string
}

// New creates a fresh, initialised token with a user PIN stored in a 0600
// file. It skips the test if SoftHSM is not installed, unless CI=true or
// OCES_REQUIRE_SOFTHSM=1, in which case it fails.
func New(tb testing.TB) *Token {
	tb.Helper()
	e := setup(tb)
	n := seq.Add(1)
	label := fmt.Sprintf("%.20s-%d", sanitize(tb.Name()), n)
	t := &Token{env: e, label: label, pin: randomHex(tb, 8)}
	if err := e.initToken(label, randomHex(tb, 8), t.pin); err != nil {
		tb.Fatalf("softhsmtest: creating token %q: %v", label, err)
	}
	dir := tb.TempDir()
	t.pinFile = filepath.Join(dir, "pin")
	if err := os.WriteFile(t.pinFile, []byte(t.pin+"\n"), 0o600); err != nil {
		tb.Fatalf("softhsmtest: writing PIN file: %v", err)
	}
	return t
}

// Label is the token label.
func (t *Token) Label() string { return t.label }

// PIN is the user PIN.
func (t *Token) PIN() string { return t.pin }

// PINFile is the path of a 0600 file holding the user PIN and a newline.
func (t *Token) PINFile() string { return t.pinFile }

// ConfPath is the SOFTHSM2_CONF file of this process's token directory.
func (t *Token) ConfPath() string { return t.env.conf }

// Module is the path of the SoftHSM PKCS#11 module.
func (t *Token) Module() string { return t.env.module }

// Env returns the environment entries a subprocess needs to see the token:
// SOFTHSM2_CONF and OCES_PKCS11_MODULE.
func (t *Token) Env() []string {
	return []string{"SOFTHSM2_CONF=" + t.env.conf, "OCES_PKCS11_MODULE=" + t.env.module}
}

// KeyURI returns the RFC 7512 URI of the object labelled object in this
// token, with module-path and pin-source.
func (t *Token) KeyURI(object string) string {
	return fmt.Sprintf("pkcs11:module-path=%s;token=%s;object=%s?pin-source=%s",
		t.env.module, t.label, object, t.pinFile)
}

// TokenURI returns the RFC 7512 URI of the token without an object.
func (t *Token) TokenURI() string {
	return fmt.Sprintf("pkcs11:module-path=%s;token=%s?pin-source=%s", t.env.module, t.label, t.pinFile)
}

// setup runs the process-wide set-up once and skips or fails tb if SoftHSM
// is unusable.
func setup(tb testing.TB) *env {
	tb.Helper()
	setupOnce.Do(func() { shared, setupErr = newEnv() })
	if setupErr != nil {
		if os.Getenv("CI") == "true" || os.Getenv("OCES_REQUIRE_SOFTHSM") == "1" {
			tb.Fatalf("softhsmtest: %v; install softhsm2 (scripts/deps.sh)", setupErr)
		}
		tb.Skipf("softhsmtest: %v; install softhsm2 (scripts/deps.sh) to run this test", setupErr)
	}
	return shared
}

func findModule() (string, error) {
	candidates := modules
	if m := os.Getenv("OCES_PKCS11_MODULE"); m != "" {
		candidates = []string{m}
	}
	for _, m := range candidates {
		if _, err := os.Stat(m); err == nil {
			return m, nil
		}
	}
	return "", fmt.Errorf("SoftHSM2 module not found in %s", strings.Join(candidates, ", "))
}

func newEnv() (*env, error) {
	module, err := findModule()
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		return nil, errors.New("softhsm2-util not found in PATH")
	}
	reapStale()
	dir, err := os.MkdirTemp("", fmt.Sprintf("oces-softhsmtest-%d-", os.Getpid()))
	if err != nil {
		return nil, err
	}
	e := &env{dir: dir, conf: filepath.Join(dir, "softhsm2.conf"), module: module}
	tokens := filepath.Join(dir, "tokens")
	conf := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := os.Mkdir(tokens, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(e.conf, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	// Every PKCS#11 user in this process must read this configuration.
	if err := os.Setenv("SOFTHSM2_CONF", e.conf); err != nil {
		return nil, err
	}
	anchorPIN := "anchor-pin"
	cmd := exec.Command("softhsm2-util", "--init-token", "--free", "--label", anchorLabel,
		"--so-pin", "anchor-so-pin", "--pin", anchorPIN)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+e.conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("softhsm2-util --init-token: %v: %s", err, out)
	}
	e.anchor, err = crypto11.Configure(&crypto11.Config{Path: module, TokenLabel: anchorLabel, Pin: anchorPIN, MaxSessions: 2})
	if err != nil {
		return nil, fmt.Errorf("opening the anchor token (was SoftHSM initialised in this process before softhsmtest?): %w", err)
	}
	if e.ctx = pkcs11.New(module); e.ctx == nil {
		return nil, fmt.Errorf("loading %s", module)
	}
	if err := e.initialize(); err != nil {
		return nil, err
	}
	return e, nil
}

// initialize joins the module instance; it re-initialises it if a test
// finalised it.
func (e *env) initialize() error {
	if err := e.ctx.Initialize(); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		return fmt.Errorf("C_Initialize: %w", err)
	}
	return nil
}

// reapStale removes token directories left by test processes that are gone.
func reapStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "oces-softhsmtest-*"))
	for _, d := range dirs {
		parts := strings.Split(filepath.Base(d), "-")
		if len(parts) < 3 {
			continue
		}
		pid, err := strconv.Atoi(parts[2])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(d)
		}
	}
}

// initToken initialises SoftHSM's free slot as a new token and sets its
// user PIN.
func (e *env) initToken(label, soPIN, pin string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.initialize(); err != nil {
		return err
	}
	slot, err := e.freeSlot()
	if err != nil {
		return err
	}
	if err := e.ctx.InitToken(slot, soPIN, label); err != nil {
		return fmt.Errorf("C_InitToken: %w", err)
	}
	s, err := e.ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return err
	}
	defer func() { _ = e.ctx.CloseSession(s) }()
	if err := e.ctx.Login(s, pkcs11.CKU_SO, soPIN); err != nil {
		return fmt.Errorf("SO login: %w", err)
	}
	if err := e.ctx.InitPIN(s, pin); err != nil {
		return fmt.Errorf("C_InitPIN: %w", err)
	}
	return e.ctx.Logout(s)
}

func (e *env) freeSlot() (uint, error) {
	slots, err := e.ctx.GetSlotList(true)
	if err != nil {
		return 0, err
	}
	for _, s := range slots {
		info, err := e.ctx.GetTokenInfo(s)
		if err == nil && info.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			return s, nil
		}
	}
	return 0, errors.New("SoftHSM shows no free slot")
}

// Slot returns the current slot of the token.
func (t *Token) Slot(tb testing.TB) uint {
	tb.Helper()
	slots, err := t.env.ctx.GetSlotList(true)
	if err != nil {
		tb.Fatalf("softhsmtest: C_GetSlotList: %v", err)
	}
	for _, s := range slots {
		if info, err := t.env.ctx.GetTokenInfo(s); err == nil && info.Label == t.label {
			return s
		}
	}
	tb.Fatalf("softhsmtest: token %q not found", t.label)
	return 0
}

// CloseAllSessions closes every session of this process on the token, as a
// token reset or a misbehaving library would: it drops the login and
// invalidates all session handles, including those of code under test.
func (t *Token) CloseAllSessions(tb testing.TB) {
	tb.Helper()
	if err := t.env.ctx.CloseAllSessions(t.Slot(tb)); err != nil {
		tb.Fatalf("softhsmtest: C_CloseAllSessions: %v", err)
	}
}

// FinalizeModule calls C_Finalize on the SoftHSM module, invalidating every
// session of every token in the process. Use it only from tests that do not
// call t.Parallel; the next New re-initialises the module.
func FinalizeModule(tb testing.TB) {
	tb.Helper()
	e := setup(tb)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.ctx.Finalize(); err != nil {
		tb.Fatalf("softhsmtest: C_Finalize: %v", err)
	}
}

// WithSession runs f on a new session logged in as the user, through an
// independent PKCS#11 handle (for checking attributes from outside the
// code under test). It never logs out, which would log out the code under
// test too.
func (t *Token) WithSession(tb testing.TB, f func(ctx *pkcs11.Ctx, s pkcs11.SessionHandle)) {
	tb.Helper()
	ctx := t.env.ctx
	s, err := ctx.OpenSession(t.Slot(tb), pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		tb.Fatalf("softhsmtest: C_OpenSession: %v", err)
	}
	defer func() { _ = ctx.CloseSession(s) }()
	if err := ctx.Login(s, pkcs11.CKU_USER, t.pin); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)) {
		tb.Fatalf("softhsmtest: C_Login: %v", err)
	}
	f(ctx, s)
}

// BenchmarkSigner measures the raw signing rate of s with b.RunParallel
// (run with -cpu to set the parallelism) and reports signatures per second
// as the "sigs/s" metric. RSA keys sign PKCS#1 v1.5, ECDSA keys ASN.1
// ECDSA, both over a SHA-256 digest.
func BenchmarkSigner(b *testing.B, s crypto.Signer) {
	b.Helper()
	digest := sha256.Sum256([]byte("oces benchmark"))
	opts := crypto.SHA256
	if _, err := s.Sign(rand.Reader, digest[:], opts); err != nil {
		b.Fatalf("softhsmtest: warm-up signature: %v", err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Sign(rand.Reader, digest[:], opts); err != nil {
				b.Errorf("sign: %v", err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sigs/s")
}

var unsafeLabel = regexp.MustCompile(`[^a-z0-9]+`)

func sanitize(name string) string {
	return strings.Trim(unsafeLabel.ReplaceAllString(strings.ToLower(name), "-"), "-")
}

func randomHex(tb testing.TB, n int) string {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("softhsmtest: %v", err)
	}
	return hex.EncodeToString(b)
}
