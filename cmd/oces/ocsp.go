package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/conf"
	"github.com/oces-pki/oces/ocsp"
	"github.com/oces-pki/oces/ocsp/ocsphsm"
)

// OCSPConfig tunes the OCSP responder (RFC 6960, RFC 5019). It is on when
// every issuer names its responder key (issuers[].ocsp_responder_key).
type OCSPConfig struct {
	Enabled           *bool         `yaml:"enabled"`            // default true
	LiveNonce         bool          `yaml:"live_nonce"`         // sign live for requests with a nonce
	ResponseValidity  conf.Duration `yaml:"response_validity"`  // default 24h
	ResponderValidity conf.Duration `yaml:"responder_validity"` // default 4 days
}

// newResponder wires the responder to the CA, the store and the HSM. It
// starts pre-signing in the background; serving does not wait for it.
func (a *app) newResponder(ctx context.Context, cfg *Config, logger *slog.Logger) (*ocsp.Responder, error) {
	var issuers []ocsp.IssuerConfig
	for i, ic := range cfg.Issuers {
		if ic.OCSPResponderKey == "" {
			return nil, fmt.Errorf("issuers[%d].ocsp_responder_key is not set: the OCSP responder needs a key per issuer (or set ocsp.enabled: false)", i)
		}
		iss, err := a.ca.Issuer(ic.Name)
		if err != nil {
			return nil, err
		}
		issuers = append(issuers, ocsp.IssuerConfig{Name: ic.Name, Certificate: iss.Certificate, ResponderKey: ic.OCSPResponderKey})
	}
	r, err := ocsp.New(ctx, ocsp.Config{
		Issuers: issuers, Source: a.store, Authority: a.ca, Keys: ocsphsm.New(a.hsm, hsm.ECP256), Audit: a.store,
		LiveNonce: cfg.OCSP.LiveNonce, ResponseValidity: cfg.OCSP.ResponseValidity.D(),
		ResponderValidity: cfg.OCSP.ResponderValidity.D(), Logger: logger,
		Progress: func(p ocsp.Progress) {
			logger.Info("ocsp: pre-signing", "done", p.Done, "total", p.Total, "per_second", int(p.Rate), "finished", p.Finished)
		},
	})
	if err != nil {
		return nil, err
	}
	a.ca.Observe(r) // status changes re-sign at once; each issuance is pre-signed before it returns
	a.background.Go(func() {
		if err := r.Run(ctx); err != nil && ctx.Err() == nil {
			logger.Error("OCSP responder stopped", "err", err)
		}
	})
	return r, nil
}
