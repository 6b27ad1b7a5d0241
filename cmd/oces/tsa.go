package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/ceremony"
	"github.com/oces-pki/oces/internal/conf"
	"github.com/oces-pki/oces/ocsp"
	"github.com/oces-pki/oces/tsa"
)

// newAuthority builds the time-stamp authority from the configuration: the
// key in the HSM, the certificate from 'oces ceremony tsa', serials from a
// durable counter in the store reserved in blocks.
func (a *app) newAuthority(ctx context.Context, cfg *Config) (*tsa.Authority, error) {
	t := cfg.TSA
	chain, err := ceremony.ReadCertificates(conf.Resolve(cfg.path, t.Certificate))
	if err != nil {
		return nil, fmt.Errorf("reading tsa.certificate: %w", err)
	}
	key, err := a.hsm.Signer(ctx, t.Key)
	if err != nil {
		return nil, fmt.Errorf("opening tsa.key: %w", err)
	}
	var policies []asn1.ObjectIdentifier
	for _, p := range t.Policies {
		oid, _ := parseOID(p) // checked in Validate
		policies = append(policies, oid)
	}
	return tsa.New(tsa.Config{
		Signer: key, Certificate: chain[0], Chain: chain[1:], Policies: policies,
		Accuracy: t.Accuracy.D(), Qualified: t.Qualified,
		Serials: tsa.NewBlockSerials(a.store, "tsa-serial", 0), Logger: newLogger(),
		Status: tsaCertStatus{a.ca}, Audit: a.store,
	})
}

// tsaCertStatus reads the TSA certificate's status from the CA that issued
// it ('oces ceremony tsa'), in this process's store.
type tsaCertStatus struct{ ca *ca.CA }

func (s tsaCertStatus) CertificateStatus(ctx context.Context, cert *x509.Certificate) (tsa.CertificateStatus, error) {
	unknown := tsa.CertificateStatus{Status: "unknown to this CA"}
	serial, err := ca.SerialFromBig(cert.SerialNumber)
	if err != nil {
		return unknown, nil
	}
	c, err := s.ca.Certificate(ctx, serial)
	if errors.Is(err, ca.ErrNotFound) {
		return unknown, nil
	}
	if err != nil {
		return tsa.CertificateStatus{}, err
	}
	if !bytes.Equal(c.DER, cert.Raw) {
		return unknown, nil
	}
	return tsa.CertificateStatus{Good: c.Status == ca.StatusGood, Status: string(c.Status), Reason: string(c.Reason), Since: c.RevokedAt}, nil
}

var _ tsa.StatusChecker = tsaCertStatus{}

// checkTSACertificate asks the OCSP responder in the TSA certificate's AIA
// whether it is good; the issuer comes from the token or the trusted roots.
func checkTSACertificate(ctx context.Context, client *http.Client, tok *tsa.Token, roots []*x509.Certificate) (*ocsp.Status, error) {
	signer, err := tok.SignerCertificate()
	if err != nil {
		return nil, err
	}
	for _, c := range append(slices.Clone(tok.Certificates), roots...) {
		if bytes.Equal(c.RawSubject, signer.RawIssuer) && signer.CheckSignatureFrom(c) == nil {
			return ocsp.Check(ctx, client, signer, c, time.Now())
		}
	}
	return nil, errors.New("the TSA certificate's issuer is neither in the token nor among the trusted roots")
}

func newTSACeremonyCommand(g *globals) *cobra.Command {
	var configPath, name string
	var validity time.Duration
	cmd := &cobra.Command{
		Use:   "tsa [--name NAME]",
		Short: "Issue the time-stamping unit's certificate (critical EKU timeStamping only), its key in the HSM (tsa.key)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configPath)
			if err != nil {
				return err
			}
			if !cfg.TSA.on() {
				return usagef("%s has no tsa section: set tsa.key and tsa.certificate first", configPath)
			}
			return withApp(cmd.Context(), cfg, func(a *app) error {
				res, err := issueCredential(cmd.Context(), a, credentialRequest{
					kind: ca.ServiceTSA, name: name, keyURI: cfg.TSA.Key,
					certPath: resolve(cfg, cfg.TSA.Certificate), validity: validity,
				})
				if err != nil {
					return err
				}
				return g.printer(cmd.OutOrStdout()).print(res, func(w io.Writer) error {
					return fields(w, "certificate", res.Certificate, "key", res.Key, "serial", res.Serial, "SHA-256 fingerprint", res.SHA256)
				})
			})
		},
	}
	cmd.Flags().StringVarP(&configPath, "config", "c", envOr("OCES_CONFIG", defaultConfig), "server configuration")
	cmd.Flags().StringVar(&name, "name", "OCES Time-Stamping Unit", "the unit's common name")
	cmd.Flags().DurationVar(&validity, "validity", 5*365*24*time.Hour, "certificate validity")
	return cmd
}

// writeQueryResult writes the token to out and prints what 'tsa query'
// found, or, when the TSA certificate is not good or its status unknown
// (checkErr), prints "verified: no" with the reason, writes nothing and
// fails.
func writeQueryResult(p *printer, tok *tsa.Token, status *ocsp.Status, checkErr error, out string) error {
	reason := ""
	switch {
	case checkErr != nil:
		reason = "the TSA certificate's status could not be checked: " + checkErr.Error()
	case !status.Good:
		reason = "the TSA certificate is " + status.String()
	}
	view := map[string]any{"serial": tok.SerialNumber.String(), "gen_time": tok.GenTime.UTC().Format(time.RFC3339),
		"policy": tok.Policy.String(), "accuracy": tok.Accuracy.String(), "verified": reason == ""}
	if reason != "" {
		view["reason"] = reason
		if err := p.print(view, func(w io.Writer) error {
			return fields(w, "serial", tok.SerialNumber.String(), "time", tok.GenTime.UTC().Format(time.RFC3339Nano),
				"verified", "no", "reason", reason)
		}); err != nil {
			return err
		}
		return fmt.Errorf("the time-stamp token does not verify: %s; no token written", reason)
	}
	if err := os.WriteFile(out, tok.Raw, 0o644); err != nil {
		return err
	}
	certStatus := "good (OCSP, " + status.ThisUpdate.UTC().Format(time.RFC3339) + ")"
	view["token"], view["tsa_certificate"] = out, certStatus
	return p.print(view, func(w io.Writer) error {
		return fields(w, "token", out, "serial", tok.SerialNumber.String(), "time", tok.GenTime.UTC().Format(time.RFC3339Nano),
			"accuracy", tok.Accuracy.String(), "policy", tok.Policy.String(), "TSA certificate", certStatus, "verified", "yes")
	})
}

func newTSACommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "tsa", Short: "Time-stamp client (RFC 3161)"}
	var url, file, out, caFile string
	var noNonce, noCert bool
	query := &cobra.Command{
		Use:   "query --url URL --file FILE",
		Short: "Time-stamp a file's SHA-256, verify the token and the TSA certificate's status (OCSP), and write it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef("--file is required")
			}
			data, err := os.ReadFile(file)
			if err != nil {
				return usagef("reading --file: %v", err)
			}
			digest := sha256.Sum256(data)
			client := &http.Client{Timeout: 30 * time.Second}
			tok, err := tsa.Query(cmd.Context(), client, url, digest[:], crypto.SHA256, tsa.QueryOptions{NoNonce: noNonce, NoCertificates: noCert})
			if err != nil {
				return err
			}
			roots := x509.NewCertPool()
			rootCerts, err := ceremony.ReadCertificates(caFile)
			if err != nil {
				return usagef("reading --ca-file: %v", err)
			}
			for _, r := range rootCerts {
				roots.AddCert(r)
			}
			if err := tok.Verify(roots, x509.NewCertPool()); err != nil {
				return fmt.Errorf("the time-stamp token does not verify: %w", err)
			}
			// The signature is good; the TSA certificate must be too, or
			// the token proves nothing (its key may be compromised).
			status, err := checkTSACertificate(cmd.Context(), client, tok, rootCerts)
			if out == "" {
				out = file + ".tst"
			}
			return writeQueryResult(g.printer(cmd.OutOrStdout()), tok, status, err, out)
		},
	}
	f := query.Flags()
	f.StringVar(&url, "url", envOr("OCES_TSA_URL", "http://127.0.0.1:8080/tsa"), "TSA URL")
	f.StringVar(&file, "file", "", "file to time-stamp")
	f.StringVar(&out, "out", "", "where to write the token (DER); default FILE.tst")
	f.StringVar(&caFile, "ca-file", envOr("OCES_CA_FILE", "var/ca/root.pem"), "trusted root(s) to verify the token, PEM")
	f.BoolVar(&noNonce, "no-nonce", false, "send no nonce")
	f.BoolVar(&noCert, "no-cert", false, "do not ask for the TSA certificate in the token")
	cmd.AddCommand(query)
	return cmd
}
