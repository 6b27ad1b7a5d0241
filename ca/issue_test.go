package ca_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/internal/catest"
	"github.com/oces-pki/oces/internal/reference"
)

// Attribute types by short name, for comparing subject layouts.
var attrNames = map[string]string{
	"2.5.4.6": "C", "2.5.4.10": "O", "2.5.4.3": "CN", "2.5.4.5": "serialNumber",
	"2.5.4.42": "GN", "2.5.4.4": "SN", "2.5.4.97": "organizationIdentifier", "2.5.4.11": "OU",
}

// layout renders a subject's RDN structure with types only, in DER order:
// "C/O/CN+serialNumber".
func layout(tb testing.TB, rawSubject []byte) string {
	tb.Helper()
	var rdns pkix.RDNSequence
	if _, err := asn1.Unmarshal(rawSubject, &rdns); err != nil {
		tb.Fatal(err)
	}
	var parts []string
	for _, rdn := range rdns {
		var types []string
		for _, atv := range rdn {
			types = append(types, attrNames[atv.Type.String()])
		}
		sort.Strings(types) // a SET: DER orders it by encoding, which varies with the values
		parts = append(parts, strings.Join(types, "+"))
	}
	return strings.Join(parts, "/")
}

// profileCases issue one certificate of every profile. ref is the real
// certificate of the same kind in ../shared/reference/oces.
var profileCases = []struct {
	req      ca.IssueRequest
	layout   string
	idRE     string
	ref      string
	nonRepud bool
}{
	{ca.IssueRequest{Profile: "poces", Name: "Theresia Kjær", CPR: "010190-1234"},
		"C/O/CN+serialNumber", `^PID:9208-2002-2-\d{12}$`, "oces2/poces-theresia.pem", true},
	{ca.IssueRequest{Profile: "moces", Name: "Jens Hansen", Organization: "Firma A/S", CVR: "12345678"},
		"C/O/CN+serialNumber", `^CVR:12345678-RID:\d{8}$`, "oces2/moces_valid.pem", true},
	{ca.IssueRequest{Profile: "voces", Organization: "Firma A/S", CVR: "12345678", Email: "it@firma.dk"},
		"C/O/CN+serialNumber", `^CVR:12345678-UID:\d{8}$`, "oces2/voces_valid.pem", false},
	{ca.IssueRequest{Profile: "foces", Name: "Lønsystem", Organization: "Firma A/S", CVR: "12345678"},
		"C/O/CN+serialNumber", `^CVR:12345678-FID:\d{8}$`, "oces2/foces_valid.pem", false},
	{ca.IssueRequest{Profile: "oces3-employee", Name: "Luca Pacioli", GivenName: "Luca", Surname: "Pacioli", Organization: "Firma A/S", CVR: "12345678"},
		"CN/GN/SN/serialNumber/O/organizationIdentifier/C", `^UI:DK-E:G:[0-9a-f-]{36}$`, "oces3/employee-luca-pacioli.pem", true},
	{ca.IssueRequest{Profile: "oces3-organisation", Organization: "Firma A/S", CVR: "12345678"},
		"CN/serialNumber/O/organizationIdentifier/C", `^UI:DK-O:G:[0-9a-f-]{36}$`, "oces3/organisation-o1.pem", true},
	{ca.IssueRequest{Profile: "oces3-system", Name: "Firma A/S Integration", Organization: "Firma A/S", CVR: "12345678"},
		"CN/serialNumber/O/organizationIdentifier/C", `^UI:DK-O:G:[0-9a-f-]{36}$`, "oces3/system-s1.pem", false},
}

func TestIssueEveryProfile(t *testing.T) {
	t.Parallel()
	for _, issuerKey := range []string{"rsa-3072", "p-256"} {
		h := newHierarchy(t, "p-384", issuerKey)
		c := newTestCA(t, h, 0)
		for _, subjectKey := range []string{"rsa-2048", "p-256"} {
			for _, tc := range profileCases {
				t.Run(issuerKey+"/"+subjectKey+"/"+tc.req.Profile, func(t *testing.T) {
					req := tc.req
					req.CSR = csr(t, testKey(t, subjectKey))
					cert, err := c.Issue(context.Background(), req)
					if err != nil {
						t.Fatalf("Issue: %v", err)
					}
					x := checkIssued(t, c, cert)
					if got := layout(t, x.RawSubject); got != tc.layout {
						t.Errorf("subject layout %s, want %s", got, tc.layout)
					}
					if !regexp.MustCompile(tc.idRE).MatchString(x.Subject.SerialNumber) || x.Subject.SerialNumber != cert.SubjectID {
						t.Errorf("subject serialNumber %q (registry %q), want %s", x.Subject.SerialNumber, cert.SubjectID, tc.idRE)
					}
					if got := x.KeyUsage&x509.KeyUsageContentCommitment != 0; got != tc.nonRepud {
						t.Errorf("nonRepudiation %v, want %v", got, tc.nonRepud)
					}
					compareWithReference(t, x, tc.ref)
				})
			}
		}
	}
}

// checkIssued verifies what every issued certificate must satisfy.
func checkIssued(tb testing.TB, c *testCA, cert *ca.Certificate) *x509.Certificate {
	tb.Helper()
	x, err := x509.ParseCertificate(cert.DER)
	if err != nil {
		tb.Fatal(err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(c.h.root)
	inter.AddCert(c.h.issuing)
	if _, err := x.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		tb.Errorf("chain does not verify: %v", err)
	}
	if n := x.SerialNumber; n.Sign() <= 0 || n.BitLen() > 128 || n.BitLen() < 64 {
		tb.Errorf("serial %x is not a positive random 128-bit number", n)
	}
	stored, err := c.Certificate(context.Background(), cert.Serial)
	if err != nil || !bytes.Equal(stored.DER, cert.DER) || stored.Status != ca.StatusGood {
		tb.Errorf("stored certificate: %v, status %v", err, stored)
	}
	lintClean(tb, cert.DER)
	if len(x.OCSPServer) != 1 || len(x.IssuingCertificateURL) != 1 {
		tb.Errorf("OCSP %v caIssuers %v", x.OCSPServer, x.IssuingCertificateURL)
	}
	want := []string{
		"URI:http://pki.example.dk/crl/issuing-1.crl",
		"DirName:CN=" + ca.PartitionName(cert.Partition) + "," + c.h.issuing.Subject.String() +
			" URI:http://pki.example.dk/crl/issuing-1/" + strings.TrimPrefix(ca.PartitionName(cert.Partition), "CRL") + ".crl",
	}
	if got := distributionPoints(tb, x); strings.Join(got, "|") != strings.Join(want, "|") {
		tb.Errorf("CRL distribution points\n got %q\nwant %q", got, want)
	}
	return x
}

// distributionPoints renders each distribution point's full names.
func distributionPoints(tb testing.TB, x *x509.Certificate) []string {
	tb.Helper()
	var out []string
	for _, e := range x.Extensions {
		if !e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 31}) {
			continue
		}
		var dps []struct {
			Name struct {
				FullName []asn1.RawValue `asn1:"optional,tag:0"`
			} `asn1:"optional,tag:0"`
		}
		if _, err := asn1.Unmarshal(e.Value, &dps); err != nil {
			tb.Fatalf("parsing CRL distribution points: %v", err)
		}
		for _, dp := range dps {
			var names []string
			for _, n := range dp.Name.FullName {
				switch n.Tag {
				case 6:
					names = append(names, "URI:"+string(n.Bytes))
				case 4:
					var rdns pkix.RDNSequence
					if _, err := asn1.Unmarshal(n.Bytes, &rdns); err != nil {
						tb.Fatal(err)
					}
					names = append(names, "DirName:"+dirString(rdns))
				}
			}
			out = append(out, strings.Join(names, " "))
		}
	}
	return out
}

// dirString prints a name like pkix.Name.String but keeps repeated CNs.
func dirString(rdns pkix.RDNSequence) string {
	var parts []string
	for i := len(rdns) - 1; i >= 0; i-- {
		for _, atv := range rdns[i] {
			parts = append(parts, attrNames[atv.Type.String()]+"="+fmtValue(atv.Value))
		}
	}
	return strings.Join(parts, ",")
}

func fmtValue(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

// lintClean lints the signed certificate independently of issuance.
func lintClean(tb testing.TB, der []byte) {
	tb.Helper()
	zc, err := zx509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	reg, err := lint.GlobalRegistry().Filter(lint.FilterOptions{IncludeSources: ca.LintSources})
	if err != nil {
		tb.Fatal(err)
	}
	for name, r := range zlint.LintCertificateEx(zc, reg).Results {
		if r.Status == lint.Error || r.Status == lint.Warn || r.Status == lint.Fatal {
			tb.Errorf("zlint %s: %s %s", name, r.Status, r.Details)
		}
	}
}

// compareWithReference checks the issued certificate against the real OCES
// certificate of its kind (internal/reference: beside the repository, and
// required in CI):
// same subject layout, same extensions present and the same criticality.
func compareWithReference(tb testing.TB, got *x509.Certificate, ref string) {
	tb.Helper()
	data := reference.Read(tb, "oces/"+ref) // fails in CI when the set is missing
	if data == nil {
		return
	}
	block, _ := pem.Decode(data)
	if block == nil {
		tb.Fatalf("reference %s holds no PEM block", ref)
	}
	want, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	if g, w := layout(tb, got.RawSubject), layout(tb, want.RawSubject); g != w {
		tb.Errorf("subject layout %s, reference %s", g, w)
	}
	exts := func(c *x509.Certificate) map[string]bool {
		m := map[string]bool{}
		for _, e := range c.Extensions {
			m[e.Id.String()] = e.Critical
		}
		return m
	}
	g, w := exts(got), exts(want)
	for id, crit := range w {
		if id == "2.5.29.17" { // subjectAltName: an e-mail address when there is one
			continue
		}
		if gc, ok := g[id]; !ok {
			tb.Errorf("extension %s of the reference is missing", id)
		} else if gc != crit && id != "2.5.29.19" {
			tb.Errorf("extension %s critical=%v, reference %v", id, gc, crit)
		}
	}
	if ku := got.KeyUsage &^ (x509.KeyUsageKeyAgreement | x509.KeyUsageDataEncipherment | x509.KeyUsageKeyEncipherment); ku !=
		want.KeyUsage&^(x509.KeyUsageKeyAgreement|x509.KeyUsageDataEncipherment|x509.KeyUsageKeyEncipherment) {
		tb.Errorf("signing key usage %b, reference %b", got.KeyUsage, want.KeyUsage)
	}
}

func TestIssueRefusesBadCSRs(t *testing.T) {
	t.Parallel()
	h := newHierarchy(t, "p-384", "p-256")
	c := newTestCA(t, h, 0)
	good := csr(t, testKey(t, "p-256"))
	tampered := bytes.Clone(good)
	tampered[len(tampered)-5] ^= 0xff // inside the signature
	smallExp, _ := rsa.GenerateKey(rand.Reader, 2048)
	smallExp.E = 3
	smallExp.Precompute()
	cases := []struct {
		name string
		csr  []byte
		want string
	}{
		{"empty", nil, "empty"},
		{"garbage", []byte("this is not a certificate request"), "not a PKCS#10"},
		{"bad signature", tampered, "signature does not verify"},
		{"rsa-1024", csr(t, testKey(t, "rsa-1024")), "1024 bits"},
		{"p-224", csr(t, testKey(t, "p-224")), "P-224"},
		{"p-521", csr(t, testKey(t, "p-521")), "P-521"},
		{"wrong PEM type", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: good}), "want CERTIFICATE REQUEST"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Issue(context.Background(), ca.IssueRequest{Profile: "moces", CSR: tc.csr,
				Name: "Jens Hansen", Organization: "Firma A/S", CVR: "12345678"})
			if !errors.Is(err, ca.ErrInvalidRequest) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrInvalidRequest mentioning %q", err, tc.want)
			}
		})
	}
	page, err := c.Certificates(context.Background(), ca.ListQuery{})
	if err != nil || len(page.Certificates) != 0 {
		t.Fatalf("store holds %d certificates after refusals (err %v)", len(page.Certificates), err)
	}
	if n, _ := c.store.CountIssued(context.Background(), "issuing-1"); n != 0 {
		t.Fatalf("%d serials reserved after refusals", n)
	}
}

func TestIssueRefusesBadSubjects(t *testing.T) {
	t.Parallel()
	h := newHierarchy(t, "p-384", "p-256")
	c := newTestCA(t, h, 0)
	key := csr(t, testKey(t, "p-256"))
	cases := []struct {
		name string
		req  ca.IssueRequest
		want string
	}{
		{"unknown profile", ca.IssueRequest{Profile: "xoces"}, "unknown profile"},
		{"poces without CPR", ca.IssueRequest{Profile: "poces", Name: "Jens"}, "CPR number"},
		{"poces bad CPR", ca.IssueRequest{Profile: "poces", Name: "Jens", CPR: "321390-1234"}, "valid date"},
		{"poces with CVR", ca.IssueRequest{Profile: "poces", Name: "Jens", CPR: "010190-1234", CVR: "12345678"}, "no organization or CVR"},
		{"moces without name", ca.IssueRequest{Profile: "moces", Organization: "Firma", CVR: "12345678"}, "name is required"},
		{"moces bad CVR", ca.IssueRequest{Profile: "moces", Name: "Jens", Organization: "Firma", CVR: "1234"}, "8 digits"},
		{"long name", ca.IssueRequest{Profile: "moces", Name: strings.Repeat("x", 65), Organization: "Firma", CVR: "12345678"}, "longer than 64"},
		{"org too long with CVR", ca.IssueRequest{Profile: "moces", Name: "Jens", Organization: strings.Repeat("o", 60), CVR: "12345678"}, "at most 64 fit"},
		{"control characters", ca.IssueRequest{Profile: "moces", Name: "Jens\x00", Organization: "Firma", CVR: "12345678"}, "control"},
		{"given name on OCES2", ca.IssueRequest{Profile: "moces", Name: "Jens", GivenName: "Jens", Organization: "Firma", CVR: "12345678"}, "only for OCES3"},
		{"bad email", ca.IssueRequest{Profile: "voces", Organization: "Firma", CVR: "12345678", Email: "Jens <j@x.dk>"}, "plain address"},
		{"unknown subject id", ca.IssueRequest{Profile: "moces", Name: "Jens", Organization: "Firma", CVR: "12345678", SubjectID: "CVR:12345678-RID:1"}, "no subject"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.CSR = key
			_, err := c.Issue(context.Background(), tc.req)
			if !errors.Is(err, ca.ErrInvalidRequest) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrInvalidRequest mentioning %q", err, tc.want)
			}
		})
	}
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	h := newHierarchy(t, "p-384", "p-256")
	c := newTestCA(t, h, 0)
	ctx := context.Background()
	issue := func(req ca.IssueRequest) *ca.Certificate {
		t.Helper()
		req.CSR = csr(t, testKey(t, "p-256"))
		cert, err := c.Issue(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	a := issue(ca.IssueRequest{Profile: "poces", Name: "Jens Hansen", CPR: "010190-1234"})
	b := issue(ca.IssueRequest{Profile: "poces", Name: "Jens Hansen", CPR: "0101901234"})
	other := issue(ca.IssueRequest{Profile: "poces", Name: "Ane Hansen", CPR: "020290-1234"})
	if a.SubjectID != b.SubjectID {
		t.Errorf("same CPR got PIDs %s and %s", a.SubjectID, b.SubjectID)
	}
	if a.SubjectID == other.SubjectID {
		t.Errorf("different CPRs share PID %s", a.SubjectID)
	}
	again := issue(ca.IssueRequest{Profile: "poces", Name: "Jens Hansen", SubjectID: a.SubjectID})
	if again.SubjectID != a.SubjectID {
		t.Errorf("reissue by PID got %s", again.SubjectID)
	}
	for _, tc := range []struct {
		pid, cpr string
		want     bool
	}{{a.SubjectID, "010190-1234", true}, {a.SubjectID, "020290-1234", false}, {"PID:9208-2002-2-000000000000", "010190-1234", false}} {
		got, err := c.MatchCPR(ctx, tc.pid, tc.cpr)
		if err != nil || got != tc.want {
			t.Errorf("MatchCPR(%s, %s) = %v, %v; want %v", tc.pid, tc.cpr, got, err, tc.want)
		}
	}
	// Employees keep one RID per CVR when identified by CPR.
	e1 := issue(ca.IssueRequest{Profile: "moces", Name: "Jens Hansen", Organization: "Firma A/S", CVR: "12345678", CPR: "010190-1234"})
	e2 := issue(ca.IssueRequest{Profile: "moces", Name: "Jens Hansen", Organization: "Firma A/S", CVR: "12345678", CPR: "010190-1234"})
	e3 := issue(ca.IssueRequest{Profile: "moces", Name: "Jens Hansen", Organization: "Andet A/S", CVR: "87654321", CPR: "010190-1234"})
	if e1.SubjectID != e2.SubjectID || e1.SubjectID == e3.SubjectID {
		t.Errorf("RIDs %s %s %s: want the first two equal and the third different", e1.SubjectID, e2.SubjectID, e3.SubjectID)
	}
	// The CPR number is in no certificate and nowhere in the database file.
	c.store.Close()
	raw, err := os.ReadFile(c.path)
	if err != nil {
		t.Fatal(err)
	}
	for _, cpr := range []string{"0101901234", "010190-1234", "0202901234"} {
		if bytes.Contains(raw, []byte(cpr)) || bytes.Contains(a.DER, []byte(cpr)) {
			t.Errorf("CPR %s found in the store or a certificate", cpr)
		}
	}
}

func TestStatusLifeCycle(t *testing.T) {
	t.Parallel()
	h := newHierarchy(t, "p-384", "p-256")
	c := newTestCA(t, h, 0)
	ctx := context.Background()
	cert, err := c.Issue(ctx, ca.IssueRequest{Profile: "foces", CSR: csr(t, testKey(t, "p-256")),
		Name: "Lønsystem", Organization: "Firma A/S", CVR: "12345678"})
	if err != nil {
		t.Fatal(err)
	}
	s := cert.Serial
	past := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	steps := []struct {
		name    string
		do      func() (*ca.Certificate, error)
		status  ca.Status
		reason  ca.RevocationReason
		wantErr error
	}{
		{"release good", func() (*ca.Certificate, error) { return c.Release(ctx, s, audit.System) }, "", "", ca.ErrConflict},
		{"suspend", func() (*ca.Certificate, error) { return c.Suspend(ctx, s, audit.System) }, ca.StatusSuspended, ca.ReasonCertificateHold, nil},
		{"suspend again", func() (*ca.Certificate, error) { return c.Suspend(ctx, s, audit.System) }, "", "", ca.ErrConflict},
		{"release", func() (*ca.Certificate, error) { return c.Release(ctx, s, audit.System) }, ca.StatusGood, "", nil},
		{"suspend before revoke", func() (*ca.Certificate, error) { return c.Suspend(ctx, s, audit.System) }, ca.StatusSuspended, ca.ReasonCertificateHold, nil},
		{"future invalidity", func() (*ca.Certificate, error) {
			return c.Revoke(ctx, s, ca.ReasonKeyCompromise, time.Now().Add(time.Hour), audit.System)
		}, "", "", ca.ErrInvalidRequest},
		{"revoke", func() (*ca.Certificate, error) { return c.Revoke(ctx, s, ca.ReasonKeyCompromise, past, audit.System) }, ca.StatusRevoked, ca.ReasonKeyCompromise, nil},
		{"revoke again", func() (*ca.Certificate, error) {
			return c.Revoke(ctx, s, ca.ReasonSuperseded, time.Time{}, audit.System)
		}, "", "", ca.ErrConflict},
		{"release revoked", func() (*ca.Certificate, error) { return c.Release(ctx, s, audit.System) }, "", "", ca.ErrConflict},
		{"unknown serial", func() (*ca.Certificate, error) { return c.Suspend(ctx, ca.Serial{1}, audit.System) }, "", "", ca.ErrNotFound},
	}
	for _, st := range steps {
		got, err := st.do()
		if st.wantErr != nil {
			if !errors.Is(err, st.wantErr) {
				t.Fatalf("%s: error %v, want %v", st.name, err, st.wantErr)
			}
			continue
		}
		if err != nil || got.Status != st.status || got.Reason != st.reason {
			t.Fatalf("%s: got %+v, %v; want %s %s", st.name, got, err, st.status, st.reason)
		}
	}
	final, err := c.Certificate(ctx, s)
	if err != nil || !final.InvalidityDate.Equal(past) || final.RevokedAt.IsZero() {
		t.Fatalf("final state %+v, %v", final, err)
	}
	if _, err := ca.ParseRevocationReason("certificateHold"); !errors.Is(err, ca.ErrInvalidRequest) {
		t.Errorf("certificateHold accepted as a revocation reason")
	}
}

func TestPartitions(t *testing.T) {
	t.Parallel()
	h := newHierarchy(t, "p-384", "p-256")
	c := newTestCA(t, h, 2)
	var parts []int
	for range 5 {
		cert, err := c.Issue(context.Background(), ca.IssueRequest{Profile: "foces", CSR: csr(t, testKey(t, "p-256")),
			Name: "F", Organization: "Firma A/S", CVR: "12345678"})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, cert.Partition)
		checkIssued(t, c, cert)
	}
	if want := []int{0, 0, 1, 1, 2}; !slicesEqual(parts, want) {
		t.Fatalf("partitions %v, want %v", parts, want)
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestLintFailureSignsNothing: a certificate that fails zlint is refused
// with a LintError and the CA key never signs it.
func TestLintFailureSignsNothing(t *testing.T) {
	t.Parallel()
	h := newHierarchy(t, "p-384", "p-256")
	c := newTestCA(t, h, 0)
	signs := new(int)
	profiles := ca.DefaultProfiles()
	// RFC 5280 caps explicitText at 200 characters; zlint flags longer ones.
	profiles["foces"].UserNotice = strings.Repeat("Denne tekst er for lang. ", 10)
	lc, err := ca.New(context.Background(), ca.Config{
		Issuers:  []*ca.Issuer{{Name: "issuing-1", Certificate: h.issuing, Signer: countingSigner{h.issuingKey, signs}}},
		Profiles: profiles, BaseURL: "http://pki.example.dk",
		Certificates: c.store, Registry: c.store, Hasher: catest.HMACHasher("k"),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = lc.Issue(context.Background(), ca.IssueRequest{Profile: "foces", CSR: csr(t, testKey(t, "p-256")),
		Name: "F", Organization: "Firma A/S", CVR: "12345678"})
	var le *ca.LintError
	if !errors.As(err, &le) || !errors.Is(err, ca.ErrLint) {
		t.Fatalf("error %v, want a LintError", err)
	}
	if *signs != 0 {
		t.Fatalf("the CA key signed %d times for a certificate that failed linting", *signs)
	}
	// The lint ran while the serial was reserved: the reservation stays,
	// never completed, and the chain says the key was not used.
	ctx := context.Background()
	if n, _ := c.store.CountIssued(ctx, "issuing-1"); n != 1 {
		t.Errorf("%d serials reserved, want the one linted alongside", n)
	}
	if page, err := c.store.Certificates(ctx, ca.ListQuery{Limit: 10}); err != nil || len(page.Certificates) != 0 {
		t.Errorf("%d certificates stored (%v) for one that failed linting", len(page.Certificates), err)
	}
	var got []string
	err = c.store.AuditRecords(ctx, 1, func(_ uint64, data []byte) error {
		var r audit.Record
		if err := r.UnmarshalBinary(data); err != nil {
			return err
		}
		got = append(got, r.Action+":"+r.Outcome)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != audit.ActionSignBefore+":ok" || !strings.HasPrefix(got[1], audit.ActionSignAfter+":") || got[1] == audit.ActionSignAfter+":ok" {
		t.Errorf("audit chain %v, want %s then a failed %s", got, audit.ActionSignBefore, audit.ActionSignAfter)
	}
	if _, err := audit.Verify(ctx, c.store, nil); err != nil {
		t.Errorf("audit.Verify: %v", err)
	}
}

// countingSigner counts the signatures of the key it wraps.
type countingSigner struct {
	crypto.Signer
	n *int
}

func (s countingSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	*s.n++
	return s.Signer.Sign(r, digest, opts)
}

// TestAuditChain checks that issuance and status changes leave their
// records in the chain, refusals included, and that the chain verifies.
func TestAuditChain(t *testing.T) {
	t.Parallel()
	h := newHierarchy(t, "p-384", "p-256")
	c := newTestCA(t, h, 0)
	ctx := context.Background()
	officer := audit.Actor{Subject: "CN=Test Officer"}
	cert, err := c.Issue(ctx, ca.IssueRequest{Profile: "foces", CSR: csr(t, testKey(t, "p-256")),
		Name: "F", Organization: "Firma A/S", CVR: "12345678", Actor: officer})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Issue(ctx, ca.IssueRequest{Profile: "foces", CSR: []byte("garbage"), Actor: officer})
	// A refusal is recorded whatever the caller sent: this profile name
	// is far longer than a record's target.
	_, _ = c.Issue(ctx, ca.IssueRequest{Profile: strings.Repeat("p", 63000), CSR: csr(t, testKey(t, "p-256")), Actor: officer})
	if _, err := c.Suspend(ctx, cert.Serial, officer); err != nil {
		t.Fatal(err)
	}
	_, _ = c.Suspend(ctx, cert.Serial, officer) // refused: already suspended
	if _, err := c.Revoke(ctx, cert.Serial, ca.ReasonKeyCompromise, time.Time{}, officer); err != nil {
		t.Fatal(err)
	}
	var got []string
	err = c.store.AuditRecords(ctx, 1, func(_ uint64, data []byte) error {
		var r audit.Record
		if err := r.UnmarshalBinary(data); err != nil {
			return err
		}
		if r.Actor.Subject != officer.Subject {
			t.Errorf("record %d actor %q", r.Seq, r.Actor)
		}
		outcome := "ok"
		if r.Outcome != "ok" {
			outcome = "refused"
		}
		got = append(got, r.Action+":"+outcome)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "ca.sign.before:ok ca.sign.after:ok cert.issue:ok cert.issue:refused cert.issue:refused cert.suspend:ok cert.suspend:refused cert.revoke:ok"
	if strings.Join(got, " ") != want {
		t.Errorf("audit chain\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	if _, err := audit.Verify(ctx, c.store, nil); err != nil {
		t.Errorf("audit.Verify: %v", err)
	}
}
