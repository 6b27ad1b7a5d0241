package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oces-pki/oces/api"
)

// TestRAScope drives the binary as a registration authority for CVR
// 12345678: it may enrol and suspend employee, organisation and system
// certificates of its CVR, and nothing else.
func TestRAScope(t *testing.T) {
	t.Parallel()
	needOpenSSL(t)
	e := newEnv(t, "p-256")
	s := e.serve()
	o, ra := e.officer, e.ra
	// The RA passes its credential as flags here, overriding the officer's
	// in the environment.
	asRA := func(args ...string) (string, string, int) {
		t.Helper()
		return e.cli(o, append(args, "--cert", ra.cert, "--key", ra.key)...)
	}
	csr := e.newCSR("req")

	who, err := e.client(ra).WhoAmI(t.Context())
	if err != nil || who.Role != api.RoleRA || who.CVR != "12345678" {
		t.Fatalf("whoami as the RA: %+v, %v", who, err)
	}

	// What the RA may do.
	own := map[string]string{}
	for _, p := range []struct {
		profile string
		flags   []string
	}{
		{"moces", []string{"--name", "Karen Jensen"}},
		{"voces", nil},
		{"foces", []string{"--name", "Lønsystem"}},
		{"oces3-organisation", nil},
	} {
		args := append([]string{"cert", "issue", "--profile", p.profile, "--csr", csr, "--cvr", "12345678", "--org", "Firma A/S", "-o", "json"}, p.flags...)
		out, errOut, code := asRA(args...)
		if code != 0 {
			t.Fatalf("RA issues %s: exit %d: %s", p.profile, code, errOut)
		}
		own[p.profile] = jsonField(t, out, "serial")
	}
	for _, args := range [][]string{
		{"cert", "show", own["moces"]},
		{"cert", "suspend", own["moces"]},
		{"cert", "suspend", own["voces"]},
	} {
		if _, errOut, code := asRA(args...); code != 0 {
			t.Errorf("RA: oces %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
	}

	// Certificates of others, issued by the officer.
	var poces, other issued
	e.cliJSON(o, &poces, "cert", "issue", "--profile", "poces", "--csr", csr, "--cpr-file", e.write("cpr.txt", "010190-1234\n"), "--name", "Jens Hansen")
	e.cliJSON(o, &other, "cert", "issue", "--profile", "moces", "--csr", csr, "--cvr", "87654321", "--org", "Anden A/S", "--name", "Ole Olsen")

	// What the RA may not do: refused with a message and a non-zero exit.
	refused := []struct {
		name string
		args []string
		want string
	}{
		{"issue poces", []string{"cert", "issue", "--profile", "poces", "--csr", csr, "--cpr-file", e.path("cpr.txt"), "--name", "Jens Hansen"}, `may not issue "poces"`},
		{"issue for another CVR", []string{"cert", "issue", "--profile", "moces", "--csr", csr, "--cvr", "87654321", "--org", "Anden A/S", "--name", "Ole Olsen"}, "acts for CVR 12345678"},
		{"issue without a CVR", []string{"cert", "issue", "--profile", "voces", "--csr", csr, "--org", "Firma A/S"}, "acts for CVR 12345678"},
		{"release", []string{"cert", "release", own["moces"]}, "only a CA officer"},
		{"revoke", []string{"cert", "revoke", own["foces"], "--reason", "superseded"}, "only a CA officer"},
		{"list", []string{"cert", "list"}, "only a CA officer"},
		{"show another CVR's", []string{"cert", "show", other.Serial}, "outside the scope"},
		{"suspend another CVR's", []string{"cert", "suspend", other.Serial}, "outside the scope"},
		{"show a poces", []string{"cert", "show", poces.Serial}, "outside the scope"},
		{"suspend a poces", []string{"cert", "suspend", poces.Serial}, "outside the scope"},
		{"suspend its own credential", []string{"cert", "suspend", ra.serial}, "outside the scope"},
	}
	for _, c := range refused {
		out, errOut, code := asRA(c.args...)
		if code != exitDenied || !strings.Contains(errOut, c.want) || !strings.Contains(errOut, "forbidden") {
			t.Errorf("RA %s: exit %d, stdout %q, stderr %q; want exit %d mentioning %q", c.name, code, out, errOut, exitDenied, c.want)
		}
	}
	// The same refusals are 403 on the wire.
	rac := e.client(ra)
	ctx := t.Context()
	for name, call := range map[string]func() error{
		"issue poces": func() error {
			_, err := rac.Issue(ctx, api.IssueRequest{Profile: "poces", CSR: csrPEM(t), CPR: "010190-1234", Name: "Jens Hansen"})
			return err
		},
		"issue for another CVR": func() error {
			_, err := rac.Issue(ctx, api.IssueRequest{Profile: "voces", CSR: csrPEM(t), CVR: "87654321", Organization: "Anden A/S"})
			return err
		},
		"revoke": func() error {
			_, err := rac.Revoke(ctx, own["foces"], api.RevokeRequest{Reason: "superseded"})
			return err
		},
		"release": func() error { _, err := rac.Release(ctx, own["moces"]); return err },
		"list":    func() error { _, err := rac.List(ctx, nil); return err },
		"show another CVR's": func() error {
			_, err := rac.Show(ctx, other.Serial)
			return err
		},
		"match CPR": func() error {
			_, err := rac.MatchCPR(ctx, poces.SubjectID, "010190-1234")
			return err
		},
	} {
		if code := statusOf(t, call()); code != http.StatusForbidden {
			t.Errorf("RA %s: HTTP %d, want 403", name, code)
		}
	}

	// None of the refusals changed anything.
	for serial, want := range map[string]string{own["moces"]: "suspended", own["foces"]: "good", other.Serial: "good", poces.Serial: "good"} {
		var c issued
		e.cliJSON(o, &c, "cert", "show", serial)
		if string(c.Status) != want {
			t.Errorf("certificate %s (%s) is %s, want %s", serial, c.Profile, c.Status, want)
		}
	}
	var page api.CertificateList
	e.cliJSON(o, &page, "cert", "list", "--profile", "poces")
	if len(page.Certificates) != 1 {
		t.Errorf("%d poces certificates, want 1: the RA's refused enrolment issued one", len(page.Certificates))
	}
	s.stopWith(syscall.SIGTERM)
}

// TestAuthentication: the admin API serves only current officer and RA
// certificates of this CA.
func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "p-256")
	officer2 := e.credential("officer2", "Second Officer")
	s := e.serve()
	ctx := t.Context()
	oc := e.client(e.officer)

	// 1. No client certificate: refused in the handshake or with 401.
	resp, err := e.httpClient(credential{}).Get(e.adminURL + "/api/v1/whoami")
	t.Logf("no client certificate: %v", err)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("no client certificate: %s, want a TLS failure or 401", resp.Status)
		}
	}

	// 2. A client certificate of a CA this server does not trust. Go's
	// client would not even send it (its issuer is not among the server's
	// acceptable CAs), so it is pushed as openssl or curl would.
	untrusted := selfIssued(t)
	tc := &tls.Config{RootCAs: e.roots(), GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &untrusted, nil
	}}
	resp, err = (&http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 10 * time.Second}).Get(e.adminURL + "/api/v1/whoami")
	t.Logf("untrusted client certificate: %v", err)
	if err == nil {
		resp.Body.Close()
		t.Errorf("a client certificate from an untrusted CA: %s, want a TLS failure", resp.Status)
	} else if !strings.Contains(err.Error(), "bad certificate") && !strings.Contains(err.Error(), "unknown certificate authority") {
		t.Errorf("untrusted client certificate: %v, want the server's TLS alert", err)
	}

	// 3. A subscriber certificate of this CA is no credential.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	sub, err := oc.Issue(ctx, api.IssueRequest{Profile: "moces", CSR: pemString("CERTIFICATE REQUEST", der), CVR: "12345678", Organization: "Firma A/S", Name: "Karen Jensen"})
	if err != nil {
		t.Fatal(err)
	}
	subPair := tls.Certificate{Certificate: [][]byte{pemDER(t, sub.PEM)}, PrivateKey: key}
	_, err = api.NewClient(e.adminURL, subPair, e.roots(), 10*time.Second).WhoAmI(ctx)
	t.Logf("MOCES certificate as credential: %v", err)
	if err == nil {
		t.Error("a MOCES certificate was accepted as an officer credential")
	} else if code := statusOf(t, err); code != 0 && code != http.StatusUnauthorized {
		t.Errorf("MOCES as credential: HTTP %d", code)
	}

	// 4. A revoked officer is refused from then on.
	c2 := e.client(officer2)
	if who, err := c2.WhoAmI(ctx); err != nil || who.Role != api.RoleOfficer || who.Serial != officer2.serial {
		t.Fatalf("second officer before revocation: %+v, %v", who, err)
	}
	e.cliOK(e.officer, "cert", "revoke", officer2.serial, "--reason", "privilegeWithdrawn")
	_, err = c2.WhoAmI(ctx)
	if code := statusOf(t, err); code != http.StatusUnauthorized || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("revoked officer: %v (HTTP %d), want 401 saying revoked", err, code)
	}
	out, errOut, code := e.cli(officer2, "cert", "list")
	if code != exitDenied || !strings.Contains(errOut, "revoked") {
		t.Errorf("revoked officer's cert list: exit %d, %q %q", code, out, errOut)
	}

	// 5. A suspended RA is refused until released.
	rac := e.client(e.ra)
	e.cliOK(e.officer, "cert", "suspend", e.ra.serial)
	if _, err := rac.WhoAmI(ctx); statusOf(t, err) != http.StatusUnauthorized {
		t.Errorf("suspended RA: %v, want 401", err)
	}
	e.cliOK(e.officer, "cert", "release", e.ra.serial)
	if _, err := rac.WhoAmI(ctx); err != nil {
		t.Errorf("released RA: %v", err)
	}
	// The officer's own credential is untouched by all this.
	if _, err := oc.WhoAmI(ctx); err != nil {
		t.Errorf("officer: %v", err)
	}
	s.stop()
}

// statusOf is the HTTP status of an API error, or 0 if err is not one
// (a TLS or connection error).
func statusOf(tb testing.TB, err error) int {
	tb.Helper()
	var se *api.StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	if err == nil {
		return http.StatusOK
	}
	return 0
}

// selfIssued is a client certificate under a throwaway CA.
func selfIssued(tb testing.TB) tls.Certificate {
	tb.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Rogue CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Test Officer"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}
}

func pemString(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// jsonField picks one string field out of a JSON object.
func jsonField(tb testing.TB, s, field string) string {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		tb.Fatalf("%v: %q", err, s)
	}
	v, _ := m[field].(string)
	if v == "" {
		tb.Fatalf("no %q in %s", field, s)
	}
	return v
}
