package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/oces-pki/oces/api"
	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/ceremony"
	"github.com/oces-pki/oces/crl"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/conf"
)

// CRLConfig tunes CRL publication; every field has a default.
type CRLConfig struct {
	Enabled  *bool         `yaml:"enabled"`  // default true
	Dir      string        `yaml:"dir"`      // also write every CRL here, for static hosting
	Validity conf.Duration `yaml:"validity"` // nextUpdate - thisUpdate; default 12h
	Interval conf.Duration `yaml:"interval"` // scheduled regeneration; default validity/2
	MinGap   conf.Duration `yaml:"min_gap"`  // bound after a status change; default 60s
	// ExpiredCertsOnCRL keeps revoked certificates on the CRLs after they
	// expire (with the expiredCertsOnCRL extension); by default they leave.
	ExpiredCertsOnCRL bool `yaml:"expired_certs_on_crl"`
	// ARLs are the offline CAs' CRLs ('oces crl generate --ca root'),
	// served at /crl/<name>.crl: name → file.
	ARLs map[string]string `yaml:"arls"`
}

// newPublisher wires CRL publication to the CA and its store.
func (a *app) newPublisher(cfg *Config) (*crl.Publisher, error) {
	c := cfg.CRL
	dir := c.Dir
	if dir != "" {
		dir = conf.Resolve(cfg.path, dir)
	}
	// Every CRL signature by an issuing CA's key goes into the audit chain.
	var issuers []*ca.Issuer
	for _, iss := range a.ca.Issuers() {
		issuers = append(issuers, &ca.Issuer{Name: iss.Name, Certificate: iss.Certificate, Chain: iss.Chain,
			PartitionSize: iss.PartitionSize,
			Signer:        &audit.Signer{Signer: iss.Signer, Log: a.store, Purpose: "crl " + iss.Name}})
	}
	pub, err := crl.New(crl.Config{
		Source: a.store, Issuers: issuers, BaseURL: cfg.PublicBaseURL, Dir: dir,
		Validity: c.Validity.D(), Interval: c.Interval.D(), MinGap: c.MinGap.D(), Logger: newLogger(),
		ExpiredCertsOnCRL: c.ExpiredCertsOnCRL,
	})
	if err != nil {
		return nil, err
	}
	a.ca.Observe(pub)
	return pub, nil
}

// arlHandler serves the offline CAs' CRLs; a new ARL written over the
// file is served from the next request on.
func arlHandler(cfg *Config) (map[string]http.Handler, error) {
	out := map[string]http.Handler{}
	for name, file := range cfg.CRL.ARLs {
		h, err := crl.NewARLHandler(conf.Resolve(cfg.path, file), newLogger())
		if err != nil {
			return nil, fmt.Errorf("crl.arls.%s: %w (make it with 'oces crl generate --ca %s')", name, err, name)
		}
		out["/crl/"+name+".crl"] = h
	}
	return out, nil
}

func newCRLCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "crl", Short: "Generate and inspect CRLs"}
	cmd.AddCommand(newCRLShowCommand(g), newCRLGenerateCommand(g))
	return cmd
}

func newCRLShowCommand(g *globals) *cobra.Command {
	var issuerPath string
	var max int
	cmd := &cobra.Command{
		Use:   "show FILE",
		Short: "Print a CRL (PEM or DER) readably; --issuer also checks its signature",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return usagef("%v", err)
			}
			info, err := crl.Show(data)
			if err != nil {
				return err
			}
			if issuerPath != "" {
				issuer, err := ceremony.ReadCertificate(issuerPath)
				if err != nil {
					return usagef("reading --issuer: %v", err)
				}
				if err := crl.VerifySignature(data, issuer); err != nil {
					return err
				}
			}
			return g.printer(cmd.OutOrStdout()).print(info, func(w io.Writer) error { return info.WriteText(w, max) })
		},
	}
	cmd.Flags().StringVar(&issuerPath, "issuer", "", "issuer certificate (PEM) to verify the signature with")
	cmd.Flags().IntVar(&max, "max-entries", 50, "print at most this many entries (0: all)")
	return cmd
}

func newCRLGenerateCommand(g *globals) *cobra.Command {
	var caName, configPath, out, baseURL string
	var validity time.Duration
	cc := &certCommand{g: g}
	cmd := &cobra.Command{
		Use:   "generate --ca NAME",
		Short: "Force a CRL run: an issuing CA's through the running server, or the root's ARL offline",
		Long: `For an issuing CA, asks the running server (admin API) to regenerate its CRLs now.
For the offline root, --config names the root ceremony file: the root key signs an
ARL written to --out, its CRL number kept in --out.number and increased every run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if caName == "" {
				return usagef("--ca is required")
			}
			if configPath != "" {
				return generateARL(cmd, g, configPath, out, baseURL, caName, validity)
			}
			return cc.call(cmd, func(cl *api.Client) error {
				if err := cl.GenerateCRL(cmd.Context(), caName); err != nil {
					return err
				}
				return g.printer(cmd.OutOrStdout()).print(map[string]string{"ca": caName, "status": "generated"}, func(w io.Writer) error {
					return fields(w, "ca", caName, "status", "generated")
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&caName, "ca", "", "CA name: an issuing CA, or the root with --config")
	f.StringVarP(&configPath, "config", "c", "", "root ceremony file (offline ARL)")
	f.StringVar(&out, "out", "", "ARL output file (DER); default <certificate dir>/../crl/<ca>.crl")
	f.StringVar(&baseURL, "public-base-url", "", "public base URL; the ARL's issuingDistributionPoint becomes <url>/crl/<ca>.crl")
	f.DurationVar(&validity, "validity", 365*24*time.Hour, "ARL validity (nextUpdate - thisUpdate)")
	cc.addFlags(f)
	return cmd
}

func generateARL(cmd *cobra.Command, g *globals, configPath, out, baseURL, caName string, validity time.Duration) error {
	var cfg ceremony.RootConfig
	if err := conf.Load(configPath, &cfg); err != nil {
		return err
	}
	certPath := conf.Resolve(configPath, cfg.Certificate)
	root, err := ceremony.ReadCertificate(certPath)
	if err != nil {
		return fmt.Errorf("reading the root certificate: %w", err)
	}
	if out == "" {
		out = filepath.Join(filepath.Dir(certPath), "..", "crl", caName+".crl")
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	h := hsm.New(newLogger())
	defer h.Close()
	signer, err := h.Signer(cmd.Context(), cfg.Key.URI)
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	url := ""
	if baseURL != "" {
		url = strings.TrimSuffix(baseURL, "/") + "/crl/" + caName + ".crl"
	}
	_, number, err := crl.IssueARL(context.Background(), out, crl.ARLRequest{Root: root, Signer: signer,
		ThisUpdate: now, NextUpdate: now.Add(validity), URL: url})
	if err != nil {
		return err
	}
	res := map[string]string{"arl": out, "crl_number": number.String(), "next_update": now.Add(validity).Format(time.RFC3339)}
	return g.printer(cmd.OutOrStdout()).print(res, func(w io.Writer) error {
		return fields(w, "ARL", out, "CRL number", number.String(), "next update", res["next_update"])
	})
}

// writeAtomic writes a file (mode 0644) through a synced temporary file
// and a rename: a failure leaves no partial file. (oces sign uses it; the
// ARL is written by crl.IssueARL.)
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
