package ocsp

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/hsm"
)

// Responder certificates (RFC 6960 section 4.2.2.2): each issuing CA has
// a delegated responder whose key stays in the HSM for good and whose
// certificate (id-kp-OCSPSigning, id-pkix-ocsp-nocheck) the CA issues for
// ResponderValidity through its durable path, renewing it when less than
// RenewalFraction of its validity remains.
//
// The certificates are not kept in a file of the responder's own: the CA
// store already holds every service certificate durably (profile
// "ocsp-responder"), lists it, and can revoke it. At start-up the
// responder takes the newest good one for its key that is not yet due for
// renewal, so a restart reuses it and a responder on another host (shared
// SQL store) finds the same. There is nothing extra to back up, and no
// file that could disagree with the store.

// loadResponder opens or generates the issuer's responder key and makes
// sure it has a certificate that is not due for renewal.
func (r *Responder) loadResponder(ctx context.Context, iss *issuer) error {
	signer, err := r.cfg.Keys.Signer(ctx, iss.keyURI)
	if errors.Is(err, hsm.ErrKeyNotFound) {
		r.log.InfoContext(ctx, "ocsp: generating responder key", "ca", iss.name, "algorithm", r.cfg.KeyAlgorithm.String())
		signer, err = r.cfg.Keys.GenerateKey(ctx, iss.keyURI, r.cfg.KeyAlgorithm)
	}
	if err != nil {
		return fmt.Errorf("ocsp: opening responder key of %s: %w", iss.name, err)
	}
	iss.signer = signer
	c, err := r.storedResponderCert(ctx, iss)
	if err != nil {
		return err
	}
	if c != nil {
		k, err := r.signingKeyFrom(iss, c)
		if err != nil {
			return err
		}
		iss.current.Store(k)
		r.log.InfoContext(ctx, "ocsp: reusing responder certificate", "ca", iss.name,
			"serial", c.Serial.String(), "not_after", c.NotAfter)
		return nil
	}
	return r.renewResponder(ctx, iss)
}

// storedResponderCert finds the newest good responder certificate of iss
// for its current key that is not due for renewal, or nil.
func (r *Responder) storedResponderCert(ctx context.Context, iss *issuer) (*ca.Certificate, error) {
	pub, ok := iss.signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return nil, fmt.Errorf("ocsp: responder key of %s has an unusable public key", iss.name)
	}
	q := ca.ListQuery{CA: iss.name, Profile: string(ca.ServiceOCSP), Status: ca.StatusGood, Limit: 1000}
	var best *ca.Certificate
	for {
		page, err := r.cfg.Authority.Certificates(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("ocsp: listing responder certificates of %s: %w", iss.name, err)
		}
		for _, c := range page.Certificates {
			if r.dueForRenewal(c.NotBefore, c.NotAfter) || (best != nil && !c.NotAfter.After(best.NotAfter)) {
				continue
			}
			if x, err := c.X509(); err == nil && pub.Equal(x.PublicKey) {
				best = c
			}
		}
		if page.Next == nil {
			return best, nil
		}
		q.After = *page.Next
	}
}

func (r *Responder) dueForRenewal(notBefore, notAfter time.Time) bool {
	left := notAfter.Sub(r.now())
	return float64(left) < float64(notAfter.Sub(notBefore))*r.cfg.RenewalFraction
}

func (r *Responder) signingKeyFrom(iss *issuer, c *ca.Certificate) (*signingKey, error) {
	x, err := c.X509()
	if err != nil {
		return nil, fmt.Errorf("ocsp: parsing responder certificate %s: %w", c.Serial, err)
	}
	if err := x.CheckSignatureFrom(iss.cert); err != nil {
		return nil, fmt.Errorf("ocsp: responder certificate %s is not signed by %s: %w", c.Serial, iss.name, err)
	}
	return newSigningKey(iss.signer, x)
}

// renewResponder has the CA issue a new responder certificate for the
// issuer's key and makes it current. Responses signed under the previous
// certificate stay valid (it outlives them, see Config.ResponseValidity)
// and are replaced by the next sweep.
func (r *Responder) renewResponder(ctx context.Context, iss *issuer) error {
	c, err := r.cfg.Authority.IssueService(ctx, ca.ServiceRequest{
		CA: iss.name, Kind: ca.ServiceOCSP, PublicKey: iss.signer.Public(),
		CommonName: "OCSP Responder " + iss.name, Validity: r.cfg.ResponderValidity,
	})
	if err != nil {
		return fmt.Errorf("ocsp: issuing responder certificate for %s: %w", iss.name, err)
	}
	k, err := r.signingKeyFrom(iss, c)
	if err != nil {
		return err
	}
	iss.current.Store(k)
	r.log.InfoContext(ctx, "ocsp: issued responder certificate", "ca", iss.name,
		"serial", c.Serial.String(), "not_after", c.NotAfter)
	return nil
}

// renewDue renews every responder certificate that is due.
func (r *Responder) renewDue(ctx context.Context) error {
	var errs []error
	for _, iss := range r.issuers {
		k := iss.current.Load()
		if r.dueForRenewal(k.cert.NotBefore, k.cert.NotAfter) {
			errs = append(errs, r.renewResponder(ctx, iss))
		}
	}
	return errors.Join(errs...)
}

// ResponderCertificate returns the current responder certificate of the
// named CA, or nil.
func (r *Responder) ResponderCertificate(caName string) *x509.Certificate {
	if iss := r.issuerNamed(caName); iss != nil {
		return iss.current.Load().cert
	}
	return nil
}
