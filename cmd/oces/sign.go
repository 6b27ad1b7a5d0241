package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/oces-pki/oces/api"
	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/cades"
	"github.com/oces-pki/oces/ceremony"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/revocation"
	"github.com/oces-pki/oces/signer"
)

// signCommand holds what `oces sign` and `oces sign extend` share: where
// the TSA, the trust anchors and the audit chain are.
type signCommand struct {
	g                    *globals
	configPath, tsaURL   string
	trust, level, format string
	noAudit              bool
	officer              certCommand
}

func newSignCommand(g *globals) *cobra.Command {
	sc := &signCommand{g: g, officer: certCommand{g: g}}
	var in, out, key, chainFile, hash, reason, location, contact, visible string
	var pss bool
	var certify int
	cmd := &cobra.Command{
		Use:   "sign --in FILE --out FILE --key URI --cert CHAIN [--level B-LTA] [--format pades|cades]",
		Short: "Sign a PDF (PAdES) or any file (detached CAdES) with a key in the HSM",
		Long: `Signs with a key that stays in the HSM, at a baseline level of ETSI EN 319 122-1
(CAdES) or EN 319 142-1 (PAdES): B-B, B-T (time-stamped), B-LT (with the chains and
revocation data needed to validate it later) or B-LTA (archive time-stamp on top).

The time-stamp authority is --tsa, or the configuration's (signer.tsa_url, or this
installation's own TSA); revocation data comes from the URLs in the certificates.
Each use of the key is recorded in the audit chain: in the store when it is free,
else through the running server's admin API with the officer credential.`,
		Example: `  oces sign --in contract.pdf --out signed.pdf --level B-LTA \
    --key 'pkcs11:token=oces-dev;object=seal?pin-source=var/hsm/pin' --cert seal-chain.pem
  oces sign --format cades --in data.bin --out data.p7s --key URI --cert seal-chain.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if in == "" || out == "" {
				return usagef("--in and --out are required")
			}
			if !strings.HasPrefix(key, "pkcs11:") {
				return usagef("--key must be the PKCS#11 URI of the signing key (pkcs11:token=…;object=…?pin-source=…)")
			}
			if chainFile == "" {
				return usagef("--cert is required: the signing certificate and its chain, PEM")
			}
			chain, err := ceremony.ReadCertificates(chainFile)
			if err != nil {
				return usagef("reading --cert: %v", err)
			}
			level, err := signer.ParseLevel(sc.level)
			if err != nil {
				return usagef("--level: %v", err)
			}
			h, err := signer.ParseHash(hash)
			if err != nil {
				return usagef("--hash: %v", err)
			}
			req := signer.Request{Level: level, Hash: h, PSS: pss, Reason: reason, Location: location, ContactInfo: contact, Certify: certify}
			if visible != "" {
				if req.Visible, err = api.ParseVisible(visible); err != nil {
					return usagef("--visible: %v", err)
				}
			}
			data, err := os.ReadFile(in)
			if err != nil {
				return usagef("reading --in: %v", err)
			}
			format := sc.format
			if format == "" {
				format = "cades"
				if bytes.HasPrefix(data, []byte("%PDF-")) || strings.EqualFold(filepath.Ext(in), ".pdf") {
					format = "pades"
				}
			}
			if format != "pades" && format != "cades" {
				return usagef("--format must be pades or cades, not %q", format)
			}
			return sc.run(cmd, chain, func(ctx context.Context, svc *signer.Service, hm *hsm.HSM, actor audit.Actor) ([]byte, error) {
				k, err := hm.Signer(ctx, key)
				if err != nil {
					return nil, fmt.Errorf("opening --key: %w", err)
				}
				req.Seal = &signer.Seal{Name: "key " + redactURI(key), Key: k, Chain: chain}
				req.Actor = actor
				if format == "cades" {
					return svc.SignCAdES(ctx, req, data)
				}
				return svc.SignPDF(ctx, req, data)
			}, out, format)
		},
	}
	f := cmd.Flags()
	f.StringVar(&in, "in", "", "the document to sign")
	f.StringVar(&out, "out", "", "where to write the signed PDF or the detached signature (.p7s)")
	f.StringVar(&key, "key", "", "PKCS#11 URI of the signing key")
	f.StringVar(&chainFile, "cert", "", "the signing certificate and its chain, PEM")
	f.StringVar(&hash, "hash", "sha256", "digest: sha256, sha384 or sha512")
	f.BoolVar(&pss, "pss", false, "RSA-PSS instead of PKCS#1 v1.5 (RSA keys)")
	f.StringVar(&reason, "reason", "", "PAdES: the reason for signing")
	f.StringVar(&location, "location", "", "PAdES: where it was signed")
	f.StringVar(&contact, "contact", "", "PAdES: the signer's contact information")
	f.StringVar(&visible, "visible", "", "PAdES: a visible stamp at PAGE,LLX,LLY,URX,URY (points), e.g. 1,50,50,300,120")
	f.IntVar(&certify, "certify", 0, "PAdES: make a certification signature with DocMDP permission 1, 2 or 3")
	sc.flags(cmd, "B-LTA")
	cmd.AddCommand(sc.extend())
	return cmd
}

func (sc *signCommand) flags(cmd *cobra.Command, level string) {
	f := cmd.Flags()
	f.StringVar(&sc.level, "level", level, "B-B, B-T, B-LT or B-LTA")
	f.StringVar(&sc.format, "format", "", "pades or cades (default: pades for PDF files)")
	f.StringVar(&sc.tsaURL, "tsa", "", "RFC 3161 time-stamp authority URL (default: from the configuration)")
	f.StringVar(&sc.trust, "trust", "", "PEM file of the roots time-stamp tokens must chain to (default: from the configuration, else the root in --cert)")
	f.StringVarP(&sc.configPath, "config", "c", envOr("OCES_CONFIG", defaultConfig), "server configuration, for the TSA, trust and audit chain (env OCES_CONFIG)")
	f.BoolVar(&sc.noAudit, "no-audit", false, "sign outside an OCES installation, without an audit record")
	f.StringVar(&sc.officer.apiURL, "api", envOr("OCES_API", "https://127.0.0.1:8443"), "admin API, for the audit record when the server runs (env OCES_API)")
	f.StringVar(&sc.officer.cert, "officer-cert", envOr("OCES_CERT", "var/officer/officer.pem"), "officer certificate for the admin API (env OCES_CERT)")
	f.StringVar(&sc.officer.key, "officer-key", envOr("OCES_KEY", "var/officer/officer.key"), "officer key for the admin API (env OCES_KEY)")
	f.StringVar(&sc.officer.keyPass, "officer-key-passphrase-file", "", "passphrase file of an encrypted --officer-key (env "+keyPassphraseEnv+"; default: prompt)")
	f.StringVar(&sc.officer.root, "ca-file", envOr("OCES_CA_FILE", "var/ca/root.pem"), "CA certificate to trust for the admin API (env OCES_CA_FILE)")
}

func (sc *signCommand) extend() *cobra.Command {
	x := &signCommand{g: sc.g, officer: certCommand{g: sc.g}}
	var out, content string
	cmd := &cobra.Command{
		Use:   "extend [--level B-LTA] [--out FILE] FILE",
		Short: "Raise the signatures of a signed PDF or CAdES file to B-T, B-LT or B-LTA",
		Long: `Adds what a higher level needs to existing signatures, ours or anyone's: a time-stamp
(B-T), the chains and revocation data of every signature and time-stamp (B-LT),
and an archive time-stamp (B-LTA). Run on a B-LTA file, it adds a fresh archive
time-stamp over everything (renewal). Without --out the file is replaced.
A detached CAdES signature (.p7s) needs the signed data: --content FILE.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			level, err := signer.ParseLevel(x.level)
			if err != nil {
				return usagef("--level: %v", err)
			}
			if level < cades.LevelBT {
				return usagef("--level: a signature is extended to B-T, B-LT or B-LTA")
			}
			in := args[0]
			data, err := os.ReadFile(in)
			if err != nil {
				return usagef("reading %s: %v", in, err)
			}
			if out == "" {
				out = in
			}
			isPDF := bytes.HasPrefix(data, []byte("%PDF-"))
			var detached []byte
			if !isPDF {
				if content == "" {
					return usagef("%s is not a PDF; for a detached CAdES signature give the signed data with --content", in)
				}
				if detached, err = os.ReadFile(content); err != nil {
					return usagef("reading --content: %v", err)
				}
			}
			format := map[bool]string{true: "pades", false: "cades"}[isPDF]
			return x.run(cmd, nil, func(ctx context.Context, svc *signer.Service, _ *hsm.HSM, actor audit.Actor) ([]byte, error) {
				req := signer.ExtendRequest{Level: level, Actor: actor}
				if !isPDF {
					return svc.ExtendCAdES(ctx, req, data, detached)
				}
				return svc.ExtendPDF(ctx, req, data)
			}, out, format)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "where to write the result (default: replace FILE)")
	cmd.Flags().StringVar(&content, "content", "", "the signed data of a detached CAdES signature")
	x.flags(cmd, "B-LTA")
	return cmd
}

type signFunc func(ctx context.Context, svc *signer.Service, h *hsm.HSM, actor audit.Actor) ([]byte, error)

// run wires the signing service for one command, runs fn and writes its
// result to out atomically: no output file unless everything succeeded.
func (sc *signCommand) run(cmd *cobra.Command, chain []*x509.Certificate, fn signFunc, out, format string) error {
	ctx := cmd.Context()
	sc.officer.cmd = cmd
	cfg := sc.config()
	tsaURL := sc.tsaURL
	if tsaURL == "" && cfg != nil {
		tsaURL = cfg.tsaURL()
	}
	roots, err := sc.roots(cfg, chain)
	if err != nil {
		return err
	}
	auditor, actor, closeAudit, err := sc.auditor(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeAudit()
	logger := newLogger()
	fetcher := revocation.New(revocation.Config{Logger: logger})
	scfg := signer.Config{Revocation: fetcher, Audit: auditor, Logger: logger, MaxDocumentBytes: 1 << 40}
	if tsaURL != "" {
		scfg.TSA = &signer.TSAClient{URL: tsaURL, Roots: roots, Revocation: fetcher}
	}
	svc, err := signer.New(scfg)
	if err != nil {
		return err
	}
	h := hsm.New(logger)
	defer h.Close()
	start := time.Now()
	result, err := fn(ctx, svc, h, actor)
	if err != nil {
		return err
	}
	if err := writeAtomic(out, result); err != nil {
		return err
	}
	res := struct {
		Out     string `json:"out"`
		Format  string `json:"format"`
		Level   string `json:"level"`
		Bytes   int    `json:"bytes"`
		Seconds string `json:"seconds"`
	}{out, format, sc.level, len(result), fmt.Sprintf("%.2f", time.Since(start).Seconds())}
	return sc.g.printer(cmd.OutOrStdout()).print(res, func(w io.Writer) error {
		return fields(w, "wrote", out, "format", format, "level", strings.ToUpper(sc.level), "bytes", fmt.Sprint(len(result)), "took", res.Seconds+" s")
	})
}

// config loads the configuration if it exists; a missing default file is
// no error (signing outside an installation).
func (sc *signCommand) config() *Config {
	if _, err := os.Stat(sc.configPath); err != nil {
		return nil
	}
	cfg, err := loadConfig(sc.configPath)
	if err != nil {
		return nil
	}
	return cfg
}

// roots are the anchors time-stamp tokens must chain to.
func (sc *signCommand) roots(cfg *Config, chain []*x509.Certificate) (*x509.CertPool, error) {
	if sc.trust != "" {
		certs, err := ceremony.ReadCertificates(sc.trust)
		if err != nil {
			return nil, usagef("reading --trust: %v", err)
		}
		pool := x509.NewCertPool()
		for _, c := range certs {
			pool.AddCert(c)
		}
		return pool, nil
	}
	if cfg != nil {
		if pool, err := cfg.trustAnchors(); err == nil {
			return pool, nil
		}
	}
	pool := x509.NewCertPool()
	n := 0
	for _, c := range chain {
		if revocation.SelfSigned(c) {
			pool.AddCert(c)
			n++
		}
	}
	if n == 0 {
		return nil, nil // the system pool
	}
	return pool, nil
}

// auditor finds where the audit records go: the store if no server holds
// it, else the running server's admin API as the officer.
func (sc *signCommand) auditor(ctx context.Context, cfg *Config) (signer.Auditor, audit.Actor, func(), error) {
	nop := func() {}
	local := audit.Actor{Subject: "oces sign (" + localUser() + ")"}
	if sc.noAudit {
		fmt.Fprintln(os.Stderr, "oces: --no-audit: this signature is recorded in no audit chain")
		return discardAudit{}, local, nop, nil
	}
	if cfg == nil {
		return nil, local, nop, usagef("no configuration at %s: the use of the key must be audited; pass --config, or --no-audit to sign outside an OCES installation", sc.configPath)
	}
	db, err := openAuditStore(ctx, cfg)
	if err == nil {
		return db, local, func() { db.Close() }, nil
	}
	cl, closer, cerr := sc.officer.client(ctx)
	if cerr != nil {
		return nil, local, nop, fmt.Errorf("the store is busy (%v) and the admin API cannot be reached for the audit record: %w", err, cerr)
	}
	return apiAuditor{cl}, local, closer, nil
}

var errStoreBusy = errors.New("the store is held by a running server")

// storeBusy tells, without waiting, whether another process (a running
// server) holds the store's file lock, as bbolt takes it (flock).
func storeBusy(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

func localUser() string {
	name := "unknown user"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}

// apiAuditor records through POST /api/v1/audit/events; the server names
// the officer as actor.
type apiAuditor struct{ c *api.Client }

func (a apiAuditor) AppendAudit(ctx context.Context, events ...audit.Event) error {
	for _, ev := range events {
		if err := a.c.AppendEvent(ctx, api.EventRequest{Action: ev.Action, Target: ev.Target, Outcome: ev.Outcome, Details: ev.Details}); err != nil {
			return err
		}
	}
	return nil
}

type discardAudit struct{}

func (discardAudit) AppendAudit(context.Context, ...audit.Event) error { return nil }
