package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/store/bolt"
)

// moces is an employee issuance body for CVR 12345678 with the given
// changes applied.
func moces(tb testing.TB, change func(m map[string]any)) string {
	tb.Helper()
	m := map[string]any{"profile": "moces", "csr": csrPEM(tb), "name": "Karen Jensen", "organization": "Firma A/S", "cvr": "12345678"}
	if change != nil {
		change(m)
	}
	return jsonBody(tb, m)
}

// TestCRLGenerateUnknownCA: a forced CRL run for a CA that does not exist
// is 404, not 500 (crl.ErrNotFound in the error table).
func TestCRLGenerateUnknownCA(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, nil)
	tests := []struct {
		ca   string
		code int
	}{
		{"issuing-1", http.StatusOK},
		{"nope", http.StatusNotFound},
	}
	for _, tt := range tests {
		code, body := a.do(t, a.officer, "POST", "/api/v1/crl/"+tt.ca+"/generate", "{}")
		if code != tt.code {
			t.Errorf("generate %s: %d %s, want %d", tt.ca, code, body, tt.code)
		}
		if tt.code != http.StatusOK && !strings.Contains(errorText(t, body), `"nope"`) {
			t.Errorf("generate %s: the error does not name the CA: %s", tt.ca, body)
		}
	}
}

// TestRACannotProbeCPR: a registration authority issuing again for an
// existing employee with a CPR number gets one and the same refusal
// whether or not the number belongs to the employee, and no certificate;
// officers may still combine the two.
func TestRACannotProbeCPR(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, nil)
	code, body := a.do(t, a.officer, "POST", "/api/v1/certificates", moces(t, func(m map[string]any) { m["cpr"] = "010190-1234" }))
	if code != http.StatusCreated {
		t.Fatalf("first issuance: %d %s", code, body)
	}
	id := jsonField(t, body, "subject_id")
	before := a.count(t)
	answers := map[string][]byte{}
	for name, cpr := range map[string]string{"belongs": "010190-1234", "does not belong": "020290-4321"} {
		code, body := a.do(t, a.ra, "POST", "/api/v1/certificates", moces(t, func(m map[string]any) { m["cpr"], m["subject_id"] = cpr, id }))
		if code != http.StatusForbidden {
			t.Errorf("RA, CPR that %s: %d %s, want 403", name, code, body)
		}
		answers[name] = body
	}
	if !bytes.Equal(answers["belongs"], answers["does not belong"]) {
		t.Errorf("the answers differ:\n%s\n%s", answers["belongs"], answers["does not belong"])
	}
	if n := a.count(t); n != before {
		t.Errorf("%d certificates issued to the RA", n-before)
	}
	// Without the CPR number the RA may issue again for its employee.
	if code, body := a.do(t, a.ra, "POST", "/api/v1/certificates", moces(t, func(m map[string]any) { m["subject_id"] = id })); code != http.StatusCreated {
		t.Errorf("RA, subject_id alone: %d %s", code, body)
	}
	for cpr, want := range map[string]int{"010190-1234": http.StatusCreated, "020290-4321": http.StatusBadRequest} {
		if code, body := a.do(t, a.officer, "POST", "/api/v1/certificates", moces(t, func(m map[string]any) { m["cpr"], m["subject_id"] = cpr, id })); code != want {
			t.Errorf("officer, subject_id and CPR %s: %d %s, want %d", cpr, code, body, want)
		}
	}
}

// count is how many certificates the CA holds.
func (a *testAPI) count(tb testing.TB) int {
	tb.Helper()
	page, err := a.ca.Certificates(context.Background(), ca.ListQuery{Limit: 1000})
	if err != nil {
		tb.Fatal(err)
	}
	return len(page.Certificates)
}

// TestNamesAndEmail: names hold only visible characters and plain spaces,
// in valid UTF-8; e-mail addresses are plain addresses within RFC 5321's
// limits.
func TestNamesAndEmail(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, nil)
	type tc struct {
		name  string
		field string
		value string
		ok    bool
	}
	tests := []tc{
		{"Danish letters", "name", "Søren Ærø Åberg-Kjær", true},
		{"combining accent", "name", "Jose\u0301 O'Brien", true},
		{"other scripts", "name", "Łukasz Đorđević Ελένη", true},
		{"right-to-left override", "name", "Karen \u202eJensen", false},
		{"left-to-right mark", "name", "Karen\u200e Jensen", false},
		{"zero-width space", "name", "Karen\u200bJensen", false},
		{"zero-width joiner", "name", "Karen\u200dJensen", false},
		{"byte order mark", "name", "\ufeffKaren Jensen", false},
		{"soft hyphen", "name", "Karen Jen\u00adsen", false},
		{"word joiner", "name", "Karen\u2060Jensen", false},
		{"tag character", "name", "Karen Jensen\U000e0041", false},
		{"hangul filler", "name", "Karen \u3164Jensen", false},
		{"variation selector", "name", "Karen Jensen\ufe0f", false},
		{"no-break space", "name", "Karen\u00a0Jensen", false},
		{"line separator", "name", "Karen\u2028Jensen", false},
		{"bell", "name", "Karen\aJensen", false},
		{"tab", "name", "Karen\tJensen", false},
		{"C1 control", "name", "Karen\u0085Jensen", false},
		{"private use", "name", "Karen \ue000Jensen", false},
		{"unassigned", "name", "Karen \U000e0fffJensen", false},
		{"organisation with an override", "organization", "Firma\u202e A/S", false},
		{"plain e-mail", "email", "karen.jensen+pki@firma.dk", true},
		{"64 before the @", "email", strings.Repeat("k", 64) + "@firma.dk", true},
		{"65 before the @", "email", strings.Repeat("k", 65) + "@firma.dk", false},
		{"10,000 before the @", "email", strings.Repeat("k", 10000) + "@firma.dk", false},
		{"254 in all", "email", "k@" + strings.Repeat("d", 63) + "." + strings.Repeat("e", 63) + "." + strings.Repeat("f", 63) + "." + strings.Repeat("g", 57) + ".dk", true},
		{"255 in all", "email", "k@" + strings.Repeat("d", 63) + "." + strings.Repeat("e", 63) + "." + strings.Repeat("f", 63) + "." + strings.Repeat("g", 58) + ".dk", false},
		{"two @", "email", "karen@@firma.dk", false},
		{"double dot", "email", "karen..jensen@firma.dk", false},
		{"leading dot", "email", ".karen@firma.dk", false},
		{"no dot in the domain", "email", "karen@localhost", false},
		{"label starting with a hyphen", "email", "karen@-firma.dk", false},
		{"label over 63", "email", "karen@" + strings.Repeat("d", 64) + ".dk", false},
		{"space", "email", "karen jensen@firma.dk", false},
		{"quoted local part", "email", `"karen jensen"@firma.dk`, false},
		{"address literal", "email", "karen@[192.0.2.1]", false},
		{"non-ASCII", "email", "søren@firma.dk", false},
		{"display name", "email", "Karen <karen@firma.dk>", false},
		{"numeric top-level domain", "email", "karen@firma.123", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := a.do(t, a.officer, "POST", "/api/v1/certificates", moces(t, func(m map[string]any) { m[tt.field] = tt.value }))
			switch {
			case tt.ok && code != http.StatusCreated:
				t.Fatalf("%d %s, want 201", code, body)
			case !tt.ok && code != http.StatusBadRequest:
				t.Fatalf("%d %.300s, want 400", code, body)
			case !tt.ok && !strings.Contains(errorText(t, body), tt.field):
				t.Fatalf("the error does not name the field %s: %.300s", tt.field, body)
			}
		})
	}
}

// TestInvalidUTF8: a body that is not UTF-8, or whose strings escape a
// lone surrogate, is refused with the key named, not read as U+FFFD.
func TestInvalidUTF8(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, nil)
	valid := moces(t, nil)
	tests := []struct {
		name, body, want string
	}{
		{"raw byte 0xff in a name", strings.Replace(valid, `"Karen Jensen"`, "\"Karen \xffJensen\"", 1), `"name"`},
		{"truncated sequence in a name", strings.Replace(valid, `"Karen Jensen"`, "\"Karen \xc3\"", 1), `"name"`},
		{"lone surrogate escaped", strings.Replace(valid, `"Karen Jensen"`, `"Karen \ud800Jensen"`, 1), `"name"`},
		{"reversed surrogate pair", strings.Replace(valid, `"Karen Jensen"`, `"Karen \udc00\ud800"`, 1), `"name"`},
		{"invalid UTF-8 in a key", strings.Replace(valid, `"name"`, "\"na\xffme\"", 1), "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := a.do(t, a.officer, "POST", "/api/v1/certificates", tt.body)
			if code != http.StatusBadRequest {
				t.Fatalf("%d %s, want 400", code, body)
			}
			if msg := errorText(t, body); !strings.Contains(msg, tt.want) || !strings.Contains(msg, "UTF-8") {
				t.Fatalf("error %q does not say UTF-8 and %s", msg, tt.want)
			}
		})
	}
	// An escaped surrogate pair is a valid character (U+20BB7, a CJK
	// ideograph outside the BMP).
	pair := strings.Replace(valid, `"Karen Jensen"`, `"Karen \ud842\udfb7"`, 1)
	if code, body := a.do(t, a.officer, "POST", "/api/v1/certificates", pair); code != http.StatusCreated {
		t.Errorf("escaped surrogate pair: %d %s", code, body)
	}
}

// TestStrictJSON: keys must match the field names exactly, and once.
func TestStrictJSON(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, nil)
	code, body := a.do(t, a.officer, "POST", "/api/v1/certificates", moces(t, nil))
	if code != http.StatusCreated {
		t.Fatalf("issuing: %d %s", code, body)
	}
	serial := jsonField(t, body, "serial")
	csr := jsonBody(t, csrPEM(t))
	tests := []struct {
		name, method, path, body, want string
	}{
		{"key in capitals", "POST", "/api/v1/certificates",
			`{"Profile": "moces", "csr": ` + csr + `, "name": "Karen Jensen", "organization": "Firma A/S", "cvr": "12345678"}`, `"Profile"`},
		{"key in mixed case", "POST", "/api/v1/certificates",
			`{"profile": "moces", "csr": ` + csr + `, "NaMe": "Karen Jensen", "organization": "Firma A/S", "cvr": "12345678"}`, `"NaMe"`},
		{"duplicate key", "POST", "/api/v1/certificates",
			`{"profile": "moces", "csr": ` + csr + `, "name": "Karen Jensen", "organization": "Firma A/S", "cvr": "12345678", "cvr": "87654321"}`, `"cvr"`},
		{"duplicate key differing in case", "POST", "/api/v1/certificates",
			`{"profile": "moces", "csr": ` + csr + `, "name": "Karen Jensen", "Name": "Mallory", "organization": "Firma A/S", "cvr": "12345678"}`, `"Name"`},
		{"unknown key", "POST", "/api/v1/certificates",
			`{"profile": "moces", "csr": ` + csr + `, "colour": "blue"}`, `"colour"`},
		{"revoke reason in capitals", "POST", "/api/v1/certificates/" + serial + "/revoke", `{"Reason": "keyCompromise"}`, `"Reason"`},
		{"revoke reason twice", "POST", "/api/v1/certificates/" + serial + "/revoke", `{"reason": "superseded", "reason": "keyCompromise"}`, `"reason"`},
		{"match-cpr key in capitals", "POST", "/api/v1/subjects/match-cpr", `{"PID": "PID:9208-2002-2-123456789012", "cpr": "010190-1234"}`, `"PID"`},
		{"not an object", "POST", "/api/v1/subjects/match-cpr", `["pid"]`, "object"},
		{"trailing data", "POST", "/api/v1/subjects/match-cpr", `{"pid": "x", "cpr": "010190-1234"} {}`, "trailing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := a.do(t, a.officer, tt.method, tt.path, tt.body)
			if code != http.StatusBadRequest {
				t.Fatalf("%d %s, want 400", code, body)
			}
			if msg := errorText(t, body); !strings.Contains(msg, tt.want) {
				t.Fatalf("error %q does not name %s", msg, tt.want)
			}
		})
	}
	c, err := a.ca.Certificate(context.Background(), mustSerial(t, serial))
	if err != nil || c.Status != ca.StatusGood {
		t.Fatalf("after refused revocations: %v %v", c.Status, err)
	}
}

func mustSerial(tb testing.TB, s string) ca.Serial {
	tb.Helper()
	v, err := ca.ParseSerial(s)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// TestInputBounds: every input field is bounded at the API with a 400
// that names it, and the refusals are in the audit chain.
func TestInputBounds(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, nil)
	long := strings.Repeat("x", 63000)
	tests := []struct {
		name, method, path, body, field string
	}{
		{"profile", "POST", "/api/v1/certificates", moces(t, func(m map[string]any) { m["profile"] = long }), "profile"},
		{"ca", "POST", "/api/v1/certificates", moces(t, func(m map[string]any) { m["ca"] = long }), "ca"},
		{"name", "POST", "/api/v1/certificates", moces(t, func(m map[string]any) { m["name"] = long }), "name"},
		{"given_name", "POST", "/api/v1/certificates", moces(t, func(m map[string]any) { m["given_name"] = long }), "given_name"},
		{"surname", "POST", "/api/v1/certificates", moces(t, func(m map[string]any) { m["surname"] = long }), "surname"},
		{"organization", "POST", "/api/v1/certificates", moces(t, func(m map[string]any) { m["organization"] = long }), "organization"},
		{"cvr", "POST", "/api/v1/certificates", moces(t, func(m map[string]any) { m["cvr"] = long }), "cvr"},
		{"cpr", "POST", "/api/v1/certificates", moces(t, func(m map[string]any) { m["cpr"] = long }), "cpr"},
		{"subject_id", "POST", "/api/v1/certificates", moces(t, func(m map[string]any) { m["subject_id"] = long }), "subject_id"},
		{"email", "POST", "/api/v1/certificates", moces(t, func(m map[string]any) { m["email"] = long + "@firma.dk" }), "email"},
		{"csr", "POST", "/api/v1/certificates", moces(t, func(m map[string]any) { m["csr"] = strings.Repeat("A", 60000) }), "csr"},
		{"pid", "POST", "/api/v1/subjects/match-cpr", jsonBody(t, MatchCPRRequest{PID: strings.Repeat("9", 60000), CPR: "010190-1234"}), "pid"},
		{"match cpr", "POST", "/api/v1/subjects/match-cpr", jsonBody(t, MatchCPRRequest{PID: "PID:9208-2002-2-123456789012", CPR: long}), "cpr"},
		{"reason", "POST", "/api/v1/certificates/01/revoke", jsonBody(t, RevokeRequest{Reason: long}), "reason"},
		{"invalidity_date", "POST", "/api/v1/certificates/01/revoke", jsonBody(t, RevokeRequest{Reason: "keyCompromise", InvalidityDate: long}), "invalidity_date"},
		{"serial in the path", "POST", "/api/v1/certificates/" + strings.Repeat("f", 20000) + "/suspend", "{}", "serial"},
		{"subject in the path", "GET", "/api/v1/subjects/" + strings.Repeat("f", 20000), "", "subject"},
		{"CA in the path", "POST", "/api/v1/crl/" + strings.Repeat("f", 20000) + "/generate", "{}", "ca"},
		{"query ca", "GET", "/api/v1/certificates?ca=" + strings.Repeat("f", 20000), "", "ca"},
		{"query profile", "GET", "/api/v1/certificates?profile=" + strings.Repeat("f", 20000), "", "profile"},
		{"query after", "GET", "/api/v1/certificates?after=" + strings.Repeat("f", 20000), "", "after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for who, c := range map[string]*http.Client{"officer": a.officer, "RA": a.ra} {
				seq := a.auditHead(t)
				code, body := a.do(t, c, tt.method, tt.path, tt.body)
				if who == "RA" && code == http.StatusForbidden {
					continue // refused by role first: also fine
				}
				if code != http.StatusBadRequest {
					t.Fatalf("%s: %d %.300s, want 400", who, code, body)
				}
				msg := errorText(t, body)
				if !strings.Contains(msg, tt.field) || len(msg) > 1024 {
					t.Fatalf("%s: error %.300q does not name %s, or echoes the input", who, msg, tt.field)
				}
				if tt.method == "POST" && a.auditHead(t) == seq {
					t.Errorf("%s: no audit record of the refusal", who)
				}
			}
		})
	}
}

// TestUnauditedActionsDoNotHappen: when the audit chain cannot take the
// record, a CPR match is not answered and a forced CRL run not made.
func TestUnauditedActionsDoNotHappen(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, func(*bolt.DB) auditSink { return refusingAuditor{} })
	code, body := a.do(t, a.officer, "POST", "/api/v1/certificates", jsonBody(t, map[string]any{
		"profile": "poces", "csr": csrPEM(t), "name": "Jens Hansen", "cpr": "010190-1234"}))
	if code != http.StatusCreated {
		t.Fatalf("issuing: %d %s", code, body)
	}
	pid := jsonField(t, body, "subject_id")
	code, body = a.do(t, a.officer, "POST", "/api/v1/subjects/match-cpr", jsonBody(t, MatchCPRRequest{PID: pid, CPR: "010190-1234"}))
	if code < 500 || strings.Contains(string(body), `"match"`) {
		t.Errorf("match-cpr without an audit record: %d %s", code, body)
	}
	code, body = a.do(t, a.officer, "POST", "/api/v1/crl/issuing-1/generate", "{}")
	if code < 500 {
		t.Errorf("crl generate without an audit record: %d %s", code, body)
	}
	rec := httptest.NewRecorder()
	a.crl.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/crl/issuing-1.crl", nil))
	if rec.Code == http.StatusOK {
		t.Error("the CRL was generated although its request could not be audited")
	}
}

// TestMatchCPRAudited: a CPR match is answered with its audit record
// written, naming the PID and never the CPR number.
func TestMatchCPRAudited(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, nil)
	code, body := a.do(t, a.officer, "POST", "/api/v1/certificates", jsonBody(t, map[string]any{
		"profile": "poces", "csr": csrPEM(t), "name": "Jens Hansen", "cpr": "010190-1234"}))
	if code != http.StatusCreated {
		t.Fatalf("issuing: %d %s", code, body)
	}
	pid := jsonField(t, body, "subject_id")
	seq := a.auditHead(t)
	code, body = a.do(t, a.officer, "POST", "/api/v1/subjects/match-cpr", jsonBody(t, MatchCPRRequest{PID: pid, CPR: "010190-1234"}))
	if code != http.StatusOK || !strings.Contains(string(body), `"match": true`) {
		t.Fatalf("match-cpr: %d %s", code, body)
	}
	recs := a.auditRecords(t, seq+1)
	if len(recs) != 1 || recs[0].Target != pid || recs[0].Outcome != audit.OutcomeOK {
		t.Fatalf("audit after match-cpr: %+v", recs)
	}
	for _, r := range recs {
		for _, v := range append([]string{r.Target, r.Outcome}, mapValues(r.Details)...) {
			if strings.Contains(v, "010190") || strings.Contains(v, "0101901234") {
				t.Errorf("the audit record holds the CPR number: %+v", r)
			}
		}
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// jsonField reads one string field of a JSON object.
func jsonField(tb testing.TB, body []byte, field string) string {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		tb.Fatalf("%v: %s", err, body)
	}
	s, _ := m[field].(string)
	if s == "" {
		tb.Fatalf("no %s in %s", field, body)
	}
	return s
}

// TestEmptyBodies: the status changes and a forced CRL run take an empty
// object or no body at all, and nothing else.
func TestEmptyBodies(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, nil)
	code, body := a.do(t, a.officer, "POST", "/api/v1/certificates", moces(t, nil))
	if code != http.StatusCreated {
		t.Fatalf("issuing: %d %s", code, body)
	}
	serial := jsonField(t, body, "serial")
	for _, tt := range []struct {
		name, path, body string
		code             int
	}{
		{"no body", "/suspend", "", http.StatusOK},
		{"empty object", "/release", "{}", http.StatusOK},
		{"white space", "/suspend", " \n", http.StatusOK},
		{"unknown key", "/release", `{"force": true}`, http.StatusBadRequest},
		{"not JSON", "/release", `release`, http.StatusBadRequest},
	} {
		if code, body := a.do(t, a.officer, "POST", "/api/v1/certificates/"+serial+tt.path, tt.body); code != tt.code {
			t.Errorf("%s: %d %s, want %d", tt.name, code, body, tt.code)
		}
	}
	if code, body := a.do(t, a.officer, "POST", "/api/v1/crl/issuing-1/generate", `{"now": true}`); code != http.StatusBadRequest {
		t.Errorf("crl generate with a key: %d %s", code, body)
	}
}
