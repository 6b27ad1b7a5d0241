package main

import (
	"cmp"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/ceremony"
	"github.com/oces-pki/oces/hsm"
)

// The credentials of the services and officers: certificates the issuing CA
// issues to its own admin listener and to the people who drive it. They are
// made with the server stopped (they open the store).

func newOfficerCommand(g *globals) *cobra.Command {
	var configPath, name, cvr, org, keyURI, out, passFile, byCert, byKey, byPass string
	var validity time.Duration
	cmd := &cobra.Command{
		Use:   "officer --name NAME --out DIR [--ra-cvr CVR --org ORG] [--key PKCS11-URI | --passphrase-file FILE] [--by-cert PEM --by-key KEY]",
		Short: "Issue an officer (or registration authority) certificate for the admin API",
		Long: `Issues a client certificate for the admin API. Without --ra-cvr it is a CA officer's
(every operation); with --ra-cvr it is a registration authority's, which may enrol and
suspend MOCES/VOCES/FOCES certificates of that CVR only. The key is made in the HSM
when --key names a PKCS#11 URI, otherwise as a P-256 key in DIR/officer.key (0600),
encrypted (PKCS#8, PBKDF2 and AES-256) under the passphrase read from --passphrase-file
(- for standard input, or a prompt on the terminal).
Writes DIR/officer.pem (certificate and chain). Run it with the server stopped.

Once the CA has an officer, the officer asking for a new credential proves who they
are with their own: --by-cert and --by-key (and --by-key-passphrase-file); the audit
chain names them as the actor. The first officer is issued by the system.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" || out == "" {
				return usagef("--name and --out are required")
			}
			kind := ca.ServiceOfficer
			if cvr != "" {
				kind = ca.ServiceRA
			}
			if passFile == "-" && byPass == "-" {
				return usagef("--passphrase-file and --by-key-passphrase-file cannot both be standard input")
			}
			var passphrase string
			if keyURI == "" {
				var err error
				if passphrase, err = readPrivate(cmd, cmp.Or(passFile, "-"), "passphrase for the new key"); err != nil {
					return err
				}
				if len(passphrase) < minPassphrase {
					return usagef("the passphrase for the new key must be at least %d characters", minPassphrase)
				}
			}
			return withConfiguredApp(cmd.Context(), configPath, func(a *app) error {
				actor, err := askingOfficer(cmd.Context(), cmd, a, byCert, byKey, byPass) // asker.go
				if err != nil {
					return err
				}
				res, err := issueCredential(cmd.Context(), a, credentialRequest{
					kind: kind, name: name, cvr: cvr, org: org, keyURI: keyURI, dir: out, validity: validity,
					passphrase: passphrase, actor: actor,
				})
				if err != nil {
					return err
				}
				return g.printer(cmd.OutOrStdout()).print(res, func(w io.Writer) error {
					return fields(w, "role", string(kind), "certificate", res.Certificate, "key", res.Key, "serial", res.Serial, "SHA-256 fingerprint", res.SHA256)
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&configPath, "config", "c", envOr("OCES_CONFIG", defaultConfig), "server configuration")
	f.StringVar(&name, "name", "", "the officer's name (common name)")
	f.StringVar(&cvr, "ra-cvr", "", "make a registration authority certificate bound to this CVR")
	f.StringVar(&org, "org", "", "organisation of the registration authority")
	f.StringVar(&keyURI, "key", "", "generate the key in the HSM under this PKCS#11 URI instead of a file")
	f.StringVar(&out, "out", "", "directory for officer.pem (and officer.key)")
	f.StringVar(&passFile, "passphrase-file", "", "file holding the passphrase that encrypts officer.key, - for standard input (default: prompt)")
	f.StringVar(&byCert, "by-cert", "", "the asking officer's certificate (PEM), once the CA has an officer")
	f.StringVar(&byKey, "by-key", "", "the asking officer's key: PEM file or PKCS#11 URI")
	f.StringVar(&byPass, "by-key-passphrase-file", "", "file holding the passphrase of --by-key, - for standard input (default: prompt)")
	f.DurationVar(&validity, "validity", 365*24*time.Hour, "certificate validity")
	return cmd
}

func newTLSCommand(g *globals) *cobra.Command {
	var configPath string
	var hosts []string
	cmd := &cobra.Command{
		Use:   "tls --host H [--host H…]",
		Short: "Issue the admin listener's TLS certificate, its key in the HSM (admin.tls_key)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configPath)
			if err != nil {
				return err
			}
			if len(hosts) == 0 {
				return usagef("--host is required: the names and addresses clients use for the admin API")
			}
			return withApp(cmd.Context(), cfg, func(a *app) error {
				res, err := issueCredential(cmd.Context(), a, credentialRequest{
					kind: ca.ServiceTLS, name: "OCES admin API", hosts: hosts, keyURI: cfg.Admin.TLSKey,
					certPath: resolve(cfg, cfg.Admin.TLSCertificate), validity: 365 * 24 * time.Hour,
				})
				if err != nil {
					return err
				}
				return g.printer(cmd.OutOrStdout()).print(res, func(w io.Writer) error {
					return fields(w, "certificate", res.Certificate, "hosts", strings.Join(hosts, ", "), "serial", res.Serial, "SHA-256 fingerprint", res.SHA256)
				})
			})
		},
	}
	cmd.Flags().StringVarP(&configPath, "config", "c", envOr("OCES_CONFIG", defaultConfig), "server configuration")
	cmd.Flags().StringArrayVar(&hosts, "host", nil, "DNS name or IP address of the admin listener (repeatable)")
	return cmd
}

type credentialRequest struct {
	kind          ca.ServiceKind
	name, cvr     string
	org           string
	hosts         []string
	keyURI        string // PKCS#11 URI; empty makes a key file in dir
	passphrase    string // encrypts the key file
	dir, certPath string
	validity      time.Duration
	actor         audit.Actor // who asks; the zero Actor is the system
}

type credentialResult struct {
	Certificate string `json:"certificate"`
	Key         string `json:"key"`
	Serial      string `json:"serial"`
	SHA256      string `json:"sha256_fingerprint"`
}

// issueCredential makes the key, has the CA issue the certificate and
// writes the certificate with its chain; it never overwrites.
func issueCredential(ctx context.Context, a *app, r credentialRequest) (*credentialResult, error) {
	if r.certPath == "" {
		r.certPath = filepath.Join(r.dir, "officer.pem")
	}
	keyPath := filepath.Join(filepath.Dir(r.certPath), "officer.key")
	for _, p := range []string{r.certPath, keyPath} {
		if r.keyURI != "" && p == keyPath {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return nil, fmt.Errorf("%s exists; move it away to make a new credential", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Dir(r.certPath), 0o700); err != nil {
		return nil, err
	}
	signer, keyName, err := credentialKey(ctx, a.hsm, r.keyURI, keyPath, r.passphrase)
	if err != nil {
		return nil, err
	}
	actor := r.actor
	if actor == (audit.Actor{}) {
		actor = audit.System
	}
	cert, err := a.ca.IssueService(ctx, ca.ServiceRequest{Kind: r.kind, PublicKey: signer.Public(), CommonName: r.name,
		Organization: r.org, CVR: r.cvr, Hosts: r.hosts, Validity: r.validity, Actor: actor})
	if err != nil {
		return nil, err
	}
	iss, err := a.ca.Issuer(cert.CA)
	if err != nil {
		return nil, err
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.DER})
	data = append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: iss.Certificate.Raw})...)
	if err := os.WriteFile(r.certPath, data, 0o644); err != nil {
		return nil, fmt.Errorf("certificate %s is issued, but writing %s failed: %w", cert.Serial, r.certPath, err)
	}
	x, _ := cert.X509()
	return &credentialResult{Certificate: r.certPath, Key: keyName, Serial: cert.Serial.String(), SHA256: ceremony.Fingerprint(x)}, nil
}

// credentialKey generates the credential's key in the HSM, or in a file
// encrypted under passphrase (officerkey.go).
func credentialKey(ctx context.Context, h *hsm.HSM, uri, path, passphrase string) (crypto.Signer, string, error) {
	if uri != "" {
		s, err := h.GenerateKey(ctx, uri, hsm.ECP256)
		return s, redactURI(uri), err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", err
	}
	if err := writeEncryptedKey(path, key, passphrase); err != nil {
		return nil, "", err
	}
	return key, path, nil
}

func redactURI(uri string) string {
	u, _, _ := strings.Cut(uri, "?")
	return u
}

func resolve(cfg *Config, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(cfg.path), p)
}

// withConfiguredApp loads the configuration and runs fn with the CA open.
func withConfiguredApp(ctx context.Context, configPath string, fn func(*app) error) error {
	cfg, err := loadConfig(configPath)
	if err != nil {
		return err
	}
	return withApp(ctx, cfg, fn)
}

// withApp opens the CA for the length of fn. The store is a single-writer
// file: this fails while 'oces serve' runs.
func withApp(ctx context.Context, cfg *Config, fn func(*app) error) error {
	a, err := openApp(ctx, cfg, newLogger())
	if err != nil {
		return err
	}
	err = fn(a)
	if cerr := a.Close(); err == nil {
		err = cerr
	}
	return err
}
