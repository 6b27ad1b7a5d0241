package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/store/postgres"
)

// Roles a process can take with 'oces serve --only' (or only: in the
// configuration). Without either, a process takes every role the
// configuration switches on, as the embedded default does.
const (
	roleCA     = "ca"     // the CA's own work: audit checkpoints
	roleAdmin  = "admin"  // the admin API over HTTPS (issuance, status changes)
	roleOCSP   = "ocsp"   // the OCSP responder on the public listener
	roleCRL    = "crl"    // the CRL publisher on the public listener
	roleTSA    = "tsa"    // the time-stamp authority on the public listener
	roleSigner = "signer" // POST /api/v1/sign on the admin listener, and nothing else there
)

var allRoles = []string{roleCA, roleAdmin, roleOCSP, roleCRL, roleTSA, roleSigner}

// roleSet is the roles a process takes; nil means all that are configured.
type roleSet map[string]bool

// parseRoles reads "ca,admin" (flag) or a list (configuration). field
// names the source in errors.
func parseRoles(field string, list []string) (roleSet, error) {
	if len(list) == 0 {
		return nil, nil
	}
	rs := roleSet{}
	for _, item := range list {
		for _, r := range strings.Split(item, ",") {
			r = strings.TrimSpace(r)
			if !slices.Contains(allRoles, r) {
				return nil, usagef("%s: unknown role %q (known: %s)", field, r, strings.Join(allRoles, ", "))
			}
			rs[r] = true
		}
	}
	return rs, nil
}

// applyRoles switches off in cfg every service the roles do not include.
// A shared store is required for a process that does not take every role:
// the others run elsewhere on the same data.
func applyRoles(cfg *Config, rs roleSet) error {
	if rs == nil {
		return nil
	}
	if cfg.Store.Driver != driverPostgres && len(rs) < len(allRoles) {
		return usagef("--only needs a shared store: set store.driver: postgres in %s (a bbolt file serves one process)", cfg.path)
	}
	off := false
	set := func(p **bool, on bool) {
		if !on {
			*p = &off
		}
	}
	set(&cfg.OCSP.Enabled, rs[roleOCSP])
	set(&cfg.CRL.Enabled, rs[roleCRL])
	set(&cfg.Signer.Enabled, rs[roleSigner])
	set(&cfg.Admin.Enabled, rs[roleAdmin] || rs[roleSigner])
	set(&cfg.Public.Enabled, rs[roleOCSP] || rs[roleCRL] || rs[roleTSA])
	if !rs[roleTSA] {
		cfg.TSA = TSAConfig{}
	}
	if !rs[roleCA] {
		cfg.Audit.Key = "" // checkpoints are signed by the CA's processes
	}
	return nil
}

// signerOnly narrows the admin listener of a process that is the signing
// service but not the admin API to the signing route.
func signerOnly(rs roleSet, h http.Handler) http.Handler {
	if rs == nil || rs[roleAdmin] {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/sign" {
			http.Error(w, "this process is the signing service only (oces serve --only signer)", http.StatusNotFound)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// followChanges passes the status changes other processes commit to the
// observers of this one (OCSP responder, CRL publisher), when the store is
// shared. from is the change log's head read before the observers loaded
// their state, so nothing between is missed.
func (a *app) followChanges(ctx context.Context, cfg *Config, from uint64, logger *slog.Logger, observers ...ca.StatusObserver) {
	db, ok := a.store.(*postgres.DB)
	if !ok || len(observers) == 0 {
		return
	}
	a.background.Go(func() {
		err := db.Follow(ctx, from, cfg.Store.FollowInterval.D(), fanOut(observers))
		if ctx.Err() == nil {
			logger.Error("store: following status changes stopped", "err", err)
		}
	})
}

// changeHead is the change log's head of a shared store, 0 otherwise.
func (a *app) changeHead(ctx context.Context) (uint64, error) {
	db, ok := a.store.(*postgres.DB)
	if !ok {
		return 0, nil
	}
	seq, err := db.ChangeSeq(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the change log: %w", err)
	}
	return seq, nil
}

type fanOut []ca.StatusObserver

func (f fanOut) StatusChanged(ctx context.Context, c *ca.Certificate) {
	for _, o := range f {
		o.StatusChanged(ctx, c)
	}
}
