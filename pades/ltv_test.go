package pades

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// validationData makes a real CRL and OCSP response for the signer.
func validationData(tb testing.TB) (crl, resp []byte) {
	tb.Helper()
	p := newPKI(tb)
	now := time.Now()
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: now, NextUpdate: now.Add(24 * time.Hour),
	}, p.issuing, p.issuingKey)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err = ocsp.CreateResponse(p.issuing, p.issuing, ocsp.Response{
		Status: ocsp.Good, SerialNumber: p.cert.SerialNumber, ThisUpdate: now, NextUpdate: now.Add(time.Hour),
	}, p.issuingKey)
	if err != nil {
		tb.Fatal(err)
	}
	return crl, resp
}

// TestLTV takes shapes through B-B (pkcs7), B-LT (AddDSS, twice) and
// B-LTA (AddDocTimeStamp), checking after each step with pdfsig, qpdf and,
// for the document time-stamp, openssl ts -verify.
func TestLTV(t *testing.T) {
	t.Parallel()
	for _, sh := range shapesNamed(t, "pdf-1.4 no ID no EOL", "object streams (qpdf)", "linearized (qpdf)", "pdf-2.0", "hybrid") {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			p := newPKI(t)
			crl, resp := validationData(t)
			signed := signPKCS7(t, mustOpen(t, sh.make(t)), SignatureOptions{})
			d := mustOpen(t, signed)
			sigs, _ := d.Signatures()
			key, err := d.VRIKey(sigs[0])
			if err != nil {
				t.Fatal(err)
			}
			// B-LT, in two updates: the chain, then revocation data that
			// repeats a certificate (it must be stored once).
			var lt1 bytes.Buffer
			if err := d.AddDSS(&lt1, DSS{Certs: [][]byte{p.cert.Raw, p.issuing.Raw}}); err != nil {
				t.Fatal(err)
			}
			var lt bytes.Buffer
			tu := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
			add := DSS{
				Certs: [][]byte{p.issuing.Raw, p.root.Raw},
				VRI:   map[string]VRI{strings.ToLower(key): {Certs: [][]byte{p.cert.Raw}, OCSPs: [][]byte{resp}, CRLs: [][]byte{crl}, TU: tu}},
			}
			if err := mustOpen(t, lt1.Bytes()).AddDSS(&lt, add); err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(lt.Bytes(), lt1.Bytes()) || !bytes.HasPrefix(lt1.Bytes(), signed) {
				t.Fatal("an update changed earlier bytes")
			}
			dl := mustOpen(t, lt.Bytes())
			got, err := dl.DSS()
			if err != nil || got == nil {
				t.Fatalf("DSS: %v, %v", got, err)
			}
			wantDSS(t, got.Certs, p.cert.Raw, p.issuing.Raw, p.root.Raw)
			wantDSS(t, got.OCSPs, resp)
			wantDSS(t, got.CRLs, crl)
			v, ok := got.VRI[key]
			if !ok || !v.TU.Equal(tu) {
				t.Fatalf("VRI %s: %+v (keys %v)", key, v, got.VRI)
			}
			wantDSS(t, v.Certs, p.cert.Raw)
			wantDSS(t, v.OCSPs, resp)
			wantDSS(t, v.CRLs, crl)
			checkPdfsig(t, lt.Bytes(), 1)
			qpdfCheck(t, lt.Bytes())

			// B-LTA.
			token, calls := newTSA(t)
			var lta bytes.Buffer
			if err := dl.AddDocTimeStamp(context.Background(), &lta, TimeStampOptions{ContentsSize: 64}, token); err != nil {
				t.Fatal(err)
			}
			if *calls != 2 {
				t.Errorf("%d TSA calls with a 64-byte guess, want 2", *calls)
			}
			da := mustOpen(t, lta.Bytes())
			all, err := da.Signatures()
			if err != nil || len(all) != 2 {
				t.Fatalf("Signatures: %v, %d", err, len(all))
			}
			ts := all[1]
			if ts.Type != "DocTimeStamp" || ts.SubFilter != "ETSI.RFC3161" || !ts.CoversWholeFile || ts.FieldName != "Signature2" {
				t.Errorf("time-stamp: %+v", ts)
			}
			if all[0].CoversWholeFile || all[0].Revision != len(da.Revisions())-4 {
				t.Errorf("signature: whole %v, revision %d of %d", all[0].CoversWholeFile, all[0].Revision, len(da.Revisions()))
			}
			checkPdfsig(t, lta.Bytes(), 2)
			checkPDFBox(t, lta.Bytes(), 2)
			qpdfCheck(t, lta.Bytes())
			pdfcpuValidate(t, lta.Bytes())
			opensslTSVerify(t, lta.Bytes(), ts)
			if versionLess(mustOpen(t, signed).Version(), "2.0") && esicLevel(da.reader(), da.dict(da.catalog["Extensions"])["ESIC"]) != esicCAdES {
				t.Errorf("ESIC level lowered or lost: %v", da.catalog["Extensions"])
			}
		})
	}
}

func wantDSS(t *testing.T, got [][]byte, want ...[]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d entries, want %d", len(got), len(want))
		return
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("entry %d differs", i)
		}
	}
}

// opensslTSVerify has openssl check the time-stamp token of ts over the
// bytes its ByteRange covers.
func opensslTSVerify(t *testing.T, data []byte, ts Signature) {
	t.Helper()
	openssl := needTool(t, "openssl")
	p := newPKI(t)
	dir := t.TempDir()
	signed, err := io.ReadAll(ts.SignedBytes(data))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"data.bin": signed, "token.der": ts.Contents}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writePEMFile(t, filepath.Join(dir, "root.pem"), p.root)
	writePEMFile(t, filepath.Join(dir, "chain.pem"), p.issuing, p.tsaCert)
	cmd := exec.Command(openssl, "ts", "-verify", "-data", "data.bin", "-in", "token.der", "-token_in",
		"-CAfile", "root.pem", "-untrusted", "chain.pem")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verification: OK") {
		t.Errorf("openssl ts -verify: %v\n%s", err, out)
	}
}

// TestDSSRefusals: bad input to AddDSS writes nothing.
func TestDSSRefusals(t *testing.T) {
	t.Parallel()
	d := mustOpen(t, genPDF(t, pdfSpec{}))
	for name, dss := range map[string]DSS{
		"empty certificate": {Certs: [][]byte{{}}},
		"bad VRI key":       {VRI: map[string]VRI{"not-hex": {}}},
		"short VRI key":     {VRI: map[string]VRI{"ABCD": {}}},
	} {
		var out bytes.Buffer
		if err := d.AddDSS(&out, dss); err == nil || out.Len() != 0 {
			t.Errorf("%s: AddDSS %v, %d bytes", name, err, out.Len())
		}
	}
}

// TestDocMDP: a certification signature, then what each P permits (ISO
// 32000-1 12.8.2.2; ISO 32000-2 Table 257 for DSS and time-stamps).
func TestDocMDP(t *testing.T) {
	t.Parallel()
	for _, p := range []int{1, 2, 3} {
		t.Run(string(rune('0'+p)), func(t *testing.T) {
			t.Parallel()
			certified := signPKCS7(t, mustOpen(t, genPDF(t, pdfSpec{Form: true})), SignatureOptions{DocMDP: p})
			d := mustOpen(t, certified)
			if d.Certification() != p {
				t.Fatalf("Certification %d, want %d", d.Certification(), p)
			}
			if s, _ := d.Signatures(); len(s) != 1 || s[0].DocMDP != p {
				t.Fatalf("Signatures: %+v", s)
			}
			checkPdfsig(t, certified, 1)
			var out bytes.Buffer
			err := d.Sign(context.Background(), &out, SignatureOptions{}, func(context.Context, []byte) ([]byte, error) {
				return []byte{0x30, 0}, nil
			})
			if p == 1 && (!errors.Is(err, ErrDocMDP) || out.Len() != 0) {
				t.Errorf("approval signature under P=1: %v, %d bytes", err, out.Len())
			}
			if p > 1 {
				if err != nil {
					t.Errorf("approval signature under P=%d: %v", p, err)
				}
				checkPdfsig(t, signPKCS7(t, d, SignatureOptions{}), 2)
			}
			// DSS and document time-stamps are permitted under any P.
			out.Reset()
			if err := d.AddDSS(&out, DSS{Certs: [][]byte{newPKI(t).cert.Raw}}); err != nil {
				t.Fatalf("AddDSS under P=%d: %v", p, err)
			}
			token, _ := newTSA(t)
			var lta bytes.Buffer
			if err := mustOpen(t, out.Bytes()).AddDocTimeStamp(context.Background(), &lta, TimeStampOptions{}, token); err != nil {
				t.Fatalf("AddDocTimeStamp under P=%d: %v", p, err)
			}
			checkPdfsig(t, lta.Bytes(), 2)
			qpdfCheck(t, lta.Bytes())
		})
	}
	t.Run("not first", func(t *testing.T) {
		t.Parallel()
		d := mustOpen(t, signPKCS7(t, mustOpen(t, genPDF(t, pdfSpec{})), SignatureOptions{}))
		err := d.Sign(context.Background(), io.Discard, SignatureOptions{DocMDP: 2}, func(context.Context, []byte) ([]byte, error) {
			return []byte{0x30, 0}, nil
		})
		if !errors.Is(err, ErrDocMDP) {
			t.Errorf("certification after a signature: %v", err)
		}
	})
}

// TestDocTimeStampHashes: SHA-384 and SHA-512 ByteRange digests.
func TestDocTimeStampHashes(t *testing.T) {
	t.Parallel()
	d := mustOpen(t, genPDF(t, pdfSpec{}))
	for _, h := range []crypto.Hash{crypto.SHA384, crypto.SHA512} {
		var got []byte
		var out bytes.Buffer
		err := d.AddDocTimeStamp(context.Background(), &out, TimeStampOptions{Hash: h}, func(_ context.Context, digest []byte) ([]byte, error) {
			got = digest
			return []byte{0x30, 0}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		s := mustSignatures(t, out.Bytes())[0]
		hh := h.New()
		io.Copy(hh, s.SignedBytes(out.Bytes()))
		if !bytes.Equal(hh.Sum(nil), got) {
			t.Errorf("%v: the digest is not over the ByteRange", h)
		}
	}
}
