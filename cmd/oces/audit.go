package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/internal/conf"
)

// AuditConfig is the audit chain's signing key and checkpoint cadence.
type AuditConfig struct {
	// Key is the PKCS#11 URI of the key that signs checkpoints; make it with
	// 'oces ceremony audit-key'. Without it the chain is hash-linked only.
	Key      string        `yaml:"key"`
	Every    uint64        `yaml:"checkpoint_every"`    // records; default 1000
	Interval conf.Duration `yaml:"checkpoint_interval"` // default 1m
	// AnchorDir keeps a TSA token over every checkpoint, outside the
	// store; AnchorTSAURL is the TSA (default: this server's) (anchor.go).
	AnchorDir    string `yaml:"anchor_dir"`
	AnchorTSAURL string `yaml:"anchor_tsa_url"`
}

// startCheckpointer signs the chain from the server, if a key is configured.
func (a *app) startCheckpointer(ctx context.Context, cfg *Config, logger *slog.Logger) error {
	if cfg.Audit.Key == "" {
		logger.Warn("audit.key is not set: the audit chain is hash-linked but not signed")
		return nil
	}
	signer, err := a.hsm.Signer(ctx, cfg.Audit.Key)
	if err != nil {
		return fmt.Errorf("opening audit.key: %w", err)
	}
	anchor, err := newAnchor(cfg)
	if err != nil {
		return err
	}
	cp, err := audit.NewCheckpointer(audit.CheckpointConfig{Store: a.store, Signer: signer,
		Every: cfg.Audit.Every, Interval: cfg.Audit.Interval.D(), Logger: logger, Anchor: anchor})
	if err != nil {
		return err
	}
	a.background.Go(func() {
		if err := cp.Run(ctx); err != nil && ctx.Err() == nil {
			logger.Error("audit checkpointer stopped", "err", err)
		}
	})
	return nil
}

func newAuditCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "The tamper-evident audit chain"}
	cmd.AddCommand(newAuditVerifyCommand(g)) // auditverify.go
	return cmd
}
