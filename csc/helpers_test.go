package csc_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/oces-pki/oces/citizen"
	"github.com/oces-pki/oces/csc"
	"github.com/oces-pki/oces/hsm"
	"github.com/oces-pki/oces/internal/pkitest"
	"github.com/oces-pki/oces/internal/softhsmtest"
	"github.com/oces-pki/oces/revocation"
	"github.com/oces-pki/oces/signer"
)

type fixture struct {
	pki    *pkitest.PKI
	svc    *citizen.Service
	server *httptest.Server
	card   *citizen.Card
}

const (
	userID       = "karen.j"
	password     = "correct horse 7"
	clientID     = "webshop"
	clientSecret = "s3cret-of-the-webshop"
)

// newFixture runs a PKI, the citizens' service with both signing models,
// one enrolled citizen, and the CSC API over HTTPS.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	p := pkitest.New(t, hsm.ECP256)
	ctx := context.Background()
	for _, k := range []string{"pepper", "codes"} {
		if err := p.HSM.GenerateSecret(ctx, p.Token.KeyURI(k)); err != nil {
			t.Fatal(err)
		}
	}
	svc, err := citizen.New(citizen.Config{Store: citizen.Records(p.Store), Registry: p.CA, Keys: p.HSM,
		PepperKey: p.Token.KeyURI("pepper"), CodeKey: p.Token.KeyURI("codes")})
	if err != nil {
		t.Fatal(err)
	}
	fetcher := revocation.New(revocation.Config{MaxAge: -1})
	sg, err := signer.New(signer.Config{TSA: &signer.TSAClient{URL: p.TSAURL, Roots: p.Roots(), Revocation: fetcher}, Revocation: fetcher, Audit: p.Store})
	if err != nil {
		t.Fatal(err)
	}
	tokenURI, soPIN := softhsmtest.NewSO(t, "cscwrap")
	wrapURI := strings.Replace(tokenURI, "?", ";object=wrap?", 1)
	if err := p.HSM.GenerateWrappingKey(ctx, wrapURI, soPIN); err != nil {
		t.Fatal(err)
	}
	err = svc.SetSigning(citizen.Signing{Signer: sg, CA: p.CA,
		NewKey: func(ctx context.Context) (citizen.OneTimeKey, error) {
			return p.HSM.GenerateSessionKey(ctx, p.Token.TokenURI())
		},
		NewWrappedKey: func(ctx context.Context) (citizen.OneTimeKey, []byte, error) {
			return p.HSM.GenerateWrappedKey(ctx, wrapURI)
		},
		Unwrap: func(ctx context.Context, wrapped []byte, pub crypto.PublicKey) (citizen.OneTimeKey, error) {
			ec, ok := pub.(*ecdsa.PublicKey)
			if !ok {
				return nil, errors.New("not an EC key")
			}
			return p.HSM.UnwrapKey(ctx, wrapURI, wrapped, ec)
		}})
	if err != nil {
		t.Fatal(err)
	}
	en, err := svc.Enrol(ctx, citizen.EnrolRequest{Name: "Karen Jensen", CPR: "0101901234", UserID: userID})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := svc.Password(ctx, userID, en.InitialPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.ChangePassword(ctx, sess.ID, password); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(clientSecret))
	api, err := csc.New(csc.Config{Citizens: svc, Clients: []csc.Client{{ID: clientID, SecretSHA256: sum[:]}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(api)
	t.Cleanup(srv.Close)
	return &fixture{pki: p, svc: svc, server: srv, card: en.Card}
}

// code is the card code of key number num.
func (f *fixture) code(t *testing.T, num string) string {
	t.Helper()
	for _, k := range f.card.Keys {
		if k.Number == num {
			return k.Code
		}
	}
	t.Fatalf("no key %s on the card", num)
	return ""
}
