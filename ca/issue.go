package ca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/oces-pki/oces/audit"
)

// IssueRequest asks for one certificate. The subject name is built from
// these fields, the profile and the registry; the CSR contributes only its
// public key.
type IssueRequest struct {
	CA      string // issuing CA; "" for the first configured
	Profile string
	CSR     []byte // PKCS#10, DER or PEM

	Name         string // CN: the person, the organisation (voces) or the function (foces)
	GivenName    string // OCES3 employee, optional
	Surname      string // OCES3 employee, optional
	Organization string // required for every profile but poces
	CVR          string // required for every profile but poces
	CPR          string // poces: identifies the person; never stored or printed
	SubjectID    string // an existing registry identifier to issue for again
	Email        string // optional rfc822Name in subjectAltName

	// Actor is who asks, for the audit chain: the officer or registration
	// authority; the zero Actor is the service itself (audit.System).
	Actor audit.Actor
}

// Issue issues a certificate. The steps are ordered so that nothing is
// signed that is not durably recorded first:
//
//  1. parse the CSR and verify its signature (proof of possession) and key;
//  2. resolve the subject in the registry (creating it if new);
//  3. build the certificate template with a fresh 128-bit random serial;
//  4. lint the exact TBSCertificate that will be signed, while
//  5. serial and TBSCertificate are reserved durably (the two run side by
//     side; nothing is signed unless both succeed);
//  6. sign that TBSCertificate, byte for byte, with the issuing CA's key;
//  7. store the certificate durably, and only then return it.
func (c *CA) Issue(ctx context.Context, req IssueRequest) (*Certificate, error) {
	cert, err := c.issue(ctx, &req)
	var recorded auditedError
	if err != nil && !errors.As(err, &recorded) {
		// A refusal before the CA key was involved: record the attempt.
		c.auditFailure(ctx, req.Actor, audit.ActionCertIssue, req.Profile, err)
	}
	return cert, err
}

func (c *CA) issue(ctx context.Context, req *IssueRequest) (*Certificate, error) {
	iss, err := c.Issuer(req.CA)
	if err != nil {
		return nil, err
	}
	prof, ok := c.profiles[req.Profile]
	if !ok {
		return nil, fmt.Errorf("%w: unknown profile %q (known: %v)", ErrInvalidRequest, req.Profile, ProfileNames(c.profiles))
	}
	// 1. Proof of possession and key policy.
	csr, err := ParseCSR(req.CSR)
	if err != nil {
		return nil, err
	}
	if err := checkRequestFields(prof, req); err != nil {
		return nil, err
	}
	// Steps 2 to 5 run again if a new subject's identifier or key was
	// registered meanwhile (a concurrent first issuance for the same person,
	// or a drawn identifier that is taken).
	for attempt := 1; ; attempt++ {
		prep, err := c.prepare(ctx, iss, prof, req, csr.PublicKey)
		if errors.Is(err, ErrSubjectExists) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return c.sign(ctx, iss, prep, req.Actor)
	}
}

// prepare runs steps 2 to 5: subject, template, lint, durable reservation.
func (c *CA) prepare(ctx context.Context, iss *Issuer, prof *Profile, req *IssueRequest, pub crypto.PublicKey) (*Prepared, error) {
	// 2. The subject's identifier.
	subj, isNew, err := c.resolveSubject(ctx, prof, req)
	if err != nil {
		return nil, err
	}
	// 3. The template.
	now := c.now().UTC().Truncate(time.Second)
	serial, err := c.newSerial()
	if err != nil {
		return nil, err
	}
	seq, err := c.nextSequence(ctx, iss)
	if err != nil {
		return nil, err
	}
	partition := int(seq / uint64(iss.PartitionSize))
	tmpl, err := c.template(iss, prof, req, subj.ID, pub, serial, partition, now)
	if err != nil {
		return nil, err
	}
	// 4 and 5. Lint the TBSCertificate the HSM will sign, and reserve it
	// durably, registering a new subject in the same commit.
	tbs, lintDER, err := encodeForLint(tmpl, iss.Certificate, pub, iss.sigAlg)
	if err != nil {
		return nil, fmt.Errorf("ca: issuing %s certificate: %w", prof.Name, err)
	}
	prep := &Prepared{
		Serial: serial, CA: iss.Name, Profile: prof.Name, SubjectID: subj.ID, Partition: partition,
		NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter, Created: now, TBS: tbs,
	}
	if isNew {
		prep.NewSubject = subj
	}
	if err := c.lintAndReserve(ctx, prep, lintDER, req.Actor); err != nil {
		return nil, err
	}
	return prep, nil
}

// lintAndReserve runs steps 4 and 5 side by side: the reservation of
// prep, with its "ca.sign.before" record, is committed on another
// goroutine while the certificate (lintDER, prep.TBS with a zero
// signature) is linted on this one, whose stack is grown already. They
// are independent, and the signature waits for both, so the commit's wait
// for the disk no longer adds to the lint's time. A certificate that fails
// the lint is then reserved and never signed: its "ca.sign.after" record
// says why, and the serial stays reserved for good, as after a crash
// between the two steps (see CertificateStore.AbandonReservations).
func (c *CA) lintAndReserve(ctx context.Context, prep *Prepared, lintDER []byte, actor audit.Actor) error {
	reserved := make(chan error, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil { // as a failed reservation: nothing is signed
				reserved <- fmt.Errorf("ca: reserving serial %s panicked: %v", prep.Serial, v)
			}
		}()
		reserved <- c.certs.ReserveAudited(ctx, prep, c.signEvent(actor, audit.ActionSignBefore, prep, nil))
	}()
	lintErr := c.linter.check(lintDER)
	reserveErr := <-reserved
	if lintErr != nil {
		lintErr = fmt.Errorf("ca: issuing %s certificate: %w", prep.Profile, lintErr)
	}
	switch {
	case reserveErr != nil && lintErr != nil:
		return lintErr // nothing was reserved; the request is refused
	case reserveErr != nil:
		return fmt.Errorf("ca: reserving serial %s: %w", prep.Serial, reserveErr)
	case lintErr != nil:
		c.auditFailure(context.WithoutCancel(ctx), actor, audit.ActionSignAfter, prep.Serial.String(), lintErr)
		return auditedError{lintErr}
	}
	return nil
}

// auditedError marks an error whose audit record is written already.
type auditedError struct{ err error }

func (e auditedError) Error() string { return e.err.Error() }
func (e auditedError) Unwrap() error { return e.err }

// afterSignTimeout bounds the writes after a CA signature.
const afterSignTimeout = 30 * time.Second

// sign runs steps 6 and 7. The audit chain holds "ca.sign.before" from the
// reservation, and gets "ca.sign.after" with "cert.issue" in the same
// transaction as the certificate, or "ca.sign.after" with the error.
func (c *CA) sign(ctx context.Context, iss *Issuer, prep *Prepared, actor audit.Actor) (*Certificate, error) {
	serial := prep.Serial
	// From here the CA key is used: its outcome is stored and recorded
	// whatever the client does, so the writes do not follow the request's
	// cancellation (a bounded wait of their own instead).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), afterSignTimeout)
	defer cancel()
	fail := func(err error) (*Certificate, error) {
		c.auditFailure(ctx, actor, audit.ActionSignAfter, serial.String(), err)
		return nil, auditedError{err}
	}
	// 6. Sign the linted TBSCertificate itself.
	der, err := signCertificate(c.rand, iss.Signer, iss.Certificate.PublicKey, iss.sigAlg, prep.TBS)
	if err != nil {
		return fail(fmt.Errorf("%w: signing certificate %s with %s: %w", ErrUnavailable, serial, iss.Name, err))
	}
	// 7. Store before returning; the store checks once more that the
	// certificate carries the reserved TBSCertificate.
	cert, err := c.certs.CompleteAudited(ctx, serial, der, prep.Created,
		c.signEvent(actor, audit.ActionSignAfter, prep, nil), c.signEvent(actor, audit.ActionCertIssue, prep, nil))
	if err != nil {
		return fail(fmt.Errorf("ca: storing certificate %s: %w", serial, err))
	}
	c.log.InfoContext(ctx, "certificate issued", "serial", serial.String(), "ca", iss.Name, "profile", prep.Profile, "subject_id", prep.SubjectID)
	for _, o := range c.observers {
		if obs, ok := o.(IssuanceObserver); ok {
			if err := obs.Issued(ctx, cert); err != nil {
				c.log.WarnContext(ctx, "ca: an observer of issuance failed", "serial", serial.String(), "err", err)
			}
		}
	}
	return cert, nil
}

// signEvent is the audit event of one step of an issuance.
func (c *CA) signEvent(actor audit.Actor, action string, prep *Prepared, err error) audit.Event {
	return audit.Event{
		Time: c.now(), Actor: actorOrSystem(actor), Action: action, Target: prep.Serial.String(), Outcome: audit.Outcome(err),
		Details: map[string]string{"ca": prep.CA, "profile": prep.Profile, "subject_id": prep.SubjectID},
	}
}

// auditFailure records an action that failed or was refused. Losing such a
// record is logged, not returned: the caller's error matters more, and
// nothing happened. The target (a refused request's profile name, say) is
// cut to what a record holds, so that the record can be written whatever
// the caller sent.
func (c *CA) auditFailure(ctx context.Context, actor audit.Actor, action, target string, cause error) {
	ev := audit.Event{Time: c.now(), Actor: actorOrSystem(actor), Action: action, Target: audit.Target(target), Outcome: audit.Outcome(cause)}
	if err := c.certs.AppendAudit(ctx, ev); err != nil {
		c.log.ErrorContext(ctx, "ca: writing audit record failed", "action", action, "target", target, "err", err)
	}
}

// checkRequestFields validates what the request says of the subject.
func checkRequestFields(p *Profile, req *IssueRequest) error {
	if p.Kind == KindOrganisation && req.Name == "" {
		req.Name = req.Organization
	}
	checks := []struct {
		field, value string
		required     bool
	}{
		{"name", req.Name, true},
		{"given name", req.GivenName, false},
		{"surname", req.Surname, false},
		{"organization", req.Organization, p.Kind != KindPerson},
	}
	for _, ch := range checks {
		if err := checkName(ch.field, ch.value, ch.required); err != nil {
			return err
		}
	}
	if p.Kind == KindPerson {
		if req.Organization != "" || req.CVR != "" {
			return fmt.Errorf("%w: profile %s is for citizens; it takes no organization or CVR", ErrInvalidRequest, p.Name)
		}
	} else if err := checkCVR(req.CVR); err != nil {
		return err
	}
	if (req.GivenName != "" || req.Surname != "") && (p.Generation != OCES3 || p.Kind != KindEmployee) {
		return fmt.Errorf("%w: given name and surname are only for OCES3 employee certificates", ErrInvalidRequest)
	}
	if req.Email != "" {
		return checkEmail(req.Email)
	}
	return nil
}

// newSerial draws 128 random bits; a zero serial is drawn again.
func (c *CA) newSerial() (Serial, error) {
	var s Serial
	for s == (Serial{}) {
		if _, err := io.ReadFull(c.rand, s[:]); err != nil {
			return s, fmt.Errorf("ca: drawing serial: %w", err)
		}
	}
	return s, nil
}

// template builds the certificate of profile p for the subject.
func (c *CA) template(iss *Issuer, p *Profile, req *IssueRequest, id string, pub crypto.PublicKey,
	serial Serial, partition int, now time.Time) (*x509.Certificate, error) {
	notAfter := now.Add(p.Validity)
	if notAfter.After(iss.Certificate.NotAfter) {
		return nil, fmt.Errorf("%w: issuing CA %s expires %s, before a %s certificate would; renew the CA",
			ErrConflict, iss.Name, iss.Certificate.NotAfter.Format(time.DateOnly), p.Name)
	}
	name, err := subjectName(p, subjectFields{
		Name: req.Name, GivenName: req.GivenName, Surname: req.Surname,
		Organization: req.Organization, CVR: req.CVR, ID: id,
	})
	if err != nil {
		return nil, err
	}
	rawSubject, err := asn1.Marshal(name)
	if err != nil {
		return nil, fmt.Errorf("ca: encoding subject: %w", err)
	}
	ski, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	exts, err := c.extensions(iss, p, partition)
	if err != nil {
		return nil, err
	}
	t := &x509.Certificate{
		SerialNumber:          serial.Big(),
		RawSubject:            rawSubject,
		NotBefore:             now,
		NotAfter:              notAfter,
		KeyUsage:              keyUsageFor(p.KeyUsage, pub),
		BasicConstraintsValid: true,
		SubjectKeyId:          ski,
		AuthorityKeyId:        iss.Certificate.SubjectKeyId,
		OCSPServer:            []string{iss.urls.ocsp},
		IssuingCertificateURL: []string{iss.urls.caIssuers},
		ExtraExtensions:       exts,
		SignatureAlgorithm:    iss.sigAlg,
	}
	if req.Email != "" {
		t.EmailAddresses = []string{req.Email}
	}
	return t, nil
}

func (c *CA) extensions(iss *Issuer, p *Profile, partition int) ([]pkix.Extension, error) {
	cdp, err := crlDistributionPoints(iss.urls.fullCRL, iss.subject, partition, iss.urls.partitionCRL(partition))
	if err != nil {
		return nil, err
	}
	pol, err := certificatePolicies(p)
	if err != nil {
		return nil, err
	}
	exts := []pkix.Extension{pol, cdp}
	if p.SemanticsID != nil {
		qc, err := qcStatements(p.SemanticsID, p.NameRegistrationAuthority)
		if err != nil {
			return nil, err
		}
		exts = append(exts, qc)
	}
	return exts, nil
}

// keyUsageFor drops the encipherment bits for EC keys, which can sign and
// agree keys but not encipher (RFC 5480 section 3).
func keyUsageFor(ku x509.KeyUsage, pub crypto.PublicKey) x509.KeyUsage {
	if _, isEC := pub.(*ecdsa.PublicKey); isEC {
		return ku &^ (x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment)
	}
	return ku
}

// subjectKeyID is the SHA-1 of the subjectPublicKey bits (RFC 5280
// section 4.2.1.2, method 1).
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: encoding public key: %v", ErrInvalidRequest, err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("ca: decoding public key: %w", err)
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return sum[:], nil
}

// actorOrSystem reads the zero Actor as the service itself.
func actorOrSystem(a audit.Actor) audit.Actor {
	if a == (audit.Actor{}) {
		return audit.System
	}
	return a
}
