package citizen_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/citizen"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/textpdf"
	"github.com/oces-pki/oces/revocation"
)

func TestSelfService(t *testing.T) {
	e := newSigningEnv(t)
	ctx := context.Background()
	en := e.enrol(t, "karen.j", cpr, password)
	sess := e.login(t, "karen.j", password, en.Card)

	// One signature gives the citizen a one-time certificate.
	doc, err := textpdf.Render("Jeg bekræfter.", 1)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(doc)
	ch, err := e.svc.Challenge(ctx, "karen.j")
	if err != nil {
		t.Fatal(err)
	}
	sad, err := e.svc.Authorize(ctx, citizen.AuthorizeRequest{UserID: "karen.j", Password: password, Code: code(t, en.Card, ch), Hashes: [][]byte{digest[:]}})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := e.svc.SignDocument(ctx, citizen.DocumentRequest{UserID: "karen.j", SAD: sad.Token, Document: doc, PDF: true})
	if err != nil {
		t.Fatal(err)
	}
	certs, err := e.svc.MyCertificates(ctx, sess.ID)
	if err != nil || len(certs) != 1 || certs[0].Serial.Big().Cmp(signed.Certificate.SerialNumber) != 0 || certs[0].Status != ca.StatusGood {
		t.Fatalf("certificates: %+v %v", certs, err)
	}

	// A certificate that is not the citizen's cannot be suspended.
	other := e.pki.NewSeal(t, "voces", hsm.ECP256)
	if _, err := e.svc.SuspendMine(ctx, sess.ID, other.Cert.Serial.String()); !errors.Is(err, citizen.ErrNotFound) {
		t.Fatalf("suspending another's certificate: %v", err)
	}
	// A session at level low may not suspend.
	low, err := e.svc.Password(ctx, "karen.j", password)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SuspendMine(ctx, low.ID, certs[0].Serial.String()); !errors.Is(err, citizen.ErrLevel) {
		t.Fatalf("suspending at level low: %v", err)
	}
	got, err := e.svc.SuspendMine(ctx, sess.ID, certs[0].Serial.String())
	if err != nil || got.Status != ca.StatusSuspended {
		t.Fatalf("suspend: %+v %v", got, err)
	}
	// OCSP says so, as a relying party sees it.
	f := revocation.New(revocation.Config{MaxAge: -1, DisableCRL: true})
	res, err := f.Check(ctx, signed.Certificate, e.pki.Issuing)
	if err != nil || res.Status == revocation.Good {
		t.Fatalf("OCSP after suspension: %+v %v", res, err)
	}
	assertAudited(t, e, map[string]int{citizen.ActionCertificateSuspend: 2, audit.ActionCertSuspend: 1, "citizen karen.j": 1})

	// A card order is recorded once and fulfilled by support's new card.
	at, err := e.svc.OrderCard(ctx, sess.ID)
	if err != nil || at.IsZero() {
		t.Fatalf("order: %v %v", at, err)
	}
	again, _ := e.svc.OrderCard(ctx, sess.ID)
	sum, _ := e.svc.Show(ctx, "karen.j")
	if !again.Equal(at) || !sum.CardOrdered.Equal(at) {
		t.Fatalf("order %v, again %v, show %v", at, again, sum.CardOrdered)
	}
	if _, err := e.svc.NewCard(ctx, "karen.j", audit.System); err != nil {
		t.Fatal(err)
	}
	if sum, _ := e.svc.Show(ctx, "karen.j"); !sum.CardOrdered.IsZero() {
		t.Errorf("the order is still pending after a new card")
	}

	// The password changes only with the current one.
	if err := e.svc.ChangeOwnPassword(ctx, sess.ID, "not it at all", "a new secret 8"); !errors.Is(err, citizen.ErrAuthFailed) {
		t.Fatalf("change with a wrong current password: %v", err)
	}
	if err := e.svc.ChangeOwnPassword(ctx, sess.ID, password, "a new secret 8"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Password(ctx, "karen.j", "a new secret 8"); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
}
