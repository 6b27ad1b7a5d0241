package ocsp

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/oces-pki/oces/ca"
)

// Responder certificates (RFC 6960 section 4.2.2.2): each issuing CA has
// a delegated responder whose key stays in the HSM and whose certificate
// (id-kp-OCSPSigning, id-pkix-ocsp-nocheck) the CA issues for
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
//
// A key is used until a certificate for it is revoked or suspended (see
// rotate.go): then it is retired for good and the next generation of the
// key is made, under the label of IssuerConfig.ResponderKey with ".2",
// ".3", … appended. The store tells which generations are retired, so a
// restart, or another host, carries on with the newest good one.

// maxKeyGenerations bounds the search for the newest responder key.
const maxKeyGenerations = 1000

// keyURI is the PKCS#11 URI of generation gen of a responder key: the
// configured URI for the first, and for later ones the same token and
// attributes with the label suffixed ".<gen>" and any id= dropped (a new
// key gets an id of its own). A configured URI without a label gives
// later generations the label "ocsp-responder-<ca>".
func keyURI(base, caName string, gen int) string {
	if gen <= 1 {
		return base
	}
	path, query, hasQuery := strings.Cut(strings.TrimPrefix(base, "pkcs11:"), "?")
	label := "ocsp-responder-" + caName
	var attrs []string
	for _, a := range strings.Split(path, ";") {
		switch {
		case strings.HasPrefix(a, "object="):
			label = strings.TrimPrefix(a, "object=")
		case strings.HasPrefix(a, "id="), a == "":
		default:
			attrs = append(attrs, a)
		}
	}
	attrs = append(attrs, fmt.Sprintf("object=%s.%d", label, gen))
	out := "pkcs11:" + strings.Join(attrs, ";")
	if hasQuery {
		out += "?" + query
	}
	return out
}

// keyLabel is the object label of a key URI, for logs and audit records.
func keyLabel(uri string) string {
	path, _, _ := strings.Cut(strings.TrimPrefix(uri, "pkcs11:"), "?")
	for _, a := range strings.Split(path, ";") {
		if l, ok := strings.CutPrefix(a, "object="); ok {
			return l
		}
	}
	return "(no label)"
}

// hsmKey is one generation of an issuer's responder key.
type hsmKey struct {
	gen    int
	uri    string
	signer crypto.Signer
	state  *keyState

	mu      sync.Mutex
	serials []ca.Serial // its certificates, for checkResponders
}

func (k *hsmKey) addSerial(s ca.Serial) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !slices.Contains(k.serials, s) {
		k.serials = append(k.serials, s)
	}
}

func (k *hsmKey) certificates() []ca.Serial {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.serials)
}

// loadResponder finds the issuer's newest responder key, generating the
// first on first start, and makes sure it has a certificate that is not
// due for renewal. A newest key that is retired (one of its certificates
// was revoked or suspended) is replaced by the next generation at once;
// if that fails, the responder starts with the retired key current, so
// that queries get tryLater, and Run tries again.
func (r *Responder) loadResponder(ctx context.Context, iss *issuer) error {
	key, err := r.newestKey(ctx, iss)
	if err != nil {
		return err
	}
	best, retired, err := r.responderCerts(ctx, iss, key)
	if err != nil {
		return err
	}
	if retired != nil {
		// Nothing is signed with it: it is current only as the key
		// rotate replaces, with the certificate that retired it.
		k, err := r.signingKeyFrom(iss, key, retired)
		if err != nil {
			return err
		}
		key.state.retired.Store(true)
		iss.current.Store(k)
		r.log.WarnContext(ctx, "ocsp: the newest responder key is retired; making the next", "ca", iss.name,
			"key", keyLabel(key.uri), "certificate", retired.Serial.String(), "status", retired.Status, "reason", retired.Reason)
		if err := r.rotate(ctx, iss); err != nil {
			r.log.ErrorContext(ctx, "ocsp: rotating the responder key; answering tryLater until it succeeds", "ca", iss.name, "err", err)
		}
		return nil
	}
	k, err := r.certify(ctx, iss, key, best)
	if err != nil {
		return err
	}
	iss.current.Store(k)
	return nil
}

// newestKey opens the highest generation of the issuer's responder key
// that the token holds, generating the first if there is none.
func (r *Responder) newestKey(ctx context.Context, iss *issuer) (*hsmKey, error) {
	var newest *hsmKey
	for gen := 1; gen <= maxKeyGenerations; gen++ {
		uri := keyURI(iss.keyURI, iss.name, gen)
		signer, err := r.cfg.Keys.Signer(ctx, uri)
		if errors.Is(err, ErrKeyNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("ocsp: opening responder key %s of %s: %w", keyLabel(uri), iss.name, err)
		}
		newest = &hsmKey{gen: gen, uri: uri, signer: signer, state: &keyState{}}
	}
	if newest != nil {
		return newest, nil
	}
	return r.generateKey(ctx, iss, 1)
}

// generateKey makes generation gen of the issuer's responder key, or opens
// it if another process made it meanwhile (a shared HSM).
func (r *Responder) generateKey(ctx context.Context, iss *issuer, gen int) (*hsmKey, error) {
	uri := keyURI(iss.keyURI, iss.name, gen)
	r.log.InfoContext(ctx, "ocsp: generating responder key", "ca", iss.name, "key", keyLabel(uri), "algorithm", r.keyAlgorithm())
	signer, err := r.cfg.Keys.GenerateKey(ctx, uri)
	if errors.Is(err, ErrKeyExists) {
		signer, err = r.cfg.Keys.Signer(ctx, uri)
	}
	if err != nil {
		return nil, fmt.Errorf("ocsp: generating responder key %s of %s: %w", keyLabel(uri), iss.name, err)
	}
	return &hsmKey{gen: gen, uri: uri, signer: signer, state: &keyState{}}, nil
}

// certify returns key as a signing key with best, its newest good
// certificate that is not due for renewal, or with a new one if best is
// nil.
func (r *Responder) certify(ctx context.Context, iss *issuer, key *hsmKey, best *ca.Certificate) (*signingKey, error) {
	if best == nil {
		return r.issueResponderCert(ctx, iss, key)
	}
	k, err := r.signingKeyFrom(iss, key, best)
	if err != nil {
		return nil, err
	}
	r.log.InfoContext(ctx, "ocsp: reusing responder certificate", "ca", iss.name, "key", keyLabel(key.uri),
		"serial", best.Serial.String(), "not_after", best.NotAfter)
	return k, nil
}

// forEachResponderCert calls fn for every responder certificate of iss
// for the key pub, whatever its status.
func (r *Responder) forEachResponderCert(ctx context.Context, iss *issuer, pub crypto.PublicKey, fn func(*ca.Certificate)) error {
	eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return fmt.Errorf("ocsp: responder key of %s has an unusable public key", iss.name)
	}
	q := ca.ListQuery{CA: iss.name, Profile: string(ca.ServiceOCSP), Limit: 1000}
	for {
		page, err := r.cfg.Authority.Certificates(ctx, q)
		if err != nil {
			return fmt.Errorf("ocsp: listing responder certificates of %s: %w", iss.name, err)
		}
		for _, c := range page.Certificates {
			if x, err := c.X509(); err == nil && eq.Equal(x.PublicKey) {
				fn(c)
			}
		}
		if page.Next == nil {
			return nil
		}
		q.After = *page.Next
	}
}

// responderCerts reads iss's responder certificates for key in one scan
// of the store, notes their serials on key, and returns the newest good
// one that is not due for renewal and one that is revoked or suspended,
// which retires the key; either may be nil.
func (r *Responder) responderCerts(ctx context.Context, iss *issuer, key *hsmKey) (best, retired *ca.Certificate, err error) {
	err = r.forEachResponderCert(ctx, iss, key.signer.Public(), func(c *ca.Certificate) {
		key.addSerial(c.Serial)
		switch {
		case c.Status != ca.StatusGood:
			if retired == nil {
				retired = c
			}
		case !r.dueForRenewal(c.NotBefore, c.NotAfter) && (best == nil || c.NotAfter.After(best.NotAfter)):
			best = c
		}
	})
	return best, retired, err
}

func (r *Responder) dueForRenewal(notBefore, notAfter time.Time) bool {
	left := notAfter.Sub(r.now())
	return float64(left) < float64(notAfter.Sub(notBefore))*r.cfg.RenewalFraction
}

func (r *Responder) signingKeyFrom(iss *issuer, key *hsmKey, c *ca.Certificate) (*signingKey, error) {
	x, err := c.X509()
	if err != nil {
		return nil, fmt.Errorf("ocsp: parsing responder certificate %s: %w", c.Serial, err)
	}
	if err := x.CheckSignatureFrom(iss.cert); err != nil {
		return nil, fmt.Errorf("ocsp: responder certificate %s is not signed by %s: %w", c.Serial, iss.name, err)
	}
	k, err := newSigningKey(key.signer, x)
	if err != nil {
		return nil, err
	}
	k.key = key
	if err := iss.addKey(k); err != nil {
		return nil, err
	}
	return k, nil
}

// issueResponderCert has the CA issue a new responder certificate for key.
func (r *Responder) issueResponderCert(ctx context.Context, iss *issuer, key *hsmKey) (*signingKey, error) {
	c, err := r.cfg.Authority.IssueService(ctx, ca.ServiceRequest{
		CA: iss.name, Kind: ca.ServiceOCSP, PublicKey: key.signer.Public(),
		CommonName: "OCSP Responder " + iss.name, Validity: r.cfg.ResponderValidity,
	})
	if err != nil {
		return nil, fmt.Errorf("ocsp: issuing responder certificate for %s: %w", iss.name, err)
	}
	key.addSerial(c.Serial)
	k, err := r.signingKeyFrom(iss, key, c)
	if err != nil {
		return nil, err
	}
	r.log.InfoContext(ctx, "ocsp: issued responder certificate", "ca", iss.name, "key", keyLabel(key.uri),
		"serial", c.Serial.String(), "not_after", c.NotAfter)
	return k, nil
}

// renewResponder has the CA issue a new certificate for the issuer's
// current key and makes it current. Responses signed under the previous
// certificate stay valid (it outlives them, see Config.ResponseValidity)
// and are replaced by the next sweep.
func (r *Responder) renewResponder(ctx context.Context, iss *issuer) error {
	iss.rotateMu.Lock()
	defer iss.rotateMu.Unlock()
	old := iss.current.Load()
	if old.key.state.retired.Load() || !r.dueForRenewal(old.cert.NotBefore, old.cert.NotAfter) {
		return nil // rotated or renewed meanwhile
	}
	k, err := r.issueResponderCert(ctx, iss, old.key)
	if err != nil {
		return err
	}
	iss.current.Store(k)
	return nil
}

// renewDue renews every responder certificate that is due, and rotates
// every retired key that has not been replaced yet (a rotation that
// failed, say for want of an audit record, is tried again here).
func (r *Responder) renewDue(ctx context.Context) error {
	var errs []error
	for _, iss := range r.issuers {
		k := iss.current.Load()
		switch {
		case k.key.state.retired.Load():
			errs = append(errs, r.rotate(ctx, iss))
		case r.dueForRenewal(k.cert.NotBefore, k.cert.NotAfter):
			errs = append(errs, r.renewResponder(ctx, iss))
		}
	}
	return errors.Join(errs...)
}

// keyAlgorithm names the algorithm of the keys the KeyStore makes, if it says.
func (r *Responder) keyAlgorithm() string {
	if a, ok := r.cfg.Keys.(interface{ KeyAlgorithm() string }); ok {
		return a.KeyAlgorithm()
	}
	return "(the key store's)"
}

// ResponderCertificate returns the current responder certificate of the
// named CA, or nil.
func (r *Responder) ResponderCertificate(caName string) *x509.Certificate {
	if iss := r.issuerNamed(caName); iss != nil {
		return iss.current.Load().cert
	}
	return nil
}
