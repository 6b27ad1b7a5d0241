package tsa

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/digitorus/timestamp"
)

func TestServeHTTP(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t, "p256")
	good := encodeReq(t, reqFields{certReq: true})
	tests := []struct {
		name        string
		method      string
		contentType string
		body        []byte
		edit        func(*Config)
		wantStatus  int
		wantFail    FailureInfo // FailNone: granted
		wantReply   bool        // body is a TimeStampResp
	}{
		{"granted", http.MethodPost, ContentTypeQuery, good, nil, http.StatusOK, FailNone, true},
		{"content type with parameter", http.MethodPost, ContentTypeQuery + "; charset=binary", good, nil, http.StatusOK, FailNone, true},
		{"GET", http.MethodGet, "", nil, nil, http.StatusMethodNotAllowed, 0, false},
		{"PUT", http.MethodPut, ContentTypeQuery, good, nil, http.StatusMethodNotAllowed, 0, false},
		{"wrong content type", http.MethodPost, "application/ocsp-request", good, nil, http.StatusUnsupportedMediaType, FailBadRequest, true},
		{"no content type", http.MethodPost, "", good, nil, http.StatusUnsupportedMediaType, FailBadRequest, true},
		{"oversized", http.MethodPost, ContentTypeQuery, bytes.Repeat([]byte{0x30}, 100), func(c *Config) { c.MaxRequestBytes = 64 },
			http.StatusRequestEntityTooLarge, FailBadRequest, true},
		{"garbage", http.MethodPost, ContentTypeQuery, []byte{0x30, 0x80, 0, 0}, nil, http.StatusOK, FailBadDataFormat, true},
		{"empty", http.MethodPost, ContentTypeQuery, nil, nil, http.StatusOK, FailBadDataFormat, true},
		{"serials down", http.MethodPost, ContentTypeQuery, good, func(c *Config) {
			c.Serials = NewBlockSerials(&memCounter{fail: errors.New("store closed")}, "tsa", 4)
		}, http.StatusServiceUnavailable, FailSystemFailure, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(newTestAuthority(t, p, tt.edit))
			defer srv.Close()
			req, _ := http.NewRequest(tt.method, srv.URL, bytes.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("HTTP %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			if !tt.wantReply {
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != ContentTypeReply {
				t.Errorf("Content-Type %q", ct)
			}
			if tt.wantFail == FailNone {
				if _, err := ParseResponse(body); err != nil {
					t.Errorf("granted reply: %v", err)
				}
				return
			}
			checkRejection(t, body, tt.wantFail)
		})
	}
}

// TestServeHTTPChunkedOversized checks the limit when no Content-Length is sent.
func TestServeHTTPChunkedOversized(t *testing.T) {
	t.Parallel()
	a := newTestAuthority(t, newTestPKI(t, "p256"), func(c *Config) { c.MaxRequestBytes = 32 })
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/tsa", io.MultiReader(strings.NewReader(strings.Repeat("x", 64))))
	req.ContentLength = -1
	req.Header.Set("Content-Type", ContentTypeQuery)
	a.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("HTTP %d, want 413", rec.Code)
	}
	checkRejection(t, rec.Body.Bytes(), FailBadRequest)
}

func TestQueryVerify(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t, "p256")
	srv := httptest.NewServer(newTestAuthority(t, p, func(c *Config) { c.Clock = nil }))
	t.Cleanup(srv.Close) // not defer: the parallel subtests run after this function returns
	digest := sha256.Sum256([]byte("document"))
	tests := []struct {
		name string
		opts QueryOptions
	}{
		{"defaults", QueryOptions{}},
		{"policy", QueryOptions{Policy: testPolicy2}},
		{"no nonce", QueryOptions{NoNonce: true}},
		{"no certificates", QueryOptions{NoCertificates: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok, err := Query(context.Background(), srv.Client(), srv.URL, digest[:], crypto.SHA256, tt.opts)
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			if (tok.Nonce == nil) != tt.opts.NoNonce {
				t.Errorf("nonce %v with NoNonce %v", tok.Nonce, tt.opts.NoNonce)
			}
			if tt.opts.NoCertificates {
				tok.Certificates = []*x509.Certificate{p.tsa, p.issuing}
			}
			if err := tok.Verify(p.roots, nil); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			other := newTestPKI(t, "p384")
			if err := tok.Verify(other.roots, nil); err == nil {
				t.Error("Verify accepted a token under a foreign root")
			}
		})
	}
}

// TestQueryChecks points Query at servers that answer the wrong thing.
func TestQueryChecks(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t, "p256")
	a := newTestAuthority(t, p, func(c *Config) { c.Clock = nil })
	digest := sha256.Sum256([]byte("document"))
	other := sha256.Sum256([]byte("other"))
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    error
	}{
		{"wrong imprint", func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			in, err := timestamp.ParseRequest(body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			writeReply(w, http.StatusOK, a.Respond(r.Context(), encodeReq(t, reqFields{digest: other[:], nonce: in.Nonce, certReq: true})))
		}, ErrImprintMismatch},
		{"missing nonce", func(w http.ResponseWriter, r *http.Request) {
			writeReply(w, http.StatusOK, a.Respond(r.Context(), encodeReq(t, reqFields{digest: digest[:], certReq: true})))
		}, ErrNonceMismatch},
		{"rejected", func(w http.ResponseWriter, r *http.Request) {
			writeReply(w, http.StatusOK, a.Respond(r.Context(), []byte{1, 2, 3}))
		}, &RejectionError{}},
		{"HTTP error with reply", func(w http.ResponseWriter, r *http.Request) {
			writeReply(w, http.StatusServiceUnavailable, rejectionResponse(reject(FailSystemFailure, "down")))
		}, &RejectionError{}},
		{"not a reply", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("<html>"))
		}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			_, err := Query(context.Background(), srv.Client(), srv.URL, digest[:], crypto.SHA256, QueryOptions{})
			var rej *RejectionError
			if _, isRej := tt.want.(*RejectionError); isRej {
				if !errors.As(err, &rej) {
					t.Fatalf("error %v, want RejectionError", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyRejectsTampering(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t, "p256")
	a := newTestAuthority(t, p, nil)
	tok, err := ParseResponse(a.Respond(context.Background(), encodeReq(t, reqFields{certReq: true})))
	if err != nil {
		t.Fatal(err)
	}
	// Flip a byte of the hashed message inside the encapsulated TSTInfo.
	i := bytes.Index(tok.Raw, tok.HashedMessage)
	raw := bytes.Clone(tok.Raw)
	raw[i] ^= 1
	bad, err := ParseToken(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Verify(p.roots, nil); err == nil || !strings.Contains(err.Error(), "messageDigest") {
		t.Fatalf("Verify of tampered token = %v", err)
	}
	// Swap in a certificate that the ESSCertIDv2 does not name.
	bad2, _ := ParseToken(tok.Raw)
	bad2.Certificates = []*x509.Certificate{newTestPKI(t, "p384").tsa, p.issuing}
	if err := bad2.Verify(p.roots, nil); err == nil {
		t.Fatal("Verify accepted a token with a substituted certificate")
	}
}

func TestBlockSerialsRestart(t *testing.T) {
	t.Parallel()
	path := tempPath(t, "counter")
	var last uint64
	for restart := range 3 {
		c := &fileCounter{path: path}
		s := NewBlockSerials(c, "tsa", 8)
		for range 20 { // crosses block boundaries; the rest of a block is lost on restart
			n, err := s.NextSerial(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !n.IsUint64() || n.Uint64() <= last {
				t.Fatalf("restart %d: serial %v after %d", restart, n, last)
			}
			last = n.Uint64()
		}
		if c.calls != 3 { // 20 serials in blocks of 8: three durable writes
			t.Errorf("restart %d: %d counter writes, want 3", restart, c.calls)
		}
	}
}

func TestBlockSerialsConcurrent(t *testing.T) {
	t.Parallel()
	s := NewBlockSerials(&memCounter{}, "tsa", 0)
	const workers, each = 8, 500
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			prev := uint64(0)
			for range each {
				n, err := s.NextSerial(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				v := n.Uint64()
				if v <= prev || v == 0 {
					t.Errorf("serial %d after %d in one goroutine", v, prev)
				}
				prev = v
				mu.Lock()
				if seen[v] {
					t.Errorf("serial %d handed out twice", v)
				}
				seen[v] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != workers*each {
		t.Fatalf("%d unique serials, want %d", len(seen), workers*each)
	}
}
