// Command bench measures an OCSP responder starting on 1,000,000
// certificates in PostgreSQL: the time to its first answer, the time until
// every response is pre-signed, and the process's resident memory before
// and after. It starts a throwaway PostgreSQL (internal/pgtest), loads the
// certificates with COPY (store/postgres's Load; 1 % revoked, small
// placeholder DER, which the responder does not read), and runs the
// responder as 'oces serve --only ocsp' wires it, with a CA on the same
// store issuing its delegated certificate and keys in memory.
//
//	go run ./store/postgres/bench              # 1,000,000 certificates
//	go run ./store/postgres/bench -n 100000
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"flag"
	"fmt"
	"log"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/internal/pgtest"
	"github.com/oces-pki/oces/ocsp"
	"github.com/oces-pki/oces/store/postgres"
)

func main() {
	n := flag.Int("n", 1_000_000, "certificates")
	flag.Parse()
	log.SetFlags(0)
	ctx := context.Background()
	srv, err := pgtest.Start()
	must(err)
	defer srv.Stop()
	dsn := srv.DSN("")

	// 1. The hierarchy and n certificates, loaded with COPY.
	rootKey, issuingKey := p256(), p256()
	root, issuing := hierarchy(rootKey, issuingKey)
	db, err := postgres.Open(ctx, dsn, postgres.Options{})
	must(err)
	start := time.Now()
	serials := load(ctx, db, *n)
	fmt.Printf("loaded %d certificates in %.1fs\n", *n, time.Since(start).Seconds())
	must(db.Close())
	runtime.GC()
	debug.FreeOSMemory()
	before := rss()

	// 2. The responder, as a fresh 'oces serve --only ocsp' would start.
	start = time.Now()
	db, err = postgres.Open(ctx, dsn, postgres.Options{NoMigrate: true})
	must(err)
	defer db.Close()
	authority, err := ca.New(ctx, ca.Config{
		Issuers: []*ca.Issuer{{Name: "issuing-1", Certificate: issuing, Chain: []*x509.Certificate{root}, Signer: issuingKey}},
		BaseURL: "http://127.0.0.1", Certificates: db, Registry: db, Hasher: hasher("bench"),
	})
	must(err)
	r, err := ocsp.New(ctx, ocsp.Config{
		Issuers: []ocsp.IssuerConfig{{Name: "issuing-1", Certificate: issuing, ResponderKey: "pkcs11:object=bench"}},
		Source:  db, Authority: authority, Keys: &memKeys{}, Audit: db,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	must(err)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = r.Run(runCtx) }()
	web := httptest.NewServer(r.Handler())
	defer web.Close()
	rng := mrand.New(mrand.NewPCG(1, 2))
	var first time.Duration
	for first == 0 {
		s := serials[rng.IntN(len(serials))]
		req, err := xocsp.CreateRequest(&x509.Certificate{SerialNumber: s.Big()}, issuing, nil)
		must(err)
		resp, err := http.Get(web.URL + "/ocsp/" + base64.StdEncoding.EncodeToString(req))
		if err == nil {
			body := make([]byte, 8192)
			k, _ := resp.Body.Read(body)
			resp.Body.Close()
			if parsed, err := xocsp.ParseResponseForCert(body[:k], &x509.Certificate{SerialNumber: s.Big()}, issuing); err == nil && parsed.Status != xocsp.Unknown {
				first = time.Since(start)
				break
			}
		}
		time.Sleep(time.Millisecond)
	}
	for !r.Ready() {
		time.Sleep(10 * time.Millisecond)
	}
	ready := time.Since(start)
	after := rss()
	fmt.Printf("responder on %d certificates in PostgreSQL: first answer after %s, all pre-signed after %.1fs\n",
		*n, first.Round(time.Millisecond), ready.Seconds())
	fmt.Printf("RSS: %d MiB before the responder, %d MiB with every response pre-signed (%d bytes per certificate)\n",
		before>>20, after>>20, (after-before)/uint64(*n))
}

// load puts n good certificates, 1 % of them revoked, into db.
func load(ctx context.Context, db *postgres.DB, n int) []ca.Serial {
	l, err := db.BeginLoad(ctx)
	must(err)
	now := time.Now().UTC().Truncate(time.Second)
	serials := make([]ca.Serial, n)
	der := []byte{0x30, 0x03, 0x02, 0x01, 0x01} // a placeholder: the responder reads records, not DER
	for i := range serials {
		var s ca.Serial
		_, _ = rand.Read(s[:])
		s[0] = s[0]&0x7f | 1
		serials[i] = s
		c := &ca.Certificate{Serial: s, CA: "issuing-1", Profile: "poces", SubjectID: "PID:9208-2002-2-000000000001",
			NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(3, 0, 0), IssuedAt: now.Add(-time.Hour), Status: ca.StatusGood, DER: der}
		if i%100 == 0 {
			c.Status, c.Reason, c.StatusChanged, c.RevokedAt = ca.StatusRevoked, ca.ReasonKeyCompromise, now, now
		}
		must(l.Certificate(ctx, c))
	}
	must(l.Issued(ctx, "issuing-1", uint64(n)))
	must(l.Commit(ctx))
	return serials
}

func hierarchy(rootKey, issuingKey crypto.Signer) (root, issuing *x509.Certificate) {
	now := time.Now().Add(-2 * time.Hour)
	root, err := ca.CreateCACertificate(ca.CACertRequest{
		Subject:   ca.CAName{Country: "DK", Organization: "OCES PKI Bench", CommonName: "OCES PKI Bench Root CA"},
		PublicKey: rootKey.Public(), IssuerSigner: rootKey, NotBefore: now, Validity: 10 * 365 * 24 * time.Hour,
	})
	must(err)
	issuing, err = ca.CreateCACertificate(ca.CACertRequest{
		Subject:   ca.CAName{Country: "DK", Organization: "OCES PKI Bench", CommonName: "OCES PKI Bench Issuing CA"},
		PublicKey: issuingKey.Public(), Issuer: root, IssuerSigner: rootKey, IssuerName: "root",
		BaseURL: "http://127.0.0.1", NotBefore: now, Validity: 5 * 365 * 24 * time.Hour,
	})
	must(err)
	return root, issuing
}

func p256() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	return k
}

type hasher []byte

func (h hasher) MAC(_ context.Context, data []byte) ([]byte, error) {
	m := hmac.New(sha256.New, h)
	m.Write(data)
	return m.Sum(nil), nil
}

// memKeys holds the responder key in memory.
type memKeys struct{ key *ecdsa.PrivateKey }

func (m *memKeys) Signer(context.Context, string) (crypto.Signer, error) {
	if m.key == nil {
		return nil, ocsp.ErrKeyNotFound
	}
	return m.key, nil
}

func (m *memKeys) GenerateKey(context.Context, string) (crypto.Signer, error) {
	m.key = p256()
	return m.key, nil
}

// rss is the process's resident set size, from /proc/self/status.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	must(err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb uint64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
