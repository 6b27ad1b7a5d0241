package softhsmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/miekg/pkcs11"
)

var soSeq atomic.Int64

// SOToken is a token whose security officer PIN the test knows, with a
// raw PKCS#11 context on the module this process loaded.
type SOToken struct {
	URI   string // the token's URI, with a pin-source for the user PIN
	SOPIN string
	Ctx   *pkcs11.Ctx
	Slot  uint
}

// NewSO initialises a token of its own on a free slot with a security
// officer PIN the test knows (New keeps its SO PIN to itself), for keys
// only the SO may make, such as a CKA_TRUSTED wrapping key. It returns the
// token's URI (with a pin-source for the user PIN) and the SO PIN.
func NewSO(tb testing.TB, prefix string) (uri, soPIN string) {
	tb.Helper()
	t := NewSOToken(tb, prefix)
	return t.URI, t.SOPIN
}

// NewSOToken is NewSO with the raw context and slot, for tests that look
// at the token's objects themselves.
func NewSOToken(tb testing.TB, prefix string) *SOToken {
	tb.Helper()
	tok := New(tb) // the process-wide SoftHSM set-up
	c := pkcs11.New(tok.Module())
	if err := c.Initialize(); err != nil && err != pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		tb.Fatal(err)
	}
	slots, err := c.GetSlotList(false)
	if err != nil {
		tb.Fatal(err)
	}
	var slot uint
	found := false
	for _, s := range slots {
		if info, err := c.GetTokenInfo(s); err == nil && info.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			slot, found = s, true
			break
		}
	}
	if !found {
		tb.Fatal("softhsmtest: no free SoftHSM slot for a token with a known SO PIN")
	}
	label := fmt.Sprintf("%s-%d-%d", prefix, os.Getpid()%100000, soSeq.Add(1))
	soPIN, pin := "so-pin-1234", "user-pin-1234"
	if err := c.InitToken(slot, soPIN, label); err != nil {
		tb.Fatal(err)
	}
	s, err := c.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.CloseSession(s)
	if err := c.Login(s, pkcs11.CKU_SO, soPIN); err != nil {
		tb.Fatal(err)
	}
	if err := c.InitPIN(s, pin); err != nil {
		tb.Fatal(err)
	}
	if err := c.Logout(s); err != nil {
		tb.Fatal(err)
	}
	pinFile := filepath.Join(tb.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte(pin), 0o600); err != nil {
		tb.Fatal(err)
	}
	return &SOToken{URI: fmt.Sprintf("pkcs11:module-path=%s;token=%s?pin-source=%s", tok.Module(), label, pinFile),
		SOPIN: soPIN, Ctx: c, Slot: slot}
}
