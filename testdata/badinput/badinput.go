// Package badinput is the bad-input corpus of issue 15 (part 2): malformed
// requests for every input 'oces serve' reads from a client: OCSP over GET
// and POST (RFC 6960 section 4.1, RFC 5019 section 5), time-stamp requests
// (RFC 3161 section 2.4.1), the CRL and CA file paths, the admin API's JSON
// bodies, PKCS#10 requests inside them (RFC 2986), documents uploaded to
// the signing service, and raw HTTP/1.1 framing (RFC 9112).
//
// Generate makes the corpus deterministically (a fixed seed, fixed keys);
// corpus.jsonl is its output, regenerated with
//
//	go run ./testdata/badinput/gen
//
// and checked against Generate by the test that replays it
// (cmd/oces/badinput_test.go), so the file and its generator cannot drift
// apart.
//
// A few values are placeholders the replaying test fills in from the
// running PKI: in DER bodies the 20-byte runs NameHash and KeyHash stand
// for the SHA-1 hashes of the issuing CA's name and key (so that a mutated
// OCSP request can reach the responder's look-up), and in paths and JSON
// the string "{serial}" stands for the serial of a certificate issued for
// the purpose.
package badinput

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// Listener names the listener a request goes to.
const (
	Public = "public"
	Admin  = "admin"
)

// Kinds of request, for the replaying test's checks.
const (
	KindOCSPPost = "ocsp-post" // POST /ocsp; body is the request
	KindOCSPGet  = "ocsp-get"  // GET /ocsp/<base64 of body>, or Path as is when Body is empty
	KindTSA      = "tsa"       // POST /tsa
	KindPath     = "path"      // a GET, HEAD or other method on a file path (CRL, CA, anything)
	KindJSON     = "json"      // admin API with a JSON body
	KindCSR      = "csr"       // POST /api/v1/certificates with a bad PKCS#10 request
	KindUpload   = "upload"    // POST /api/v1/sign with a document (as the service provider)
	KindRaw      = "raw"       // Body written as is to a TCP connection to the listener
)

// Request is one malformed request.
type Request struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Listener    string `json:"listener"`
	Method      string `json:"method,omitempty"`
	Path        string `json:"path,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Body        []byte `json:"body,omitempty"` // base64 in the file
}

// NameHash and KeyHash are the placeholders for the issuer's name and key
// hashes in OCSP request bodies.
var (
	NameHash = bytes.Repeat([]byte{0xa1}, 20)
	KeyHash  = bytes.Repeat([]byte{0xb2}, 20)
)

// SerialPlaceholder stands for a real certificate's serial in paths and
// JSON bodies.
const SerialPlaceholder = "{serial}"

// Generate returns the corpus, the same on every call.
func Generate() []Request {
	g := newGen()
	g.ocsp()
	g.tsa()
	g.paths()
	g.json()
	g.csrs()
	g.uploads()
	g.raw()
	return g.out
}

// File is the path of corpus.jsonl.
func File() string {
	_, src, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(src), "corpus.jsonl")
}

// Encode writes the corpus one JSON object a line.
func Encode(reqs []Request) []byte {
	var buf bytes.Buffer
	for _, r := range reqs {
		line, err := json.Marshal(r)
		if err != nil {
			panic(err) // a Request always encodes
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// Load reads corpus.jsonl.
func Load() ([]Request, error) {
	f, err := os.Open(File())
	if err != nil {
		return nil, fmt.Errorf("badinput: %w", err)
	}
	defer f.Close()
	var reqs []Request
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var r Request
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("badinput: corpus.jsonl line %d: %w", n, err)
		}
		reqs = append(reqs, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("badinput: reading corpus.jsonl: %w", err)
	}
	return reqs, nil
}
