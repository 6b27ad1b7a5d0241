package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/oces-pki/oces/api"
	"github.com/oces-pki/oces/ca"
)

// The load of the reliability tests (issue 15, parts 3, 4 and 6): workers
// that issue certificates and revoke every third one through the admin
// API, recording what the server acknowledged and how it refused.

// acks is what the clients were told: every certificate they received and
// every revocation that was confirmed, and the status of every refusal.
type acks struct {
	mu      sync.Mutex
	certs   map[string][]byte // serial -> DER as received
	revoked map[string]bool   // confirmed revocations
	refused map[int]int       // HTTP status of refusals; 0: no answer (connection lost, timeout)
	sample  map[int]string    // one message per status
	last    time.Time         // of the last success
}

func newAcks() *acks {
	return &acks{certs: map[string][]byte{}, revoked: map[string]bool{}, refused: map[int]int{}, sample: map[int]string{}}
}

func (a *acks) refuse(err error) {
	code := 0
	var se *api.StatusError
	if errors.As(err, &se) {
		code = se.Status
	} else if m := httpStatusInError(err.Error()); m != 0 {
		code = m
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refused[code]++
	if _, ok := a.sample[code]; !ok {
		a.sample[code] = err.Error()
	}
}

// httpStatusInError reads the status of ErrorOf's "api: HTTP %d" (an
// answer without a JSON message).
func httpStatusInError(s string) int {
	var code int
	if _, err := fmt.Sscanf(s, "api: HTTP %d", &code); err == nil {
		return code
	}
	return 0
}

// refusals formats the refusals by status, with a sample message of each.
func (a *acks) refusals() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	codes := make([]int, 0, len(a.refused))
	for c := range a.refused {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var b strings.Builder
	for _, c := range codes {
		fmt.Fprintf(&b, "%d×%d (%.160s) ", c, a.refused[c], a.sample[c])
	}
	return b.String()
}

func (a *acks) count() (certs, revoked int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.certs), len(a.revoked)
}

// only reports whether every refusal had one of the given statuses.
func (a *acks) only(codes ...int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for c := range a.refused {
		ok := false
		for _, w := range codes {
			ok = ok || c == w
		}
		if !ok {
			return false
		}
	}
	return true
}

// load runs workers that issue and revoke until ctx ends, recording into
// a. Each request has its own timeout, so a hang is a refusal with status
// 0. The returned function waits for the workers.
func load(ctx context.Context, tb testing.TB, e *env, workers int, a *acks) func() {
	tb.Helper()
	csrs := make([]string, 8)
	for i := range csrs {
		csrs[i] = csrPEM(tb)
	}
	var wg sync.WaitGroup
	for w := range workers {
		cl := e.client(e.officer)
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				c, err := cl.Issue(rctx, api.IssueRequest{Profile: "voces", CSR: csrs[(w+i)%len(csrs)], CVR: "12345678", Organization: "Firma A/S"})
				cancel()
				if err != nil {
					if ctx.Err() == nil {
						a.refuse(err)
						time.Sleep(20 * time.Millisecond)
					}
					continue
				}
				b, _ := pem.Decode([]byte(c.PEM))
				if b == nil {
					tb.Errorf("certificate %s without PEM", c.Serial)
					return
				}
				a.mu.Lock()
				if _, dup := a.certs[c.Serial]; dup {
					tb.Errorf("serial %s acknowledged twice", c.Serial)
				}
				a.certs[c.Serial] = b.Bytes
				a.last = time.Now()
				a.mu.Unlock()
				if i%3 != 0 {
					continue
				}
				rctx, cancel = context.WithTimeout(ctx, 15*time.Second)
				_, err = cl.Revoke(rctx, c.Serial, api.RevokeRequest{Reason: "superseded"})
				cancel()
				if err != nil {
					if ctx.Err() == nil {
						a.refuse(err)
					}
					continue
				}
				a.mu.Lock()
				a.revoked[c.Serial] = true
				a.mu.Unlock()
			}
		})
	}
	return wg.Wait
}

// checkAcked checks the server against what its clients were told: every
// acknowledged certificate is stored byte for byte, every confirmed
// revocation is recorded, no serial is listed twice, and OCSP answers for
// every listed serial with a signed response that agrees with the store.
// It returns the number of certificates listed.
func checkAcked(tb testing.TB, e *env, s *served, a *acks) int {
	tb.Helper()
	cl := e.client(e.officer)
	issuer := readCert(tb, e.path("ca/issuing-1.pem"))
	a.mu.Lock()
	defer a.mu.Unlock()
	listed := map[string]bool{}
	for after := ""; ; {
		q := url.Values{"limit": {"500"}}
		if after != "" {
			q.Set("after", after)
		}
		page, err := cl.List(tb.Context(), q)
		if err != nil {
			tb.Fatalf("listing: %v", err)
		}
		for _, c := range page.Certificates {
			if listed[c.Serial] {
				tb.Errorf("serial %s listed twice", c.Serial)
			}
			listed[c.Serial] = true
			if c.Profile == "ocsp-responder" {
				continue
			}
			full, err := cl.Show(tb.Context(), c.Serial)
			if err != nil {
				tb.Errorf("showing %s: %v", c.Serial, err)
				continue
			}
			if der, ok := a.certs[c.Serial]; ok && !bytes.Equal(pemDER(tb, full.PEM), der) {
				tb.Errorf("acknowledged certificate %s: stored with other bytes than the client got", c.Serial)
			}
			if a.revoked[c.Serial] && full.Status != "revoked" {
				tb.Errorf("certificate %s: revocation confirmed, stored as %s", c.Serial, full.Status)
			}
			checkOCSP(tb, s, issuer, *full)
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	for serial := range a.certs {
		if !listed[serial] {
			tb.Errorf("acknowledged certificate %s is not in the listing", serial)
		}
	}
	return len(listed)
}

// checkOCSP asks the responder about c and checks that a signed answer
// comes back whose status is c's.
func checkOCSP(tb testing.TB, s *served, issuer *x509.Certificate, c issued) {
	tb.Helper()
	leaf, err := x509.ParseCertificate(pemDER(tb, c.PEM))
	if err != nil {
		tb.Errorf("certificate %s: %v", c.Serial, err)
		return
	}
	req, err := xocsp.CreateRequest(leaf, issuer, &xocsp.RequestOptions{Hash: crypto.SHA1})
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := quick.Post("http://"+s.public+"/ocsp", "application/ocsp-request", bytes.NewReader(req))
	if err != nil {
		tb.Errorf("OCSP for %s: %v", c.Serial, err)
		return
	}
	der, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r, err := xocsp.ParseResponseForCert(der, leaf, issuer)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Errorf("OCSP for %s: %s, %v", c.Serial, resp.Status, err)
		return
	}
	want := map[ca.Status]int{ca.StatusGood: xocsp.Good, ca.StatusRevoked: xocsp.Revoked, ca.StatusSuspended: xocsp.Revoked}[c.Status]
	if r.Status != want {
		tb.Errorf("OCSP for %s (%s in the store): status %d", c.Serial, c.Status, r.Status)
	}
}
