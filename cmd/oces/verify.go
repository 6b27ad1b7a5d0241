package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/oces-pki/oces/validate"
)

// errNotPassed: some signature is not TOTAL-PASSED (exit code 4).
var errNotPassed = errors.New("not every signature is TOTAL-PASSED")

func newVerifyCommand(g *globals) *cobra.Command {
	var configPath string
	var trust []string
	var detached, offline bool
	var maxDoc int64
	cmd := &cobra.Command{
		Use:   "verify [--detached] FILE [SIGNATURE]",
		Short: "Validate the signatures of a PDF or a CAdES file (ETSI EN 319 102-1)",
		Long: `Validates every signature and document time-stamp of a signed PDF (PAdES), or of a
CMS file (CAdES; with --detached, the data first and then the .p7s), as ETSI EN 319
102-1 describes: the cryptography, the changes made to a PDF after each signature,
the chain to a trust anchor, revocation (from the document, else live OCSP and CRL)
and time-stamps. It prints, per signature, the indication (TOTAL-PASSED,
TOTAL-FAILED, INDETERMINATE) and subindication, the signer, the signing time and
its proof, the level reached, the chain, the revocation data and every warning;
--output json prints the report shaped after ETSI TS 119 102-2.

Trust anchors are the roots of the configuration's issuers (when a configuration
is found) and every --trust file. The exit code is 0 only when every signature is
TOTAL-PASSED.`,
		Example: `  oces verify signed.pdf
  oces verify --detached data.bin data.p7s --output json
  oces verify --trust partner-root.pem --offline signed.pdf`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if detached != (len(args) == 2) {
				return usagef("give one file, or --detached DATA SIGNATURE")
			}
			anchors, err := readAnchors("--trust", "", trust)
			if err != nil {
				return usagef("%v", err)
			}
			explicit := cmd.Flags().Changed("config")
			if _, statErr := os.Stat(configPath); explicit || statErr == nil {
				cfg, err := loadConfig(configPath)
				if err != nil {
					return err
				}
				roots, err := cfg.validatorAnchors()
				if err != nil {
					return err
				}
				anchors = append(roots, anchors...)
			}
			v, err := newValidator(anchors, maxDoc, offline, true)
			if err != nil {
				return err
			}
			var doc, content []byte
			if detached {
				if content, err = readLimited(args[0], maxDoc); err != nil {
					return err
				}
				if doc, err = readLimited(args[1], maxDoc); err != nil {
					return err
				}
			} else if doc, err = readLimited(args[0], maxDoc); err != nil {
				return err
			}
			report, err := v.Validate(cmd.Context(), doc, content)
			if err != nil {
				return err
			}
			if err := g.printer(cmd.OutOrStdout()).print(report, func(w io.Writer) error { return printReport(w, report) }); err != nil {
				return err
			}
			if !report.Passed() {
				return fmt.Errorf("%w (%s %s)", errNotPassed, report.Indication, report.SubIndication)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&configPath, "config", "c", envOr("OCES_CONFIG", defaultConfig), "configuration whose issuers' roots are trusted (used when it exists)")
	f.StringArrayVar(&trust, "trust", nil, "extra trust anchors, PEM (repeatable)")
	f.BoolVar(&detached, "detached", false, "the signature is a detached CMS: give the data, then the signature")
	f.BoolVar(&offline, "offline", false, "no live OCSP, CRL or caIssuers requests")
	f.Int64Var(&maxDoc, "max-bytes", 256<<20, "largest document accepted")
	return cmd
}

func readLimited(path string, limit int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, usagef("reading %s: %v", path, err)
	}
	if st.Size() > limit {
		return nil, usagef("%s has %d bytes; --max-bytes is %d", path, st.Size(), limit)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("reading %s: %v", path, err)
	}
	return b, nil
}

// printReport is the report for a person.
func printReport(w io.Writer, r *validate.Report) error {
	fmt.Fprintf(w, "Document:\t%s, SHA-256 %s\n", r.DocumentType, r.DocumentSHA256)
	fmt.Fprintf(w, "Validated at:\t%s\n", r.ValidationTime.Format(time.RFC3339))
	fmt.Fprintf(w, "Result:\t%s\n", strings.TrimSpace(string(r.Indication)+" "+string(r.SubIndication)))
	for _, wn := range r.Warnings {
		fmt.Fprintf(w, "Warning:\t%s\n", wn)
	}
	if len(r.Signatures) == 0 {
		fmt.Fprintln(w, "No signatures.")
	}
	for i, s := range r.Signatures {
		fmt.Fprintf(w, "\n%s %d: %s\n", map[string]string{"signature": "Signature", "document-time-stamp": "Document time-stamp"}[s.Type], i+1, s.ID)
		fields(w, "  Indication", strings.TrimSpace(string(s.Indication)+" "+string(s.SubIndication)), "  Reason", s.Reason,
			"  Format", s.Format, "  Level", s.Level)
		if s.Signer != nil {
			fields(w, "  Signer", s.Signer.Subject, "  Serial number", s.Signer.SerialNumber, "  Profile", s.Signer.Profile)
		}
		if s.ClaimedSigningTime != nil {
			fields(w, "  Claimed signing time", s.ClaimedSigningTime.Format(time.RFC3339))
		}
		proof := s.SigningTimeProof
		if proof == "none" {
			proof = "none (the validation time is used)"
		}
		fields(w, "  Proven signing time", s.BestSignatureTime.Format(time.RFC3339), "  Proof", proof)
		for _, ts := range s.TimeStamps {
			fmt.Fprintf(w, "  Time-stamp:\t%s %s by %s: %s %s %s\n", ts.Type, ts.GenTime.Format(time.RFC3339), ts.TSA, ts.Indication, ts.SubIndication, ts.Reason)
		}
		for j, c := range s.Chain {
			anchor := ""
			if c.Trusted {
				anchor = " (trust anchor)"
			}
			fmt.Fprintf(w, "  Chain %d:\t%s, valid %s to %s%s\n", j, c.Subject, c.NotBefore.Format("2006-01-02"), c.NotAfter.Format("2006-01-02"), anchor)
		}
		for _, rv := range s.Revocation {
			line := rv.Status + " from " + rv.Source
			if rv.RevokedAt != nil {
				line += fmt.Sprintf(", revoked %s (%s)", rv.RevokedAt.Format(time.RFC3339), rv.Reason)
			}
			fmt.Fprintf(w, "  Revocation:\t%s: %s\n", rv.Subject, line)
		}
		for _, c := range s.Changes {
			fmt.Fprintf(w, "  Changed after:\t%s\n", c)
		}
		for _, wn := range s.Warnings {
			fmt.Fprintf(w, "  Warning:\t%s\n", wn)
		}
	}
	return nil
}
