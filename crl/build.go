package crl

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"

	"github.com/oces-pki/oces/ca"
)

// Entry is one revoked certificate (RFC 5280 section 5.1.2.6).
type Entry struct {
	Serial         *big.Int
	RevocationTime time.Time
	// Reason goes into the reasonCode extension; "" and unspecified leave
	// the extension out, as section 5.3.1 recommends.
	Reason         ca.RevocationReason
	InvalidityDate time.Time // optional (section 5.3.2)
}

// reasonCode maps a reason to its CRLReason code or noReason.
func reasonCode(r ca.RevocationReason) (int, error) {
	switch r {
	case "", ca.ReasonUnspecified:
		return noReason, nil
	case reasonNameRemoveFromCRL:
		return reasonRemoveFromCRL, nil
	}
	if c := r.Code(); c != 0 {
		return c, nil
	}
	return 0, fmt.Errorf("crl: unknown revocation reason %q", r)
}

// reasonNameRemoveFromCRL is the RFC 5280 name of CRLReason 8, which only
// delta CRLs carry.
const reasonNameRemoveFromCRL ca.RevocationReason = "removeFromCRL"

// Template describes one CRL, in the manner of x509.RevocationList.
type Template struct {
	Number     *big.Int // cRLNumber (section 5.2.3), required
	ThisUpdate time.Time
	NextUpdate time.Time
	Entries    []Entry
	// IssuingDistributionPoint, when set, makes a CRL of that scope with a
	// critical issuingDistributionPoint extension (section 5.2.5).
	IssuingDistributionPoint *DistributionPoint
	// DeltaBase, when set, makes a delta CRL relative to the complete CRL
	// with that number: a critical deltaCRLIndicator (section 5.2.4).
	DeltaBase *big.Int
	// FreshestCRL lists where the delta CRLs are (section 5.2.6).
	FreshestCRL []string
	// ExpiredCertsOnCRL, when set, adds the expiredCertsOnCRL extension
	// (X.509 section 9.6.2.8, id-ce 60): the CRL keeps the entries of
	// certificates that expired at or after this time.
	ExpiredCertsOnCRL time.Time
}

// DistributionPoint is the scope of a partitioned CRL.
type DistributionPoint struct {
	DirNames              [][]byte // DER Names, as in the certificates' CRL distribution points
	URIs                  []string
	OnlyContainsUserCerts bool
	OnlyContainsCACerts   bool
}

// Create builds the CRL of template t issued by issuer and signs it with
// signer, which must hold the key of issuer. rand may be nil.
func Create(rnd io.Reader, t *Template, issuer *x509.Certificate, signer crypto.Signer) ([]byte, error) {
	b, err := newBuilder(t, issuer, signer, 64*len(t.Entries))
	if err != nil {
		return nil, err
	}
	var buf [20]byte
	for i := range t.Entries {
		e := &t.Entries[i]
		serial, err := serialBytes(e.Serial, buf[:])
		if err != nil {
			return nil, err
		}
		code, err := reasonCode(e.Reason)
		if err != nil {
			return nil, err
		}
		if e.RevocationTime.After(t.ThisUpdate) {
			return nil, fmt.Errorf("crl: serial %x is revoked at %s, after thisUpdate", e.Serial, e.RevocationTime.Format(time.RFC3339))
		}
		b.add(serial, e.RevocationTime, code, e.InvalidityDate)
	}
	return b.finish(rnd)
}

// builder assembles one CertificateList in a single buffer: a reserved
// prefix where the headers go once the lengths are known, the entries, the
// extensions, then the signature. Nothing is copied but the fixed fields.
type builder struct {
	buf    []byte
	head   int    // bytes reserved before the entries
	fixed  []byte // version, signature, issuer, thisUpdate, nextUpdate
	exts   []extension
	alg    sigAlg
	signer crypto.Signer
}

// newBuilder checks t and encodes what precedes and follows the entries.
// sizeHint is the expected size of the entries.
func newBuilder(t *Template, issuer *x509.Certificate, signer crypto.Signer, sizeHint int) (*builder, error) {
	if issuer == nil || signer == nil {
		return nil, errors.New("crl: an issuer certificate and its key are required")
	}
	if issuer.KeyUsage != 0 && issuer.KeyUsage&x509.KeyUsageCRLSign == 0 {
		return nil, fmt.Errorf("crl: issuer %q may not sign CRLs (no cRLSign key usage)", issuer.Subject.CommonName)
	}
	if pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(issuer.PublicKey) {
		return nil, errors.New("crl: the key does not match the issuer certificate")
	}
	if t.Number == nil || t.Number.Sign() < 0 || t.Number.BitLen() > 20*8 {
		return nil, errors.New("crl: the CRL number must be a non-negative integer of at most 20 octets")
	}
	if t.ThisUpdate.IsZero() || !t.NextUpdate.After(t.ThisUpdate) {
		return nil, errors.New("crl: nextUpdate must be after thisUpdate")
	}
	alg, err := algorithmFor(signer.Public())
	if err != nil {
		return nil, err
	}
	exts, err := t.extensions(issuer)
	if err != nil {
		return nil, err
	}
	fixed := append([]byte{tagInteger, 1, 1}, alg.der...) // version v2
	fixed = append(fixed, issuer.RawSubject...)
	fixed = appendTime(appendTime(fixed, t.ThisUpdate), t.NextUpdate)
	head := len(fixed) + 3*maxHeader
	b := &builder{buf: make([]byte, head, head+sizeHint+1024), head: head, fixed: fixed, exts: exts, alg: alg, signer: signer}
	return b, nil
}

// add appends one entry.
func (b *builder) add(serial []byte, revoked time.Time, reason int, invalidity time.Time) {
	b.buf = appendEntry(b.buf, serial, revoked, reason, invalidity)
}

// addRaw appends an entry encoded by appendEntry.
func (b *builder) addRaw(entry []byte) { b.buf = append(b.buf, entry...) }

// finish closes the TBSCertList, signs it and returns the CertificateList.
// The builder must not be used afterwards.
func (b *builder) finish(rnd io.Reader) ([]byte, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	entries := len(b.buf) - b.head
	buf, err := appendExtensions(b.buf, b.exts)
	if err != nil {
		return nil, err
	}
	// revokedCertificates is absent, not empty, when nothing is revoked
	// (section 5.1.2.6).
	start := b.head
	if entries > 0 {
		start = putHeader(buf, b.head, tagSequence, entries)
	}
	start -= len(b.fixed)
	copy(buf[start:], b.fixed)
	tbsStart := putHeader(buf, start, tagSequence, len(buf)-start)
	sig, err := signDigest(rnd, b.signer, b.alg, buf[tbsStart:])
	if err != nil {
		return nil, err
	}
	buf = append(buf, b.alg.der...)
	buf = appendHeader(buf, tagBitString, len(sig)+1)
	buf = append(append(buf, 0), sig...)
	outer := putHeader(buf, tbsStart, tagSequence, len(buf)-tbsStart)
	b.buf = nil
	return buf[outer:], nil
}

// extensions builds the crlExtensions: authorityKeyIdentifier, cRLNumber,
// then the scope (issuingDistributionPoint or deltaCRLIndicator) and
// freshestCRL.
func (t *Template) extensions(issuer *x509.Certificate) ([]extension, error) {
	if len(issuer.SubjectKeyId) == 0 {
		return nil, errors.New("crl: the issuer certificate has no subject key identifier for the CRL's authority key identifier")
	}
	if t.DeltaBase != nil && t.IssuingDistributionPoint != nil {
		return nil, errors.New("crl: a delta CRL here covers the full scope; it takes no issuing distribution point")
	}
	aki := appendTLV(nil, tagSequence, appendTLV(nil, tagKeyIdentifier, issuer.SubjectKeyId))
	exts := []extension{
		{id: oidAuthorityKeyID, value: aki},
		{id: oidCRLNumber, value: appendInteger(nil, t.Number.Bytes())},
	}
	if t.DeltaBase != nil {
		if t.DeltaBase.Sign() < 0 {
			return nil, errors.New("crl: the base CRL number must not be negative")
		}
		exts = append(exts, extension{id: oidDeltaCRLIndicator, critical: true, value: appendInteger(nil, t.DeltaBase.Bytes())})
	}
	if dp := t.IssuingDistributionPoint; dp != nil {
		v, err := dp.marshal()
		if err != nil {
			return nil, err
		}
		exts = append(exts, extension{id: oidIssuingDistPoint, critical: true, value: v})
	}
	if len(t.FreshestCRL) > 0 {
		exts = append(exts, extension{id: oidFreshestCRL, value: freshestCRL(t.FreshestCRL)})
	}
	if !t.ExpiredCertsOnCRL.IsZero() {
		gt := t.ExpiredCertsOnCRL.UTC().Format("20060102150405Z")
		exts = append(exts, extension{id: oidExpiredCertsOnCRL, value: appendTLV(nil, tagGeneralizedTime, []byte(gt))})
	}
	return exts, nil
}

// marshal encodes IssuingDistributionPoint (RFC 5280 section 5.2.5):
//
//	SEQUENCE { distributionPoint [0] { fullName [0] GeneralNames },
//	           onlyContainsUserCerts [1] BOOLEAN, onlyContainsCACerts [2] BOOLEAN }
func (dp *DistributionPoint) marshal() ([]byte, error) {
	if dp.OnlyContainsUserCerts && dp.OnlyContainsCACerts {
		return nil, errors.New("crl: an issuing distribution point cannot be for user and CA certificates only at once")
	}
	var names []byte
	for _, n := range dp.DirNames {
		if len(n) == 0 || n[0] != tagSequence {
			return nil, errors.New("crl: a directory name must be a DER Name")
		}
		names = appendTLV(names, tagDirectoryName, n)
	}
	for _, u := range dp.URIs {
		names = appendTLV(names, tagURI, []byte(u))
	}
	var body []byte
	if len(names) > 0 {
		body = appendTLV(body, tagContext0, appendTLV(nil, tagContext0, names))
	}
	if dp.OnlyContainsUserCerts {
		body = append(body, tagContext1, 1, 0xff)
	}
	if dp.OnlyContainsCACerts {
		body = append(body, tagContext2, 1, 0xff)
	}
	if len(body) == 0 {
		return nil, errors.New("crl: an empty issuing distribution point is not allowed (section 5.2.5)")
	}
	return appendTLV(nil, tagSequence, body), nil
}

// freshestCRL encodes CRLDistributionPoints with one fullName per URL.
func freshestCRL(urls []string) []byte {
	var dps []byte
	for _, u := range urls {
		full := appendTLV(nil, tagContext0, appendTLV(nil, tagURI, []byte(u)))
		dps = appendTLV(dps, tagSequence, appendTLV(nil, tagContext0, full))
	}
	return appendTLV(nil, tagSequence, dps)
}
