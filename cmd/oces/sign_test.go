package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oces-pki/oces/internal/pdfcheck"
)

// signingEnv is a PKI whose public listener is at the URL its certificates
// name (so that OCSP, CRLs and the TSA are reachable as relying parties
// reach them), with a seal for Firma A/S in the token and a service
// provider's client certificate of the same CVR.
type signingEnv struct {
	*env
	sealURI, sealChain string
	client             credential
}

func newSigningEnv(t *testing.T) (*signingEnv, *served) {
	t.Helper()
	needOpenSSL(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr
	e := newEnvAt(t, "p-256", base, addr, func(e *env) string {
		return fmt.Sprintf("tsa: {key: %q, certificate: tsa/tsa.pem}\ncrl: {arls: {root: crl/root.crl}}\n", e.tok.KeyURI("tsa"))
	})
	e.ok("ceremony", "tsa")
	if err := os.MkdirAll(e.path("crl"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.ok("crl", "generate", "--ca", "root", "--config", "ceremony/root.yaml", "--out", e.path("crl/root.crl"), "--public-base-url", base)
	se := &signingEnv{env: e, sealURI: e.tok.KeyURI("seal-firma")}

	// The seal's key is made in the token and certified through the API;
	// the server then restarts with the seal configured.
	s := e.serve()
	e.cliOK(e.officer, "cert", "issue", "--profile", "oces3-organisation", "--new-key", se.sealURI, "--key-algorithm", "rsa-3072",
		"--cvr", "12345678", "--org", "Firma A/S", "--out", e.path("seal.pem"))
	e.cliOK(e.officer, "cert", "issue", "--profile", "foces", "--csr", e.newCSR("webshop"), "--cvr", "12345678",
		"--org", "Firma A/S", "--name", "Webshop", "--out", e.path("webshop.pem"))
	se.client = credential{cert: e.path("webshop.pem"), key: e.path("webshop.key")}
	var chain []byte
	for _, f := range []string{"seal.pem", "ca/issuing-1.pem", "ca/root.pem"} {
		b, err := os.ReadFile(e.path(f))
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, b...)
	}
	se.sealChain = e.write("seal-chain.pem", string(chain))
	s.stop()
	cfg, _ := os.ReadFile(e.path("oces.yaml"))
	e.write("oces.yaml", string(cfg)+fmt.Sprintf(`signer:
  max_document_bytes: 2097152
  seals:
    - {name: firma, key: %q, certificate: seal-chain.pem, clients: ["cvr:12345678"]}
`, se.sealURI))
	return se, e.serve()
}

// corpusPath is the absolute path of a corpus file (the CLI runs in the
// environment's directory).
func corpusPath(name string) string {
	p, err := filepath.Abs(filepath.Join("..", "..", "pades", "testdata", "corpus", name))
	if err != nil {
		panic(err)
	}
	return p
}

// TestSignCommand drives `oces sign` and `oces sign extend` while the server
// runs (the audit records go through the admin API), checks the results
// with pdfsig and openssl, then `oces audit verify` after the server stops.
func TestSignCommand(t *testing.T) {
	t.Parallel()
	e, s := newSigningEnv(t)
	signed := e.path("signed.pdf")
	e.cliOK(e.officer, "sign", "--in", corpusPath("v15-objstm.pdf"), "--out", signed, "--level", "B-LTA",
		"--key", e.sealURI, "--cert", e.sealChain, "--reason", "Kontrakt", "--visible", "1,50,50,300,120")
	checkSigned(t, signed, 2, e.sealChain)

	e.cliOK(e.officer, "sign", "extend", "--level", "B-LTA", signed)
	checkSigned(t, signed, 3, e.sealChain)

	data := e.write("data.txt", strings.Repeat("Faktura 2026-117\n", 100))
	p7s := e.path("data.p7s")
	e.cliOK(e.officer, "sign", "--format", "cades", "--in", data, "--out", p7s, "--level", "B-LTA",
		"--key", e.sealURI, "--cert", e.sealChain)
	content, _ := os.ReadFile(data)
	sig, _ := os.ReadFile(p7s)
	pdfcheck.OpenSSLCMSVerify(t, content, sig, e.sealChain)

	t.Run("bad input leaves no file", func(t *testing.T) {
		out := e.path("never.pdf")
		for _, in := range []string{"truncated.pdf", "encrypted.pdf", "not-a-pdf.pdf"} {
			_, stderr, code := e.cli(e.officer, "sign", "--format", "pades", "--in", corpusPath(in), "--out", out,
				"--key", e.sealURI, "--cert", e.sealChain)
			if code != exitInvalid || !strings.Contains(stderr, "invalid document") {
				t.Errorf("%s: exit %d, %q; want %d and a clear message", in, code, stderr, exitInvalid)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Fatalf("%s: an output file was written", in)
			}
		}
	})

	s.stop()
	out := e.ok("audit", "verify")
	if !strings.Contains(out, "ok") && !strings.Contains(out, "verified") {
		t.Logf("audit verify: %s", out)
	}
}

// TestSignAPI posts documents to POST /api/v1/sign as a service provider.
func TestSignAPI(t *testing.T) {
	t.Parallel()
	e, s := newSigningEnv(t)
	pdf, err := os.ReadFile(corpusPath("v16-images.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	provider := e.httpClient(e.client)
	post := func(c *http.Client, query, contentType string, body []byte) (int, []byte) {
		t.Helper()
		resp, err := c.Post("https://"+s.admin+"/api/v1/sign?"+query, contentType, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}

	code, body := post(provider, "seal=firma&level=B-LTA", "application/pdf", pdf)
	if code != http.StatusOK {
		t.Fatalf("POST /api/v1/sign: %d %s", code, body)
	}
	path := e.path("api.pdf")
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	checkSigned(t, path, 2, e.sealChain)

	code, body = post(provider, "seal=firma&format=cades&level=B-T", "application/octet-stream", []byte("hello"))
	if code != http.StatusOK {
		t.Fatalf("CAdES over the API: %d %s", code, body)
	}
	pdfcheck.OpenSSLCMSVerify(t, []byte("hello"), body, e.sealChain)

	for _, tc := range []struct {
		name, query, contentType string
		client                   *http.Client
		body                     []byte
		want                     int
	}{
		{"not a PDF", "seal=firma", "application/pdf", provider, []byte("hello"), http.StatusBadRequest},
		{"empty", "seal=firma", "application/pdf", provider, nil, http.StatusBadRequest},
		{"unknown seal", "seal=other", "application/pdf", provider, pdf, http.StatusForbidden},
		{"bad level", "seal=firma&level=B-X", "application/pdf", provider, pdf, http.StatusBadRequest},
		{"over the size limit", "seal=firma", "application/pdf", provider, append(pdf, make([]byte, 2<<20)...), http.StatusRequestEntityTooLarge},
		{"an officer is no service provider", "seal=firma", "application/pdf", e.httpClient(e.officer), pdf, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(tc.client, tc.query, tc.contentType, tc.body)
			if code != tc.want {
				t.Fatalf("got %d %s, want %d", code, body, tc.want)
			}
		})
	}
}

// checkSigned has every independent verifier check the signed file.
func checkSigned(t *testing.T, path string, want int, caFile string) {
	t.Helper()
	pdfcheck.SignedPDF(t, path, want, caFile)
}
