package main

import (
	"bytes"
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/ceremony"
)

// askingOfficer is the actor of a new officer or RA credential: the CA
// officer who asks for it, proven by their own credential (a certificate
// this CA issued as an officer certificate, byte for byte, still good,
// and a signature by its key over a fresh challenge). Only the first
// officer of a CA, when no good officer certificate exists yet, is issued
// by the system itself, as the key ceremony's bootstrap.
func askingOfficer(ctx context.Context, cmd *cobra.Command, a *app, certPath, keyRef, passFile string) (audit.Actor, error) {
	if certPath == "" {
		page, err := a.ca.Certificates(ctx, ca.ListQuery{Profile: string(ca.ServiceOfficer), Status: ca.StatusGood, Limit: 1})
		if err != nil {
			return audit.Actor{}, err
		}
		if len(page.Certificates) > 0 {
			return audit.Actor{}, usagef("an officer exists: the officer asking must prove it with --by-cert and --by-key " +
				"(their own officer credential), so that the audit chain names who issued this one")
		}
		return audit.System, nil
	}
	chain, err := ceremony.ReadCertificates(certPath)
	if err != nil {
		return audit.Actor{}, usagef("reading --by-cert: %v", err)
	}
	leaf := chain[0]
	serial, err := ca.SerialFromBig(leaf.SerialNumber)
	if err != nil {
		return audit.Actor{}, usagef("--by-cert: %v", err)
	}
	stored, err := a.ca.Certificate(ctx, serial)
	switch {
	case err != nil:
		return audit.Actor{}, fmt.Errorf("--by-cert: certificate %s: %w", serial, err)
	case !bytes.Equal(stored.DER, leaf.Raw):
		return audit.Actor{}, usagef("--by-cert: certificate %s differs from the one this CA issued", serial)
	case stored.Profile != string(ca.ServiceOfficer):
		return audit.Actor{}, usagef("--by-cert: certificate %s is a %s certificate, not a CA officer's", serial, stored.Profile)
	case stored.Status != ca.StatusGood:
		return audit.Actor{}, usagef("--by-cert: certificate %s is %s", serial, stored.Status)
	}
	key, closeKey, err := loadCredentialKey(ctx, cmd, keyRef, passFile, leaf.PublicKey)
	if err != nil {
		return audit.Actor{}, err
	}
	defer closeKey()
	if err := proveKey(key, leaf.PublicKey); err != nil {
		return audit.Actor{}, usagef("--by-key: %v", err)
	}
	return audit.ActorOf(leaf), nil
}
