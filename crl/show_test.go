package crl_test

import (
	"bytes"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/crl"
	"github.com/oces-pki/oces/internal/reference"
)

func TestShow(t *testing.T) {
	t.Parallel()
	h := newHierarchy(t, "rsa-2048", "p-256")
	now := time.Now().Truncate(time.Second)
	der, err := crl.Create(nil, &crl.Template{Number: big.NewInt(42), ThisUpdate: now, NextUpdate: now.Add(time.Hour),
		DeltaBase: big.NewInt(40), Entries: []crl.Entry{{Serial: big.NewInt(0xabc), RevocationTime: now, Reason: ca.ReasonCertificateHold}}},
		h.issuing, h.issuingKey)
	if err != nil {
		t.Fatal(err)
	}
	pemCRL := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	ref := reference.Read(t, "oces/oces2/partitioned-crl-tdc.crl") // nil without the set, outside CI
	tests := []struct {
		name    string
		in      []byte
		kind    string
		wantErr bool
	}{
		{"DER delta", der, "delta", false},
		{"PEM delta", pemCRL, "delta", false},
		{"wrong PEM type", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), "", true},
		{"garbage", []byte("not a CRL"), "", true},
		{"truncated", der[:len(der)/2], "", true},
		{"empty", nil, "", true},
	}
	if ref != nil {
		tests = append(tests, struct {
			name    string
			in      []byte
			kind    string
			wantErr bool
		}{"OCES TDC partition", ref, "partition", false})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			info, err := crl.Show(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %t", err, tc.wantErr)
			}
			if err != nil {
				if !strings.HasPrefix(err.Error(), "crl: ") {
					t.Errorf("error %q lacks the package prefix", err)
				}
				return
			}
			if info.Kind != tc.kind {
				t.Errorf("kind %s, want %s", info.Kind, tc.kind)
			}
			var buf bytes.Buffer
			if err := info.WriteText(&buf, 1); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(buf.String(), "Kind:") || !strings.Contains(buf.String(), "Entries:") {
				t.Errorf("text output:\n%s", buf.String())
			}
		})
	}
	info, _ := crl.Show(der)
	if info.BaseNumber.Int64() != 40 || info.Number.Int64() != 42 || info.Entries[0].Reason != "certificateHold" || info.Entries[0].Serial != "abc" {
		t.Errorf("delta info %+v", info)
	}
}

// FuzzParse feeds arbitrary bytes to the parser behind `oces crl show`: it
// must return an error or a description, never panic.
func FuzzParse(f *testing.F) {
	h := newHierarchy(f, "rsa-2048", "p-256")
	now := time.Now().Truncate(time.Second)
	dir, _ := crl.PartitionDirName(nil, 3)
	der, err := crl.Create(nil, &crl.Template{Number: big.NewInt(1), ThisUpdate: now, NextUpdate: now.Add(time.Hour),
		IssuingDistributionPoint: &crl.DistributionPoint{DirNames: [][]byte{dir}, URIs: []string{"http://x/3.crl"}, OnlyContainsUserCerts: true},
		FreshestCRL:              []string{"http://x/delta.crl"},
		Entries:                  []crl.Entry{{Serial: big.NewInt(7), RevocationTime: now, Reason: ca.ReasonKeyCompromise, InvalidityDate: now}}},
		h.issuing, h.issuingKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(der)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
	f.Add([]byte{0x30, 0x80})
	f.Add([]byte("-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n"))
	if dir := reference.Dir(); dir != "" {
		if ref, err := os.ReadFile(filepath.Join(dir, "oces", "oces2", "partitioned-crl-tdc.crl")); err == nil {
			f.Add(ref)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := crl.Show(data)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := info.WriteText(&buf, -1); err != nil {
			t.Fatal(err)
		}
	})
}
