package crl

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ARLRequest describes the authority revocation list of the offline root:
// a CRL of the CA certificates the root has revoked, made in a key ceremony
// (`oces crl generate --ca root`).
type ARLRequest struct {
	Root   *x509.Certificate
	Signer crypto.Signer // the root's key, in the HSM
	// Revoked lists the revoked CA certificates; it may be empty.
	Revoked []Entry
	// Number is the cRLNumber; it must exceed that of every earlier ARL
	// (the ceremony record keeps it).
	Number     *big.Int
	ThisUpdate time.Time
	NextUpdate time.Time
	// URL, when set, is where the ARL is published, as the issuing CA
	// certificates name it in their CRL distribution points
	// (<base>/crl/root.crl). The ARL then carries a critical
	// issuingDistributionPoint with that URL and onlyContainsCACerts.
	URL  string
	Rand io.Reader // crypto/rand when nil
}

// GenerateARL signs the root's ARL and returns its DER. Times are
// truncated to the second.
func GenerateARL(ctx context.Context, req ARLRequest) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("crl: generating ARL: %w", err)
	}
	if req.Root == nil || !req.Root.IsCA {
		return nil, errors.New("crl: generating ARL: the root must be a CA certificate")
	}
	if req.Number == nil {
		return nil, errors.New("crl: generating ARL: a CRL number is required")
	}
	t := &Template{
		Number:     req.Number,
		ThisUpdate: req.ThisUpdate.UTC().Truncate(time.Second),
		NextUpdate: req.NextUpdate.UTC().Truncate(time.Second),
		Entries:    req.Revoked,
	}
	if req.URL != "" {
		t.IssuingDistributionPoint = &DistributionPoint{URIs: []string{req.URL}, OnlyContainsCACerts: true}
	}
	der, err := Create(req.Rand, t, req.Root, req.Signer)
	if err != nil {
		return nil, fmt.Errorf("crl: generating ARL: %w", err)
	}
	return der, nil
}

// IssueARL makes the next ARL of an offline CA in a key ceremony and
// writes it to path: the CRL number kept in path+".number" is increased
// and written (durably, before anything is signed, so that a number is
// never used twice), the ARL signed with it, and written in its turn. Each
// file is replaced atomically: temporary file, fsync, rename, fsync of the
// directory. req.Number is ignored. It returns the ARL and its number.
func IssueARL(ctx context.Context, path string, req ARLRequest) ([]byte, *big.Int, error) {
	number, err := nextARLNumber(path + ".number")
	if err != nil {
		return nil, nil, err
	}
	req.Number = number
	der, err := GenerateARL(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	if err := writeAtomic(path, der); err != nil {
		return nil, nil, err
	}
	return der, number, nil
}

// nextARLNumber increments the CRL number kept in path and returns it.
func nextARLNumber(path string) (*big.Int, error) {
	n := new(big.Int)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if _, ok := n.SetString(strings.TrimSpace(string(data)), 10); !ok || n.Sign() < 0 {
			return nil, fmt.Errorf("crl: %s does not hold a CRL number", path)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("crl: reading the ARL number: %w", err)
	}
	n.Add(n, big.NewInt(1))
	if err := writeAtomic(path, []byte(n.String()+"\n")); err != nil {
		return nil, err
	}
	return n, nil
}

// ARLHandler serves the ARL in a file, at whatever path it is mounted.
// A new ARL written there (by IssueARL, or copied from the ceremony
// machine with a rename) is served from the next request on, without a
// restart; a file that is not a CRL is refused, and the last good one
// served meanwhile.
type ARLHandler struct {
	path string
	log  *slog.Logger
	mu   sync.Mutex
	info os.FileInfo
	cur  atomic.Pointer[arlDoc]
}

type arlDoc struct {
	der        []byte
	etag       string
	thisUpdate time.Time
	nextUpdate time.Time
}

// NewARLHandler reads the ARL at path, which must be there and parse.
func NewARLHandler(path string, log *slog.Logger) (*ARLHandler, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &ARLHandler{path: path, log: log}
	if err := h.reload(); err != nil {
		return nil, err
	}
	return h, nil
}

// reload reads the file if it changed since the last reading.
func (h *ARLHandler) reload() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	fi, err := os.Stat(h.path)
	if err != nil {
		return fmt.Errorf("crl: reading ARL: %w", err)
	}
	if h.info != nil && os.SameFile(fi, h.info) && fi.ModTime().Equal(h.info.ModTime()) && fi.Size() == h.info.Size() {
		return nil
	}
	data, err := os.ReadFile(h.path)
	if err != nil {
		return fmt.Errorf("crl: reading ARL: %w", err)
	}
	info, err := Show(data)
	if err != nil {
		return fmt.Errorf("crl: ARL %s: %w", h.path, err)
	}
	if h.cur.Load() != nil {
		h.log.Info("crl: serving a new ARL", "file", h.path, "number", info.Number)
	}
	sum := sha256.Sum256(data)
	h.cur.Store(&arlDoc{der: data, etag: `"` + hex.EncodeToString(sum[:16]) + `"`,
		thisUpdate: info.ThisUpdate, nextUpdate: info.NextUpdate})
	h.info = fi
	return nil
}

// ServeHTTP serves the current ARL with RFC 9111 caching headers.
func (h *ARLHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.reload(); err != nil {
		h.log.Error("crl: keeping the ARL served so far", "file", h.path, "err", err)
	}
	d := h.cur.Load()
	w.Header().Set("Content-Type", "application/pkix-crl")
	w.Header().Set("ETag", d.etag)
	if !d.nextUpdate.IsZero() {
		w.Header().Set("Expires", d.nextUpdate.UTC().Format(http.TimeFormat))
		w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", max(0, int(time.Until(d.nextUpdate).Seconds()))))
	}
	http.ServeContent(w, r, "", d.thisUpdate, bytes.NewReader(d.der))
}
