package ocsp

import (
	"go/build"
	"slices"
	"testing"
)

// TestNoHSMImport: the responder gets its keys as crypto.Signers through
// KeyStore; PKCS#11 stays in hsm and the adapter in ocsp/ocsphsm.
func TestNoHSMImport(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, forbidden := range []string{"github.com/oces-pki/oces/hsm", "github.com/miekg/pkcs11"} {
		if slices.Contains(pkg.Imports, forbidden) {
			t.Errorf("package ocsp imports %s", forbidden)
		}
	}
}
