package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/oces-pki/oces/api"
	"github.com/oces-pki/oces/audit"
)

// 'oces audit verify' checks the chain offline, on a copy of the store
// (the server stopped), or live, through the admin API of a running CA
// (--live): the records come page by page as stored and are checked here,
// with the audit key the officer holds (--audit-key, the public key that
// 'oces ceremony audit-key --public-key' wrote), so that the server is not
// trusted. A witness file (--witness) remembers the end of the last chain
// verified; the next run fails if that record is gone or changed, which
// is how a truncation after the last checkpoint, or a rewritten tail,
// shows.

type auditVerifyFlags struct {
	configPath, keyFile, witness string
	anchors, tsaRoots            string
	live                         bool
	api                          certCommand
}

func newAuditVerifyCommand(g *globals) *cobra.Command {
	f := &auditVerifyFlags{api: certCommand{g: g}}
	cmd := &cobra.Command{
		Use:   "verify [--live] [--audit-key FILE] [--witness FILE]",
		Short: "Recompute the whole chain and check every checkpoint signature; name the first broken record",
		Long: `Recomputes every record's hash and link and checks each checkpoint's signature with
the audit key. Exits 0 when the chain is intact; otherwise names the first broken record
and exits 1.

Offline (the default) it reads the store named in the configuration: stop the server
first, or point --config at a copy of the database. With --live it reads the chain of
the running CA through the admin API as a CA officer (--api, --cert, --key, as for the
cert commands) and checks it here, trusting the server for nothing.

The audit key is --audit-key (a PEM public key or certificate, as 'oces ceremony
audit-key --public-key' writes it), else offline the configured audit.key in the HSM;
live without it, the key recorded in the first checkpoint is used and its fingerprint
printed, to compare with the one recorded at the key ceremony.

--witness FILE keeps the last record verified (number and hash): a later run fails if
the chain no longer holds that record with that hash, so a chain cut back or rewritten
after its last checkpoint is found. Keep the file off the CA's machines.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return f.run(cmd, g) },
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.configPath, "config", "c", envOr("OCES_CONFIG", defaultConfig), "server configuration (offline)")
	fl.BoolVar(&f.live, "live", false, "verify the running CA's chain through the admin API")
	fl.StringVar(&f.keyFile, "audit-key", "", "the audit key: PEM public key or certificate")
	fl.StringVar(&f.witness, "witness", "", "file with the last record verified, checked and then updated")
	fl.StringVar(&f.anchors, "anchors", "", "directory of checkpoint time-stamps (audit.anchor_dir): the chain must reach the newest")
	fl.StringVar(&f.tsaRoots, "tsa-roots", "", "with --anchors: PEM certificates the TSA's tokens chain to")
	f.api.addFlags(fl)
	return cmd
}

func (f *auditVerifyFlags) run(cmd *cobra.Command, g *globals) error {
	var pub crypto.PublicKey
	if f.keyFile != "" {
		var err error
		if pub, err = readPublicKey(f.keyFile); err != nil {
			return usagef("--audit-key: %v", err)
		}
	}
	w, err := readWitness(f.witness)
	if err != nil {
		return err
	}
	var anchor *anchorCheck
	if f.anchors != "" {
		if anchor, err = newestAnchor(f.anchors, f.tsaRoots); err != nil { // anchor.go
			return err
		}
	}
	ctx := cmd.Context()
	var rep *audit.Report
	if f.live {
		f.api.cmd = cmd
		err = f.api.call(cmd, func(cl *api.Client) error {
			var verr error
			rep, verr = verifyWithWitness(ctx, &api.AuditSource{Client: cl}, pub, w, anchor)
			return verr
		})
	} else {
		cfg, lerr := loadConfig(f.configPath)
		if lerr != nil {
			return lerr
		}
		err = withApp(ctx, cfg, func(a *app) error {
			if pub == nil && cfg.Audit.Key != "" {
				signer, err := a.hsm.Signer(ctx, cfg.Audit.Key)
				if err != nil {
					return fmt.Errorf("opening audit.key: %w", err)
				}
				pub = signer.Public()
			}
			var verr error
			rep, verr = verifyWithWitness(ctx, a.store, pub, w, anchor)
			return verr
		})
	}
	if err != nil {
		return err
	}
	if err := writeWitness(f.witness, rep); err != nil {
		return err
	}
	keyNote := rep.KeyFingerprint
	if rep.KeyFromChain {
		keyNote += " (from the chain: compare it with the key ceremony's record)"
	}
	return g.printer(cmd.OutOrStdout()).print(rep, func(w io.Writer) error {
		return fields(w, "chain", "intact", "records", fmt.Sprint(rep.Records), "checkpoints", fmt.Sprint(rep.Checkpoints),
			"signed up to", fmt.Sprint(rep.Signed), "after last checkpoint", fmt.Sprint(rep.Unsigned),
			"head", rep.Head.String(), "audit key", keyNote)
	})
}

// witness is the end of the chain verified last time.
type witness struct {
	seq  uint64
	hash audit.Hash
}

// errWitness: the chain no longer holds the record the witness names.
var errWitness = errors.New("audit: the chain does not hold the record verified last time: it was cut back or rewritten")

// verifyWithWitness is audit.Verify that also requires the chain to hold
// the witness's record, unchanged, and the newest anchored checkpoint.
func verifyWithWitness(ctx context.Context, src audit.Source, pub crypto.PublicKey, w *witness, anchor *anchorCheck) (*audit.Report, error) {
	ws := &witnessSource{src: src, w: w}
	if anchor != nil {
		ws.anchorSeq = anchor.seq
	}
	rep, err := audit.Verify(ctx, ws, pub)
	if err != nil {
		return rep, err
	}
	if w != nil && !ws.seen {
		return rep, fmt.Errorf("%w (record %d; the chain ends at %d)", errWitness, w.seq, rep.LastSeq)
	}
	if anchor != nil {
		if !ws.anchorSeen {
			return rep, fmt.Errorf("%w (checkpoint record %d, time-stamped %s; the chain ends at %d)", errAnchor, anchor.seq,
				anchor.when.Format(time.RFC3339), rep.LastSeq)
		}
		if !bytes.Equal(audit.AnchorDigest(anchor.seq, ws.anchorHash), anchor.digest) {
			return rep, fmt.Errorf("%w (record %d is not the checkpoint time-stamped %s)", errAnchor, anchor.seq, anchor.when.Format(time.RFC3339))
		}
	}
	return rep, nil
}

// witnessSource passes the records on, compares the witness's record and
// keeps the hash of the anchored one.
type witnessSource struct {
	src        audit.Source
	w          *witness
	seen       bool
	anchorSeq  uint64
	anchorHash audit.Hash
	anchorSeen bool
}

func (s *witnessSource) AuditRecords(ctx context.Context, from uint64, fn func(uint64, []byte) error) error {
	return s.src.AuditRecords(ctx, from, func(seq uint64, data []byte) error {
		if s.w != nil && seq == s.w.seq {
			if len(data) < 32 || !bytes.Equal(data[len(data)-32:], s.w.hash[:]) {
				return fmt.Errorf("%w (record %d has another hash)", errWitness, seq)
			}
			s.seen = true
		}
		if seq == s.anchorSeq && s.anchorSeq != 0 && len(data) >= 32 {
			copy(s.anchorHash[:], data[len(data)-32:])
			s.anchorSeen = true
		}
		return fn(seq, data)
	})
}

// readWitness reads "seq hash" from path; no file is no witness.
func readWitness(path string) (*witness, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, usagef("--witness: %v", err)
	}
	fields := strings.Fields(string(data))
	var w witness
	if len(fields) != 2 {
		return nil, usagef("--witness %s: want \"<record> <hash>\"", path)
	}
	if w.seq, err = strconv.ParseUint(fields[0], 10, 64); err != nil || w.seq == 0 {
		return nil, usagef("--witness %s: bad record number %q", path, fields[0])
	}
	h, err := hex.DecodeString(fields[1])
	if err != nil || len(h) != len(w.hash) {
		return nil, usagef("--witness %s: bad hash %q", path, fields[1])
	}
	copy(w.hash[:], h)
	return &w, nil
}

// writeWitness replaces the witness with the head just verified.
func writeWitness(path string, rep *audit.Report) error {
	if path == "" || rep.LastSeq == 0 {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d %s\n", rep.LastSeq, rep.Head), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// readPublicKey reads a PEM public key (PKIX) or the key of a PEM
// certificate.
func readPublicKey(path string) (crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	switch {
	case block == nil:
		return nil, errors.New("no PEM block")
	case block.Type == "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(block.Bytes)
	case block.Type == "CERTIFICATE":
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		return c.PublicKey, nil
	}
	return nil, fmt.Errorf("a PEM %q is neither a PUBLIC KEY nor a CERTIFICATE", block.Type)
}

// writePublicKey writes pub as a PEM public key, never over a file.
func writePublicKey(path string, pub crypto.PublicKey) error {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if err := pem.Encode(f, &pem.Block{Type: "PUBLIC KEY", Bytes: der}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
