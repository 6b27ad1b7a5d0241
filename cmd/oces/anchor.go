package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ceremony"
	"github.com/oces-pki/oces/internal/conf"
	"github.com/oces-pki/oces/tsa"
)

// Checkpoint anchors: every audit checkpoint is time-stamped by the TSA
// (RFC 3161) and the token is written to audit.anchor_dir, outside the
// store (another disk, a mounted share, a WORM bucket): a verifier given
// the directory requires the chain to hold the newest token's checkpoint,
// so a chain cut back after it is found (audit/anchor.go).

// tsaAnchor time-stamps checkpoints at a TSA and keeps the tokens in dir.
type tsaAnchor struct {
	url, dir string
	client   *http.Client
}

var _ audit.Anchorer = (*tsaAnchor)(nil)

// anchorName is the file of the token over checkpoint record seq.
func anchorName(seq uint64) string { return fmt.Sprintf("%020d.tst", seq) }

func (a *tsaAnchor) Anchor(ctx context.Context, seq uint64, h audit.Hash) error {
	tok, err := tsa.Query(ctx, a.client, a.url, audit.AnchorDigest(seq, h), crypto.SHA256, tsa.QueryOptions{})
	if err != nil {
		return fmt.Errorf("time-stamping checkpoint %d at %s: %w", seq, a.url, err)
	}
	path := filepath.Join(a.dir, anchorName(seq))
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, tok.Raw, 0o644); err != nil {
		return err
	}
	f, err := os.Open(tmp)
	if err == nil {
		err = f.Sync()
		f.Close()
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		if d, derr := os.Open(a.dir); derr == nil {
			err = d.Sync()
			d.Close()
		}
	}
	return err
}

// newAnchor is the configured anchor, or nil.
func newAnchor(cfg *Config) (audit.Anchorer, error) {
	if cfg.Audit.AnchorDir == "" {
		return nil, nil
	}
	dir := resolve(cfg, cfg.Audit.AnchorDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, cfg.startError("audit.anchor_dir", err)
	}
	url := cfg.Audit.AnchorTSAURL
	if url == "" {
		url = cfg.tsaURL()
	}
	return &tsaAnchor{url: url, dir: dir, client: &http.Client{Timeout: 10 * time.Second}}, nil
}

func (c *Config) validateAnchor() error {
	a := c.Audit
	switch {
	case a.AnchorDir == "" && a.AnchorTSAURL != "":
		return conf.Errorf("audit.anchor_tsa_url", "only with audit.anchor_dir")
	case a.AnchorDir == "":
		return nil
	case a.Key == "":
		return conf.Errorf("audit.anchor_dir", "anchors time-stamp checkpoints: set audit.key too")
	case a.AnchorTSAURL != "" && !strings.HasPrefix(a.AnchorTSAURL, "http://") && !strings.HasPrefix(a.AnchorTSAURL, "https://"):
		return conf.Errorf("audit.anchor_tsa_url", "must be an http(s) URL, got %q", a.AnchorTSAURL)
	case a.AnchorTSAURL == "" && c.tsaURL() == "":
		return conf.Errorf("audit.anchor_tsa_url", "required when this server runs no TSA (tsa.key) and signer.tsa_url is not set")
	}
	return nil
}

// anchorCheck is the newest anchor in a directory, as a verifier reads it.
type anchorCheck struct {
	seq    uint64
	digest []byte
	when   time.Time
}

// errAnchor: the chain does not reach the newest anchored checkpoint.
var errAnchor = errors.New("audit: the chain does not hold the newest time-stamped checkpoint: it was cut back or rewritten")

// newestAnchor reads the newest token in dir and verifies it against the
// TSA roots in rootsFile.
func newestAnchor(dir, rootsFile string) (*anchorCheck, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, usagef("--anchors: %v", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tst") {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	sort.Strings(names)
	name := names[len(names)-1]
	seq, err := strconv.ParseUint(strings.TrimSuffix(name, ".tst"), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("--anchors: %s is not named by a record number", name)
	}
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	tok, err := tsa.ParseToken(data)
	if err != nil {
		return nil, fmt.Errorf("anchor %s: %w", name, err)
	}
	if rootsFile == "" {
		return nil, usagef("--anchors needs --tsa-roots: the CA certificates the TSA's tokens chain to")
	}
	certs, err := ceremony.ReadCertificates(rootsFile)
	if err != nil {
		return nil, usagef("--tsa-roots: %v", err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range certs {
		if c.CheckSignatureFrom(c) == nil {
			roots.AddCert(c)
		} else {
			inter.AddCert(c)
		}
	}
	if err := tok.Verify(roots, inter); err != nil {
		return nil, fmt.Errorf("anchor %s: %w", name, err)
	}
	if tok.HashAlgorithm != crypto.SHA256 {
		return nil, fmt.Errorf("anchor %s: imprint is not SHA-256", name)
	}
	return &anchorCheck{seq: seq, digest: tok.HashedMessage, when: tok.GenTime}, nil
}
