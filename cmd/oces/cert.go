package main

import (
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/oces-pki/oces/ca"
)

// defaultConfig is where `make run` puts the development configuration.
const defaultConfig = "var/oces.yaml"

// certView is a certificate as the CLI prints it.
type certView struct {
	Serial         string    `json:"serial"`
	CA             string    `json:"ca"`
	Profile        string    `json:"profile"`
	Subject        string    `json:"subject"`
	SubjectID      string    `json:"subject_id"`
	Partition      int       `json:"crl_partition"`
	Status         ca.Status `json:"status"`
	Reason         string    `json:"reason,omitempty"`
	RevokedAt      string    `json:"revoked_at,omitempty"`
	InvalidityDate string    `json:"invalidity_date,omitempty"`
	NotBefore      time.Time `json:"not_before"`
	NotAfter       time.Time `json:"not_after"`
	PEM            string    `json:"pem,omitempty"`
}

func viewOf(c *ca.Certificate, withPEM bool) certView {
	v := certView{
		Serial: c.Serial.String(), CA: c.CA, Profile: c.Profile, SubjectID: c.SubjectID,
		Partition: c.Partition, Status: c.Status, Reason: string(c.Reason),
		NotBefore: c.NotBefore, NotAfter: c.NotAfter,
	}
	if x, err := c.X509(); err == nil {
		v.Subject = x.Subject.String()
	}
	if !c.RevokedAt.IsZero() {
		v.RevokedAt = c.RevokedAt.Format(time.RFC3339)
	}
	if !c.InvalidityDate.IsZero() {
		v.InvalidityDate = c.InvalidityDate.Format(time.RFC3339)
	}
	if withPEM {
		v.PEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER}))
	}
	return v
}

func (v certView) text(w io.Writer) error {
	return fields(w, "serial", v.Serial, "ca", v.CA, "profile", v.Profile, "subject", v.Subject,
		"subject id", v.SubjectID, "crl partition", fmt.Sprint(v.Partition), "status", string(v.Status),
		"reason", v.Reason, "revoked at", v.RevokedAt, "invalidity date", v.InvalidityDate,
		"not before", v.NotBefore.Format(time.RFC3339), "not after", v.NotAfter.Format(time.RFC3339))
}

// certCommand holds what every cert subcommand shares.
type certCommand struct {
	g      *globals
	config string
}

// withCA opens the configured CA for the length of fn. The store is a
// single-writer file: while `oces serve` runs, use its API instead.
func (c *certCommand) withCA(ctx context.Context, fn func(*ca.CA) error) error {
	cfg, err := loadConfig(c.config)
	if err != nil {
		return err
	}
	a, err := openApp(ctx, cfg, newLogger())
	if err != nil {
		return err
	}
	err = fn(a.ca)
	if cerr := a.Close(); err == nil {
		err = cerr
	}
	return err
}

func newCertCommand(g *globals) *cobra.Command {
	cc := &certCommand{g: g}
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Issue, inspect, suspend, release and revoke certificates",
	}
	cfg := os.Getenv("OCES_CONFIG")
	if cfg == "" {
		cfg = defaultConfig
	}
	cmd.PersistentFlags().StringVarP(&cc.config, "config", "c", cfg, "server configuration (env OCES_CONFIG)")
	cmd.AddCommand(cc.issue(), cc.show(), cc.list(),
		cc.statusCommand("suspend", "Suspend a certificate (certificateHold); 'release' undoes it"),
		cc.statusCommand("release", "Release a suspended certificate back to good"),
		cc.revoke())
	return cmd
}

func (c *certCommand) issue() *cobra.Command {
	var req ca.IssueRequest
	var csrPath, outPath string
	cmd := &cobra.Command{
		Use:   "issue --profile P --csr FILE [subject flags]",
		Short: "Issue a certificate from a PKCS#10 request",
		Example: `  oces cert issue --profile poces --csr req.pem --cpr 010190-1234 --name "Jens Hansen"
  oces cert issue --profile moces --csr req.pem --cvr 12345678 --org "Firma A/S" --name "Jens Hansen"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.Profile == "" || csrPath == "" {
				return usagef("--profile and --csr are required (profiles: %s)", strings.Join(ca.ProfileNames(ca.DefaultProfiles()), ", "))
			}
			csr, err := os.ReadFile(csrPath)
			if err != nil {
				return usagef("reading --csr: %v", err)
			}
			req.CSR = csr
			return c.withCA(cmd.Context(), func(a *ca.CA) error {
				cert, err := a.Issue(cmd.Context(), req)
				if err != nil {
					return err
				}
				if outPath != "" {
					if err := os.WriteFile(outPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.DER}), 0o644); err != nil {
						return fmt.Errorf("certificate %s is issued and stored, but writing %s failed: %w (get it again with 'oces cert show %s')", cert.Serial, outPath, err, cert.Serial)
					}
				}
				v := viewOf(cert, true)
				return c.g.printer(cmd.OutOrStdout()).print(v, func(w io.Writer) error {
					if err := v.text(w); err != nil {
						return err
					}
					if outPath == "" {
						_, err = io.WriteString(w, v.PEM)
					}
					return err
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Profile, "profile", "", "certificate profile")
	f.StringVar(&csrPath, "csr", "", "PKCS#10 request file (PEM or DER)")
	f.StringVar(&req.CA, "ca", "", "issuing CA (default: the first configured)")
	f.StringVar(&req.Name, "name", "", "common name: the person, organisation or function")
	f.StringVar(&req.GivenName, "given-name", "", "given name (OCES3 employee)")
	f.StringVar(&req.Surname, "surname", "", "surname (OCES3 employee)")
	f.StringVar(&req.Organization, "org", "", "organisation name")
	f.StringVar(&req.CVR, "cvr", "", "CVR number of the organisation")
	f.StringVar(&req.CPR, "cpr", "", "CPR number of the citizen (hashed in the HSM; never stored or put in the certificate)")
	f.StringVar(&req.SubjectID, "subject-id", "", "issue again for an existing registry identifier (PID, RID, UID, FID or UUID)")
	f.StringVar(&req.Email, "email", "", "e-mail address for subjectAltName")
	f.StringVar(&outPath, "out", "", "write the certificate (PEM) to this file")
	return cmd
}

func parseSerialArg(args []string) (ca.Serial, error) {
	if len(args) != 1 {
		return ca.Serial{}, usagef("give exactly one serial number (hexadecimal, as 'oces cert list' prints it)")
	}
	s, err := ca.ParseSerial(args[0])
	if err != nil {
		return s, usagef("%v", err)
	}
	return s, nil
}

func (c *certCommand) show() *cobra.Command {
	return &cobra.Command{
		Use:   "show SERIAL",
		Short: "Show one certificate and its status",
		RunE: func(cmd *cobra.Command, args []string) error {
			serial, err := parseSerialArg(args)
			if err != nil {
				return err
			}
			return c.withCA(cmd.Context(), func(a *ca.CA) error {
				cert, err := a.Certificate(cmd.Context(), serial)
				if err != nil {
					return err
				}
				v := viewOf(cert, true)
				return c.g.printer(cmd.OutOrStdout()).print(v, func(w io.Writer) error {
					if err := v.text(w); err != nil {
						return err
					}
					_, err := io.WriteString(w, v.PEM)
					return err
				})
			})
		},
	}
}

func (c *certCommand) list() *cobra.Command {
	var q ca.ListQuery
	var status, after string
	cmd := &cobra.Command{
		Use:   "list [--status S] [--profile P] [--ca CA]",
		Short: "List certificates, in serial order, a page at a time",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if status != "" {
				if q.Status, err = ca.ParseStatus(status); err != nil {
					return usagef("--status: %v", err)
				}
			}
			if after != "" {
				if q.After, err = ca.ParseSerial(after); err != nil {
					return usagef("--after: %v", err)
				}
			}
			return c.withCA(cmd.Context(), func(a *ca.CA) error {
				page, err := a.Certificates(cmd.Context(), q)
				if err != nil {
					return err
				}
				out := struct {
					Certificates []certView `json:"certificates"`
					Next         string     `json:"next,omitempty"`
				}{Certificates: []certView{}}
				for _, cert := range page.Certificates {
					out.Certificates = append(out.Certificates, viewOf(cert, false))
				}
				if page.Next != nil {
					out.Next = page.Next.String()
				}
				return c.g.printer(cmd.OutOrStdout()).print(out, func(w io.Writer) error {
					fmt.Fprintln(w, "SERIAL\tCA\tPROFILE\tSTATUS\tNOT AFTER\tSUBJECT")
					for _, v := range out.Certificates {
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Serial, v.CA, v.Profile, v.Status, v.NotAfter.Format(time.DateOnly), v.Subject)
					}
					if out.Next != "" {
						fmt.Fprintf(w, "more: oces cert list --after %s\n", out.Next)
					}
					return nil
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&status, "status", "", "only this status: good, suspended or revoked")
	f.StringVar(&q.Profile, "profile", "", "only this profile")
	f.StringVar(&q.CA, "ca", "", "only this issuing CA")
	f.StringVar(&after, "after", "", "start after this serial (the 'next' of the previous page)")
	f.IntVar(&q.Limit, "limit", 100, "at most this many (1 to 1000)")
	return cmd
}

func (c *certCommand) statusCommand(verb, short string) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " SERIAL",
		Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			serial, err := parseSerialArg(args)
			if err != nil {
				return err
			}
			return c.changeStatus(cmd, func(a *ca.CA) (*ca.Certificate, error) {
				if verb == "suspend" {
					return a.Suspend(cmd.Context(), serial)
				}
				return a.Release(cmd.Context(), serial)
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
			serial, err := parseSerialArg(args)
			if err != nil {
				return err
			}
			r, err := ca.ParseRevocationReason(reason)
			if err != nil {
				return usagef("--reason: %v", err)
			}
			var inv time.Time
			if invalidity != "" {
				if inv, err = time.Parse(time.RFC3339, invalidity); err != nil {
					return usagef("--invalidity-date must be RFC 3339, e.g. 2026-11-20T08:00:00Z")
				}
			}
			return c.changeStatus(cmd, func(a *ca.CA) (*ca.Certificate, error) {
				return a.Revoke(cmd.Context(), serial, r, inv)
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "unspecified", "RFC 5280 reason: keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn, …")
	cmd.Flags().StringVar(&invalidity, "invalidity-date", "", "when the key is known or suspected to have been compromised (RFC 3339)")
	return cmd
}

func (c *certCommand) changeStatus(cmd *cobra.Command, fn func(*ca.CA) (*ca.Certificate, error)) error {
	return c.withCA(cmd.Context(), func(a *ca.CA) error {
		cert, err := fn(a)
		if err != nil {
			return err
		}
		v := viewOf(cert, false)
		return c.g.printer(cmd.OutOrStdout()).print(v, v.text)
	})
}
