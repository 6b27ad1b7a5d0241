package main

import (
	"context"
	"crypto"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/oces-pki/oces/ceremony"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/conf"
)

func newCeremonyCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ceremony",
		Short: "Key ceremonies: make the root and issuing CAs with keys in the HSM",
	}
	cmd.AddCommand(
		ceremonyRunCommand(g, "root", "Make the offline root CA: a key in the HSM and a self-signed certificate",
			func(ctx context.Context, path string, keys ceremony.Keys) (*ceremony.Result, error) {
				var cfg ceremony.RootConfig
				if err := conf.Load(path, &cfg); err != nil {
					return nil, err
				}
				cfg.Certificate = conf.Resolve(path, cfg.Certificate)
				return ceremony.Root(ctx, &cfg, keys, time.Now())
			}),
		ceremonyRunCommand(g, "issuing", "Make an online issuing CA: a key in the HSM and a certificate signed by the root",
			func(ctx context.Context, path string, keys ceremony.Keys) (*ceremony.Result, error) {
				var cfg ceremony.IssuingConfig
				if err := conf.Load(path, &cfg); err != nil {
					return nil, err
				}
				cfg.Certificate = conf.Resolve(path, cfg.Certificate)
				cfg.Parent.Certificate = conf.Resolve(path, cfg.Parent.Certificate)
				return ceremony.Issuing(ctx, &cfg, keys, time.Now())
			}),
		newRegistryKeyCommand(g),
		newOfficerCommand(g),
		newTLSCommand(g),
		newTSACeremonyCommand(g),
		newAuditKeyCommand(g),
	)
	return cmd
}

func ceremonyRunCommand(g *globals, name, short string,
	run func(context.Context, string, ceremony.Keys) (*ceremony.Result, error)) *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   name + " --config FILE",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return usagef("--config is required: the ceremony's YAML file (see docs/ceremony.md)")
			}
			h := hsm.New(newLogger())
			defer h.Close()
			res, err := run(cmd.Context(), path, hsmKeys{h})
			if err != nil {
				return err
			}
			return g.printer(cmd.OutOrStdout()).print(res, func(w io.Writer) error {
				return fields(w, "certificate", res.Path, "subject", res.Subject, "key", res.KeyURI,
					"not after", res.NotAfter.Format(time.RFC3339), "SHA-256 fingerprint", res.SHA256)
			})
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "ceremony file (YAML)")
	return cmd
}

func newRegistryKeyCommand(g *globals) *cobra.Command {
	return keyCommand(g, "registry-key", "Make the HMAC key in the HSM under which the subject registry hashes CPR numbers",
		"registry key", func(ctx context.Context, h *hsm.HSM, uri string) error { return h.GenerateSecret(ctx, uri) })
}

func newAuditKeyCommand(g *globals) *cobra.Command {
	var pubOut string
	cmd := keyCommand(g, "audit-key", "Make the key in the HSM that signs the audit chain's checkpoints",
		"audit key", func(ctx context.Context, h *hsm.HSM, uri string) error {
			key, err := h.GenerateKey(ctx, uri, hsm.ECP256)
			if err != nil || pubOut == "" {
				return err
			}
			// The public key verifies the chain away from the CA: 'oces audit
			// verify --audit-key FILE'.
			return writePublicKey(pubOut, key.Public())
		})
	cmd.Flags().StringVar(&pubOut, "public-key", "", "also write the audit key's public key (PEM) here, for 'oces audit verify --audit-key'")
	return cmd
}

// keyCommand is a ceremony that makes one key in the HSM and nothing else.
func keyCommand(g *globals, name, short, label string, generate func(context.Context, *hsm.HSM, string) error) *cobra.Command {
	var uri string
	cmd := &cobra.Command{
		Use:   name + " --key URI",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if uri == "" {
				return usagef("--key is required: the PKCS#11 URI of the new key")
			}
			h := hsm.New(newLogger())
			defer h.Close()
			if err := generate(cmd.Context(), h, uri); err != nil {
				return err
			}
			return g.printer(cmd.OutOrStdout()).print(map[string]string{"key": redactURI(uri)}, func(w io.Writer) error {
				return fields(w, label, redactURI(uri))
			})
		},
	}
	cmd.Flags().StringVar(&uri, "key", "", "PKCS#11 URI of the key to create")
	return cmd
}

// hsmKeys adapts the HSM to what a ceremony needs.
type hsmKeys struct{ h *hsm.HSM }

func (k hsmKeys) GenerateKey(ctx context.Context, uri, algorithm string) (crypto.Signer, error) {
	alg, err := hsm.ParseKeyAlgorithm(algorithm)
	if err != nil {
		return nil, fmt.Errorf("key algorithm: %w", err)
	}
	return k.h.GenerateKey(ctx, uri, alg)
}

func (k hsmKeys) Signer(ctx context.Context, uri string) (crypto.Signer, error) {
	return k.h.Signer(ctx, uri)
}
