package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/oces-pki/oces/api"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/ceremony"
	"github.com/oces-pki/oces/hsm"
)

// defaultConfig is where `make run` puts the development configuration.
const defaultConfig = "var/oces.yaml"

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func certText(w io.Writer, v *api.Certificate) error {
	return fields(w, "serial", v.Serial, "ca", v.CA, "profile", v.Profile, "subject", v.Subject,
		"subject id", v.SubjectID, "crl partition", fmt.Sprint(v.Partition), "status", string(v.Status),
		"reason", v.Reason, "revoked at", v.RevokedAt, "invalidity date", v.InvalidityDate,
		"not before", v.NotBefore.Format(time.RFC3339), "not after", v.NotAfter.Format(time.RFC3339))
}

// certCommand holds what every cert subcommand shares: how to reach the
// admin API and the credential to present.
type certCommand struct {
	g                       *globals
	apiURL, cert, key, root string
	keyPass                 string         // passphrase file of an encrypted key file
	cmd                     *cobra.Command // the command running, for its standard input
}

// addFlags registers how to reach the API and the credential to present.
func (c *certCommand) addFlags(f *pflag.FlagSet) {
	f.StringVar(&c.apiURL, "api", envOr("OCES_API", "https://127.0.0.1:8443"), "admin API base URL (env OCES_API)")
	f.StringVar(&c.cert, "cert", envOr("OCES_CERT", "var/officer/officer.pem"), "officer certificate with its chain, PEM (env OCES_CERT)")
	f.StringVar(&c.key, "key", envOr("OCES_KEY", "var/officer/officer.key"), "officer key: PEM file or PKCS#11 URI (env OCES_KEY)")
	f.StringVar(&c.root, "ca-file", envOr("OCES_CA_FILE", "var/ca/root.pem"), "CA certificate(s) to trust for the server, PEM (env OCES_CA_FILE)")
	f.StringVar(&c.keyPass, "key-passphrase-file", "", "file holding the passphrase of an encrypted --key, - for standard input (env "+keyPassphraseEnv+"; default: prompt)")
}

// client connects to the admin API with the officer's credential. The
// credential's key is a PEM file or a PKCS#11 URI.
func (c *certCommand) client(ctx context.Context) (*api.Client, func(), error) {
	chain, err := ceremony.ReadCertificates(c.cert)
	if err != nil {
		return nil, nil, usagef("reading the officer certificate (--cert, $OCES_CERT): %v; make one with 'oces ceremony officer'", err)
	}
	roots := x509.NewCertPool()
	rootCerts, err := ceremony.ReadCertificates(c.root)
	if err != nil {
		return nil, nil, usagef("reading the CA certificate to trust (--ca-file, $OCES_CA_FILE): %v", err)
	}
	for _, r := range rootCerts {
		roots.AddCert(r)
	}
	tc := tls.Certificate{Leaf: chain[0]}
	for _, x := range chain {
		tc.Certificate = append(tc.Certificate, x.Raw)
	}
	key, closer, err := loadCredentialKey(ctx, c.cmd, c.key, c.keyPass, chain[0].PublicKey) // officerkey.go
	if err != nil {
		return nil, nil, err
	}
	tc.PrivateKey = key
	return api.NewClient(strings.TrimSuffix(c.apiURL, "/"), tc, roots, 60*time.Second), closer, nil
}

// call runs fn with an API client.
func (c *certCommand) call(cmd *cobra.Command, fn func(*api.Client) error) error {
	c.cmd = cmd
	cl, closer, err := c.client(cmd.Context())
	if err != nil {
		return err
	}
	defer closer()
	return fn(cl)
}

func newCertCommand(g *globals) *cobra.Command {
	cc := &certCommand{g: g}
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Issue, inspect, suspend, release and revoke certificates through the admin API",
		Long: `The cert commands are clients of the admin API of 'oces serve'. They authenticate
with an officer (or registration authority) certificate; in development they find
the one 'make run' made under var/officer/.`,
	}
	cc.addFlags(cmd.PersistentFlags())
	cmd.AddCommand(cc.issue(), cc.show(), cc.list(),
		cc.statusCommand("suspend", "Suspend a certificate (certificateHold); 'release' undoes it"),
		cc.statusCommand("release", "Release a suspended certificate back to good"),
		cc.revoke())
	return cmd
}

func (c *certCommand) issue() *cobra.Command {
	var req api.IssueRequest
	var csrPath, outPath, newKey, keyAlg, cprFile string
	var cprFlag *string
	cmd := &cobra.Command{
		Use:   "issue --profile P --csr FILE [subject flags]",
		Short: "Issue a certificate from a PKCS#10 request",
		Example: `  oces cert issue --profile poces --csr req.pem --cpr-file - --name "Jens Hansen" < cpr.txt
  oces cert issue --profile moces --csr req.pem --cvr 12345678 --org "Firma A/S" --name "Jens Hansen"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.Profile == "" || (csrPath == "") == (newKey == "") {
				return usagef("--profile and --csr are required, or --new-key instead of --csr (profiles: %s)", strings.Join(ca.ProfileNames(ca.DefaultProfiles()), ", "))
			}
			if *cprFlag != "" {
				return errCPRFlag()
			}
			var csr []byte
			var err error
			if cprFile != "" {
				if req.CPR, err = readPrivate(cmd, cprFile, "CPR number"); err != nil {
					return err
				}
			}
			if newKey != "" {
				csr, err = requestForNewKey(cmd.Context(), newKey, keyAlg)
			} else if csr, err = os.ReadFile(csrPath); err != nil {
				err = usagef("reading --csr: %v", err)
			}
			if err != nil {
				return err
			}
			if !strings.Contains(string(csr), "-----BEGIN") {
				csr = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr})
			}
			req.CSR = string(csr)
			return c.call(cmd, func(cl *api.Client) error {
				cert, err := cl.Issue(cmd.Context(), req)
				if err != nil {
					return err
				}
				if outPath != "" {
					if err := os.WriteFile(outPath, []byte(cert.PEM), 0o644); err != nil {
						return fmt.Errorf("certificate %s is issued and stored, but writing %s failed: %w (get it again with 'oces cert show %s')", cert.Serial, outPath, err, cert.Serial)
					}
				}
				return c.g.printer(cmd.OutOrStdout()).print(cert, func(w io.Writer) error {
					if err := certText(w, cert); err != nil {
						return err
					}
					if outPath == "" {
						_, err = io.WriteString(w, cert.PEM)
					}
					return err
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Profile, "profile", "", "certificate profile")
	f.StringVar(&csrPath, "csr", "", "PKCS#10 request file (PEM or DER)")
	f.StringVar(&newKey, "new-key", "", "instead of --csr: generate the key in the HSM at this PKCS#11 URI and sign the request with it")
	f.StringVar(&keyAlg, "key-algorithm", "rsa-3072", "with --new-key: rsa-2048, rsa-3072, rsa-4096, p-256 or p-384")
	f.StringVar(&req.CA, "ca", "", "issuing CA (default: the first configured)")
	f.StringVar(&req.Name, "name", "", "common name: the person, organisation or function")
	f.StringVar(&req.GivenName, "given-name", "", "given name (OCES3 employee)")
	f.StringVar(&req.Surname, "surname", "", "surname (OCES3 employee)")
	f.StringVar(&req.Organization, "org", "", "organisation name")
	f.StringVar(&req.CVR, "cvr", "", "CVR number of the organisation")
	f.StringVar(&cprFile, "cpr-file", "", "read the citizen's CPR number from this file, or with - from standard input or a prompt (hashed in the HSM; never stored or put in the certificate)")
	cprFlag = refuseCPRFlag(cmd)
	f.StringVar(&req.SubjectID, "subject-id", "", "issue again for an existing registry identifier (PID, RID, UID, FID or UUID)")
	f.StringVar(&req.Email, "email", "", "e-mail address for subjectAltName")
	f.StringVar(&outPath, "out", "", "write the certificate (PEM) to this file")
	_ = cmd.RegisterFlagCompletionFunc("profile", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return ca.ProfileNames(ca.DefaultProfiles()), cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func serialArg(args []string) (string, error) {
	if len(args) != 1 {
		return "", usagef("give exactly one serial number (hexadecimal, as 'oces cert list' prints it)")
	}
	s, err := ca.ParseSerial(args[0])
	if err != nil {
		return "", usagef("%v", err)
	}
	return s.String(), nil
}

func (c *certCommand) show() *cobra.Command {
	return &cobra.Command{
		Use:   "show SERIAL",
		Short: "Show one certificate and its status",
		RunE: func(cmd *cobra.Command, args []string) error {
			serial, err := serialArg(args)
			if err != nil {
				return err
			}
			return c.call(cmd, func(cl *api.Client) error {
				cert, err := cl.Show(cmd.Context(), serial)
				if err != nil {
					return err
				}
				return c.g.printer(cmd.OutOrStdout()).print(cert, func(w io.Writer) error {
					if err := certText(w, cert); err != nil {
						return err
					}
					_, err := io.WriteString(w, cert.PEM)
					return err
				})
			})
		},
	}
}

func (c *certCommand) list() *cobra.Command {
	var status, profile, caName, after string
	var limit int
	cmd := &cobra.Command{
		Use:   "list [--status S] [--profile P] [--ca CA]",
		Short: "List certificates, in serial order, a page at a time",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if status != "" {
				if _, err := ca.ParseStatus(status); err != nil {
					return usagef("--status: %v", err)
				}
			}
			q := url.Values{}
			for k, v := range map[string]string{"status": status, "profile": profile, "ca": caName, "after": after, "limit": fmt.Sprint(limit)} {
				if v != "" {
					q.Set(k, v)
				}
			}
			return c.call(cmd, func(cl *api.Client) error {
				page, err := cl.List(cmd.Context(), q)
				if err != nil {
					return err
				}
				return c.g.printer(cmd.OutOrStdout()).print(page, func(w io.Writer) error {
					fmt.Fprintln(w, "SERIAL\tCA\tPROFILE\tSTATUS\tNOT AFTER\tSUBJECT")
					for _, v := range page.Certificates {
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Serial, v.CA, v.Profile, v.Status, v.NotAfter.Format(time.DateOnly), v.Subject)
					}
					if page.Next != "" {
						fmt.Fprintf(w, "more: oces cert list --after %s\n", page.Next)
					}
					return nil
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&status, "status", "", "only this status: good, suspended or revoked")
	f.StringVar(&profile, "profile", "", "only this profile")
	f.StringVar(&caName, "ca", "", "only this issuing CA")
	f.StringVar(&after, "after", "", "start after this serial (the 'next' of the previous page)")
	f.IntVar(&limit, "limit", 100, "at most this many (1 to 1000)")
	return cmd
}

func (c *certCommand) statusCommand(verb, short string) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " SERIAL",
		Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			serial, err := serialArg(args)
			if err != nil {
				return err
			}
			return c.changeStatus(cmd, func(cl *api.Client) (*api.Certificate, error) {
				if verb == "suspend" {
					return cl.Suspend(cmd.Context(), serial)
				}
				return cl.Release(cmd.Context(), serial)
			})
		},
	}
}

func (c *certCommand) revoke() *cobra.Command {
	var reason, invalidity string
	cmd := &cobra.Command{
		Use:   "revoke SERIAL --reason R [--invalidity-date T]",
		Short: "Revoke a certificate; revocation is final",
		RunE: func(cmd *cobra.Command, args []string) error {
			serial, err := serialArg(args)
			if err != nil {
				return err
			}
			if _, err := ca.ParseRevocationReason(reason); err != nil {
				return usagef("--reason: %v", err)
			}
			if invalidity != "" {
				if _, err := time.Parse(time.RFC3339, invalidity); err != nil {
					return usagef("--invalidity-date must be RFC 3339, e.g. 2026-11-20T08:00:00Z")
				}
			}
			return c.changeStatus(cmd, func(cl *api.Client) (*api.Certificate, error) {
				return cl.Revoke(cmd.Context(), serial, api.RevokeRequest{Reason: reason, InvalidityDate: invalidity})
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "unspecified", "RFC 5280 reason: keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn, …")
	cmd.Flags().StringVar(&invalidity, "invalidity-date", "", "when the key is known or suspected to have been compromised (RFC 3339)")
	return cmd
}

func (c *certCommand) changeStatus(cmd *cobra.Command, fn func(*api.Client) (*api.Certificate, error)) error {
	return c.call(cmd, func(cl *api.Client) error {
		cert, err := fn(cl)
		if err != nil {
			return err
		}
		return c.g.printer(cmd.OutOrStdout()).print(cert, func(w io.Writer) error { return certText(w, cert) })
	})
}

// requestForNewKey generates a key in the HSM and returns a PKCS#10
// request signed with it (the CA takes the subject from the registry, not
// from the request).
func requestForNewKey(ctx context.Context, uri, alg string) ([]byte, error) {
	a, err := hsm.ParseKeyAlgorithm(alg)
	if err != nil {
		return nil, usagef("--key-algorithm: %v", err)
	}
	h := hsm.New(newLogger())
	defer h.Close()
	key, err := h.GenerateKey(ctx, uri, a)
	if err != nil {
		return nil, fmt.Errorf("generating the key for --new-key: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "OCES certificate request"}}, key)
	if err != nil {
		return nil, fmt.Errorf("signing the request with the new key: %w", err)
	}
	return der, nil
}
