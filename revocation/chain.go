package revocation

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
)

// oidOCSPNoCheck is id-pkix-ocsp-nocheck (RFC 6960 clause 4.2.2.2.1): a
// delegated responder's certificate that relying parties need not check.
var oidOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}

// NoCheck reports whether cert carries id-pkix-ocsp-nocheck.
func NoCheck(cert *x509.Certificate) bool {
	for _, e := range cert.Extensions {
		if e.Id.Equal(oidOCSPNoCheck) {
			return true
		}
	}
	return false
}

// SelfSigned reports whether cert is its own issuer (a root).
func SelfSigned(cert *x509.Certificate) bool {
	return bytes.Equal(cert.RawIssuer, cert.RawSubject) && cert.CheckSignatureFrom(cert) == nil
}

// signedBy checks that issuer signed cert, remembering the answer: a
// chain is checked on every signature, and a P-384 verification costs a
// millisecond.
func (f *Fetcher) signedBy(cert, issuer *x509.Certificate) error {
	return f.remember("cert\x00"+string(cert.Signature)+"\x00"+string(issuer.RawSubjectPublicKeyInfo), func() error {
		return cert.CheckSignatureFrom(issuer)
	})
}

// crlSignedBy is signedBy for a CRL: the same CRL is fetched again when
// its cached answer expires, and the issuing CA's ARL is signed by a
// P-384 or RSA-4096 root.
func (f *Fetcher) crlSignedBy(list *x509.RevocationList, issuer *x509.Certificate) error {
	return f.remember("crl\x00"+string(list.Signature)+"\x00"+string(issuer.RawSubjectPublicKeyInfo), func() error {
		return list.CheckSignatureFrom(issuer)
	})
}

// remember runs check once per key and keeps its answer (bounded).
func (f *Fetcher) remember(key string, check func() error) error {
	f.mu.Lock()
	err, ok := f.verified[key]
	f.mu.Unlock()
	if ok {
		return err
	}
	err = check()
	f.mu.Lock()
	if len(f.verified) >= 10_000 {
		f.verified = map[string]error{}
	}
	f.verified[key] = err
	f.mu.Unlock()
	return err
}

// SelfSigned is the package's SelfSigned with the signature check
// remembered, for callers that ask of the same roots on every signature.
func (f *Fetcher) SelfSigned(cert *x509.Certificate) bool { return f.selfSigned(cert) }

func (f *Fetcher) selfSigned(cert *x509.Certificate) bool {
	return bytes.Equal(cert.RawIssuer, cert.RawSubject) && f.signedBy(cert, cert) == nil
}

// Chain checks every certificate of chain (leaf first, each issued by the
// next) but the root, and the delegated OCSP responders met on the way, as
// far as they do not carry ocsp-nocheck. It stops at the first certificate
// that is not good: the caller decides what a revoked intermediate means.
func (f *Fetcher) Chain(ctx context.Context, chain []*x509.Certificate) ([]*Result, error) {
	var out []*Result
	for i := 0; i+1 < len(chain); i++ {
		cert, issuer := chain[i], chain[i+1]
		if NoCheck(cert) {
			continue
		}
		res, err := f.Check(ctx, cert, issuer)
		if err != nil {
			return out, err
		}
		out = append(out, res)
		if res.Status != Good {
			return out, nil
		}
	}
	return out, nil
}

// BuildChain orders certs into a chain from leaf to a self-signed root,
// taking issuers from pool first and fetching missing ones from caIssuers
// URLs. It stops at a self-signed certificate or when no issuer can be had;
// the result always starts with leaf.
func (f *Fetcher) BuildChain(ctx context.Context, leaf *x509.Certificate, pool []*x509.Certificate) ([]*x509.Certificate, error) {
	chain := []*x509.Certificate{leaf}
	for cur := leaf; !f.selfSigned(cur) && len(chain) < 10; {
		next := f.findIssuer(cur, pool)
		if next == nil {
			fetched, err := f.Issuer(ctx, cur)
			if err != nil {
				return chain, fmt.Errorf("revocation: building the chain of %s: %w", leaf.Subject, err)
			}
			next = fetched
		}
		chain = append(chain, next)
		cur = next
	}
	return chain, nil
}

func (f *Fetcher) findIssuer(cert *x509.Certificate, pool []*x509.Certificate) *x509.Certificate {
	for _, c := range pool {
		if bytes.Equal(c.RawSubject, cert.RawIssuer) && !bytes.Equal(c.Raw, cert.Raw) && f.signedBy(cert, c) == nil {
			return c
		}
	}
	return nil
}
