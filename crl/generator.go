package crl

import (
	"context"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"

	"github.com/oces-pki/oces/ca"
)

// Source is what CRL generation reads from the store; *bolt.DB implements
// it. The CRL counter is durable, so CRL numbers keep increasing across
// restarts.
type Source interface {
	// ForEachRevoked calls fn for every suspended or revoked certificate of
	// the CA.
	ForEachRevoked(ctx context.Context, ca string, fn func(*ca.Certificate) error) error
	// ForEachChangedSince calls fn, once each, for every certificate of the
	// CA whose status changed at or after since, as it is now.
	ForEachChangedSince(ctx context.Context, ca string, since time.Time, fn func(*ca.Certificate) error) error
	// NextCounter durably advances a named counter by n and returns the
	// first value of the range.
	NextCounter(ctx context.Context, name string, n uint64) (uint64, error)
	// Partitions is one more than the highest CRL partition that a
	// certificate of the CA may be in (partitionSize is the CA's), so that
	// an empty partition has its CRL too.
	Partitions(ctx context.Context, ca string, partitionSize int) (int, error)
	// CRLState returns the state SetCRLState last saved for the CA, or
	// nil if there is none. The Publisher keeps its delta CRL base there,
	// so that the first delta after a restart is relative to the same
	// complete CRL as the last one before it.
	CRLState(ctx context.Context, ca string) ([]byte, error)
	// SetCRLState durably replaces the CA's saved state.
	SetCRLState(ctx context.Context, ca string, state []byte) error
}

// DefaultValidity is how long a CRL is valid: nextUpdate - thisUpdate.
const DefaultValidity = 12 * time.Hour

// Generator builds the CRLs of issuing CAs from a Source.
type Generator struct {
	source   Source
	base     string
	validity time.Duration
	now      func() time.Time
	rand     io.Reader
}

// NewGenerator makes a generator. baseURL is the public base URL that the
// CA puts into certificates; validity 0 means DefaultValidity; now nil
// means time.Now and rand nil crypto/rand.
func NewGenerator(src Source, baseURL string, validity time.Duration, now func() time.Time, rand io.Reader) (*Generator, error) {
	if src == nil {
		return nil, errors.New("crl: a source is required")
	}
	if !strings.HasPrefix(baseURL, "http://") && !strings.HasPrefix(baseURL, "https://") {
		return nil, fmt.Errorf("crl: base URL %q must be an absolute http(s) URL", baseURL)
	}
	if validity == 0 {
		validity = DefaultValidity
	}
	if validity < time.Minute {
		return nil, fmt.Errorf("crl: validity %s is shorter than a minute", validity)
	}
	if now == nil {
		now = time.Now
	}
	return &Generator{source: src, base: strings.TrimSuffix(baseURL, "/"), validity: validity, now: now, rand: rand}, nil
}

// FullURL, PartitionURL and DeltaURL are where the CRLs of a CA are
// published, as the CA writes them into certificates.
func (g *Generator) FullURL(caName string) string { return g.base + "/crl/" + caName + ".crl" }

// PartitionURL is the URL of partition n of the CA.
func (g *Generator) PartitionURL(caName string, n int) string {
	return fmt.Sprintf("%s/crl/%s/%d.crl", g.base, caName, n)
}

// DeltaURL is the URL of the CA's delta CRL.
func (g *Generator) DeltaURL(caName string) string { return g.base + "/crl/" + caName + "/delta.crl" }

// counterName names the CA's CRL number sequence in the store. Full,
// partition and delta CRLs share it (RFC 5280 section 5.2.3).
func counterName(caName string) string { return "crl/" + caName }

// Base identifies the complete CRL a delta CRL is relative to.
type Base struct {
	Number     uint64    `json:"number"`
	ThisUpdate time.Time `json:"this_update"`
}

// Request asks for one run for one CA.
type Request struct {
	Issuer *ca.Issuer
	// Partitions lists the partitions to rebuild; nil rebuilds every
	// partition that has ever had a certificate.
	Partitions map[int]bool
	// Base is the complete CRL the delta CRL is relative to; nil makes this
	// run's full CRL the base, so the delta is empty.
	Base *Base
	// SizeHint is the expected size of the full CRL, to allocate once.
	SizeHint int
	// ExpiredCertsOnCRL keeps the entries of certificates that have
	// expired, and says so with the expiredCertsOnCRL extension (X.509
	// section 9.6.2.8, from the issuing CA's notBefore). By default an
	// entry leaves every CRL once its certificate's notAfter is before
	// thisUpdate (RFC 5280 section 3.3).
	ExpiredCertsOnCRL bool
}

// Set is what one run produced. All its CRLs carry the same number.
type Set struct {
	CA         string
	Number     uint64
	ThisUpdate time.Time
	NextUpdate time.Time
	Full       []byte
	Delta      []byte
	DeltaBase  Base
	// Partitions holds the partition CRLs rebuilt in this run.
	Partitions map[int][]byte
	// Known is one more than the highest partition that exists.
	Known   int
	Entries int // entries in the full CRL
}

// Generate runs once for req.Issuer:
//
//  1. draw the CRL number, durably, and fix thisUpdate and nextUpdate;
//  2. read the suspended and revoked certificates once, encoding each entry
//     once into the full CRL and into its partition's CRL;
//  3. read the changes since the base for the delta CRL;
//  4. sign the full CRL, the partitions and the delta CRL.
func (g *Generator) Generate(ctx context.Context, req Request) (*Set, error) {
	iss := req.Issuer
	if iss == nil || iss.Certificate == nil || iss.Signer == nil {
		return nil, errors.New("crl: an issuer with a certificate and a key is required")
	}
	// 1. Number and times.
	now := g.now().UTC().Truncate(time.Second)
	n, err := g.source.NextCounter(ctx, counterName(iss.Name), 1)
	if err != nil {
		return nil, fmt.Errorf("crl: drawing CRL number for %s: %w", iss.Name, err)
	}
	set := &Set{CA: iss.Name, Number: n, ThisUpdate: now, NextUpdate: now.Add(g.validity), Partitions: map[int][]byte{}}
	known, err := g.source.Partitions(ctx, iss.Name, max(iss.PartitionSize, 1))
	if err != nil {
		return nil, fmt.Errorf("crl: counting the partitions of %s: %w", iss.Name, err)
	}
	set.Known = known
	// 2. The full CRL and the partitions in one pass.
	r, err := g.newRun(iss, set, req)
	if err != nil {
		return nil, err
	}
	if err := g.source.ForEachRevoked(ctx, iss.Name, r.addRevoked); err != nil {
		return nil, fmt.Errorf("crl: reading revoked certificates of %s: %w", iss.Name, err)
	}
	// 3. The delta CRL.
	if err := g.delta(ctx, r, req.Base); err != nil {
		return nil, err
	}
	// 4. Sign.
	return set, r.finish(g.rand)
}

// run is one Generate in progress.
type run struct {
	g       *Generator
	iss     *ca.Issuer
	set     *Set
	full    *builder
	delta   *builder
	parts   map[int]*builder
	want    map[int]bool // nil: every partition
	subject pkix.RDNSequence
	hint    int
	scratch []byte
	serial  [16]byte
	// keepExpired is Request.ExpiredCertsOnCRL.
	keepExpired bool
}

func (g *Generator) newRun(iss *ca.Issuer, set *Set, req Request) (*run, error) {
	r := &run{g: g, iss: iss, set: set, parts: map[int]*builder{}, want: req.Partitions, hint: req.SizeHint,
		keepExpired: req.ExpiredCertsOnCRL}
	if _, err := asn1.Unmarshal(iss.Certificate.RawSubject, &r.subject); err != nil {
		return nil, fmt.Errorf("crl: parsing the subject of %s: %w", iss.Name, err)
	}
	var err error
	r.full, err = newBuilder(r.template(&Template{FreshestCRL: []string{g.DeltaURL(iss.Name)}}), iss.Certificate, iss.Signer, req.SizeHint)
	if err != nil {
		return nil, fmt.Errorf("crl: %s: %w", iss.Name, err)
	}
	for p := range set.Known {
		if r.want == nil || r.want[p] {
			if _, err := r.partition(p); err != nil {
				return nil, err
			}
		}
	}
	for p := range r.want {
		if _, err := r.partition(p); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// template fills in the fields every CRL of the run shares.
func (r *run) template(t *Template) *Template {
	t.Number = new(big.Int).SetUint64(r.set.Number)
	t.ThisUpdate, t.NextUpdate = r.set.ThisUpdate, r.set.NextUpdate
	if r.keepExpired {
		t.ExpiredCertsOnCRL = r.iss.Certificate.NotBefore
	}
	return t
}

// expired reports whether c leaves the run's CRLs: its certificate
// expired before thisUpdate, and expired entries are not kept.
func (r *run) expired(c *ca.Certificate) bool {
	return !r.keepExpired && !c.NotAfter.IsZero() && c.NotAfter.Before(r.set.ThisUpdate)
}

// partition returns the builder of partition p, making it on first use.
func (r *run) partition(p int) (*builder, error) {
	if b, ok := r.parts[p]; ok {
		return b, nil
	}
	if p < 0 {
		return nil, fmt.Errorf("crl: %s: negative partition %d", r.iss.Name, p)
	}
	dir, err := PartitionDirName(r.subject, p)
	if err != nil {
		return nil, err
	}
	dp := &DistributionPoint{DirNames: [][]byte{dir}, URIs: []string{r.g.PartitionURL(r.iss.Name, p)}, OnlyContainsUserCerts: true}
	hint := r.hint / max(r.set.Known, 1)
	b, err := newBuilder(r.template(&Template{IssuingDistributionPoint: dp}), r.iss.Certificate, r.iss.Signer, hint)
	if err != nil {
		return nil, fmt.Errorf("crl: %s partition %d: %w", r.iss.Name, p, err)
	}
	r.parts[p] = b
	return b, nil
}

// PartitionDirName is the directory name of partition n of the CA whose
// subject is issuer: the issuer's name plus CN=CRL<n>, encoded exactly as
// the CA encodes it into the certificates' CRL distribution points.
func PartitionDirName(issuer pkix.RDNSequence, n int) ([]byte, error) {
	name := append(pkix.RDNSequence{}, issuer...)
	name = append(name, pkix.RelativeDistinguishedNameSET{
		{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: ca.PartitionName(n)},
	})
	der, err := asn1.Marshal(name)
	if err != nil {
		return nil, fmt.Errorf("crl: encoding partition name: %w", err)
	}
	return der, nil
}

// addRevoked adds one suspended or revoked certificate to the full CRL and
// to its partition's CRL when that partition is being rebuilt.
func (r *run) addRevoked(c *ca.Certificate) error {
	// A status changed after thisUpdate waits for the next run: an entry
	// must not be revoked after its CRL's thisUpdate (section 5.1.2.6).
	if c.Status == ca.StatusGood || c.RevokedAt.After(r.set.ThisUpdate) || r.expired(c) {
		return nil
	}
	entry, err := r.encode(c)
	if err != nil {
		return err
	}
	r.full.addRaw(entry)
	r.set.Entries++
	if c.Partition >= r.set.Known {
		r.set.Known = c.Partition + 1
	}
	if r.want != nil && !r.want[c.Partition] {
		return nil
	}
	b, err := r.partition(c.Partition)
	if err != nil {
		return err
	}
	b.addRaw(entry)
	return nil
}

// encode encodes c's entry into the run's scratch buffer.
func (r *run) encode(c *ca.Certificate) ([]byte, error) {
	reason := noReason
	switch c.Status {
	case ca.StatusSuspended:
		reason = ca.ReasonCertificateHold.Code()
	case ca.StatusRevoked:
		code, err := reasonCode(c.Reason)
		if err != nil {
			return nil, fmt.Errorf("crl: certificate %s: %w", c.Serial, err)
		}
		reason = code
	}
	r.serial = c.Serial
	r.scratch = appendEntry(r.scratch[:0], r.serial[:], c.RevokedAt, reason, c.InvalidityDate)
	return r.scratch, nil
}

// delta starts the delta CRL relative to base and adds what changed since:
// current entries for certificates suspended or revoked since, and
// removeFromCRL for those released since (section 5.2.4).
func (g *Generator) delta(ctx context.Context, r *run, base *Base) error {
	self := base == nil || base.Number >= r.set.Number
	if self {
		base = &Base{Number: r.set.Number, ThisUpdate: r.set.ThisUpdate}
	}
	r.set.DeltaBase = *base
	var err error
	t := r.template(&Template{DeltaBase: new(big.Int).SetUint64(base.Number)})
	if r.delta, err = newBuilder(t, r.iss.Certificate, r.iss.Signer, 0); err != nil {
		return fmt.Errorf("crl: %s delta: %w", r.iss.Name, err)
	}
	if self {
		return nil
	}
	// thisUpdate and the status times are whole seconds; a second of
	// overlap makes sure no change between the base's scan and its
	// thisUpdate is lost. Listing a change twice is harmless.
	since := base.ThisUpdate.Add(-time.Second)
	err = g.source.ForEachChangedSince(ctx, r.iss.Name, since, func(c *ca.Certificate) error {
		if r.expired(c) {
			return nil // on no CRL any more, so nothing for a delta to say
		}
		if c.Status == ca.StatusGood {
			if c.StatusChanged.After(r.set.ThisUpdate) {
				return nil // released after thisUpdate: the next run says so
			}
			r.serial = c.Serial
			r.delta.add(r.serial[:], c.StatusChanged, reasonRemoveFromCRL, time.Time{})
			return nil
		}
		if c.RevokedAt.After(r.set.ThisUpdate) {
			return nil
		}
		entry, err := r.encode(c)
		if err == nil {
			r.delta.addRaw(entry)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("crl: reading status changes of %s: %w", r.iss.Name, err)
	}
	return nil
}

// finish signs every CRL of the run.
func (r *run) finish(rnd io.Reader) error {
	var err error
	if r.set.Full, err = r.full.finish(rnd); err != nil {
		return fmt.Errorf("crl: %s full CRL: %w", r.iss.Name, err)
	}
	if r.set.Delta, err = r.delta.finish(rnd); err != nil {
		return fmt.Errorf("crl: %s delta CRL: %w", r.iss.Name, err)
	}
	for p, b := range r.parts {
		if r.set.Partitions[p], err = b.finish(rnd); err != nil {
			return fmt.Errorf("crl: %s partition %d: %w", r.iss.Name, p, err)
		}
	}
	return nil
}
