package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// verifyReport is the part of the JSON report the tests read.
type verifyReport struct {
	Indication string `json:"mainIndication"`
	Sub        string `json:"subIndication"`
	Signatures []struct {
		Type       string `json:"type"`
		Indication string `json:"mainIndication"`
		Sub        string `json:"subIndication"`
		Level      string `json:"signatureLevel"`
		Signer     *struct {
			SerialNumber string `json:"serialNumber"`
			Profile      string `json:"profile"`
		} `json:"signerInformation"`
	} `json:"signatureValidationReports"`
}

// TestVerifyEndToEnd signs with `oces sign` through a running server,
// then validates with `oces verify` (the configuration's roots as anchors,
// live OCSP) and with POST /api/v1/validate on the public listener.
func TestVerifyEndToEnd(t *testing.T) {
	t.Parallel()
	e, s := newSigningEnv(t)
	signed := e.path("signed.pdf")
	e.cliOK(e.officer, "sign", "--in", corpusPath("v13-classic.pdf"), "--out", signed, "--level", "B-LTA",
		"--key", e.sealURI, "--cert", e.sealChain)
	data := e.write("data.txt", strings.Repeat("Faktura 2026-118\n", 50))
	p7s := e.path("data.p7s")
	e.cliOK(e.officer, "sign", "--format", "cades", "--in", data, "--out", p7s, "--level", "B-T",
		"--key", e.sealURI, "--cert", e.sealChain)

	t.Run("oces verify", func(t *testing.T) {
		var r verifyReport
		out := e.ok("verify", "--output", "json", signed)
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if r.Indication != "TOTAL-PASSED" || len(r.Signatures) != 2 || r.Signatures[0].Level != "B-LTA" ||
			r.Signatures[0].Signer == nil || r.Signatures[0].Signer.Profile != "oces3-organisation" {
			t.Fatalf("report: %s", out)
		}
		if text := e.ok("verify", signed); !strings.Contains(text, "TOTAL-PASSED") || !strings.Contains(text, "B-LTA") {
			t.Errorf("text report: %s", text)
		}
		e.ok("verify", "--detached", data, p7s)

		tampered := e.write("tampered.txt", strings.Repeat("Faktura 2026-119\n", 50))
		stdout, stderr, code := e.run("verify", "--detached", tampered, p7s)
		if code != exitInvalid || !strings.Contains(stdout, "HASH_FAILURE") || !strings.Contains(stderr, "TOTAL-PASSED") {
			t.Errorf("a tampered file: exit %d, %s %s", code, stdout, stderr)
		}
		if _, _, code := e.run("verify", signed, p7s); code != exitUsage {
			t.Errorf("two files without --detached: exit %d, want %d", code, exitUsage)
		}
	})

	t.Run("POST /api/v1/validate", func(t *testing.T) {
		post := func(contentType string, body []byte) (int, verifyReport, string) {
			t.Helper()
			resp, err := http.Post("http://"+s.public+"/api/v1/validate", contentType, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var r verifyReport
			if resp.StatusCode == http.StatusOK {
				if err := json.Unmarshal(b, &r); err != nil {
					t.Fatalf("%v: %s", err, b)
				}
			}
			return resp.StatusCode, r, string(b)
		}
		pdf, _ := os.ReadFile(signed)
		if code, r, body := post("application/pdf", pdf); code != http.StatusOK || r.Indication != "TOTAL-PASSED" {
			t.Fatalf("the signed PDF: %d %s", code, body)
		}
		sig, _ := os.ReadFile(p7s)
		content, _ := os.ReadFile(data)
		req, _ := json.Marshal(map[string]string{"signature": base64.StdEncoding.EncodeToString(sig), "content": base64.StdEncoding.EncodeToString(content)})
		if code, r, body := post("application/json", req); code != http.StatusOK || r.Indication != "TOTAL-PASSED" {
			t.Fatalf("a detached CAdES: %d %s", code, body)
		}
		if code, r, body := post("application/pdf", []byte("%PDF-1.7 garbage")); code != http.StatusOK || r.Sub != "FORMAT_FAILURE" {
			t.Errorf("garbage: %d %s", code, body)
		}
		for _, c := range []struct {
			name, contentType string
			body              []byte
			want              int
		}{
			{"empty", "application/pdf", nil, http.StatusBadRequest},
			{"bad JSON", "application/json", []byte(`{"signature": 1}`), http.StatusBadRequest},
			{"unknown JSON field", "application/json", []byte(`{"signature": "", "x": ""}`), http.StatusBadRequest},
		} {
			if code, _, body := post(c.contentType, c.body); code != c.want {
				t.Errorf("%s: %d %s, want %d", c.name, code, body, c.want)
			}
		}
		// The default rate is 2 a second with bursts of 10: a tight loop
		// of 30 meets 429 with Retry-After.
		limited := false
		for i := 0; i < 30 && !limited; i++ {
			resp, err := http.Post("http://"+s.public+"/api/v1/validate", "application/pdf", strings.NewReader("x"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			limited = resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != ""
		}
		if !limited {
			t.Error("no 429 after 30 validations in a row")
		}
	})
}
