package pdfcheck

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"sync"
	"testing"

	"github.com/digitorus/timestamp"

	"github.com/oces-pki/oces/pades/testdata/corpus"
	"github.com/oces-pki/oces/tsa"
)

// counter is an in-memory tsa.Counter: serial durability is not what these
// tests are about.
type counter struct {
	mu   sync.Mutex
	next uint64
}

func (c *counter) NextCounter(_ context.Context, _ string, n uint64) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	first := c.next
	c.next += n
	return first, nil
}

func readPEM(t *testing.T, name string) []byte {
	t.Helper()
	blk, _ := pem.Decode(corpus.Read(t, name))
	if blk == nil {
		t.Fatalf("%s: no PEM block", name)
	}
	return blk.Bytes
}

// corpusTSA is the project's own time-stamp authority with the corpus TSA
// key: tokens that openssl never saw being made.
func corpusTSA(t *testing.T) *tsa.Authority {
	t.Helper()
	key, err := x509.ParsePKCS8PrivateKey(readPEM(t, "pki/tsa.key"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(readPEM(t, "pki/tsa.pem"))
	if err != nil {
		t.Fatal(err)
	}
	root, err := x509.ParseCertificate(readPEM(t, corpus.RootCert))
	if err != nil {
		t.Fatal(err)
	}
	a, err := tsa.New(tsa.Config{
		Signer: key.(crypto.Signer), Certificate: cert, Chain: []*x509.Certificate{root},
		Policies: []asn1.ObjectIdentifier{{1, 3, 6, 1, 4, 1, 99999, 1, 2}},
		Serials:  tsa.NewBlockSerials(&counter{}, "tsa", 16),
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestOpenSSLTS(t *testing.T) {
	t.Parallel()
	a := corpusTSA(t)
	root, tsaCert := corpus.Path(t, corpus.RootCert), corpus.Path(t, "pki/tsa.pem")
	data := []byte("Hello, OCES. A document to time-stamp.\n")
	token := func(t *testing.T, withCerts bool) []byte {
		req, err := timestamp.CreateRequest(bytes.NewReader(data), &timestamp.RequestOptions{Hash: crypto.SHA256, Certificates: withCerts})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := tsa.ParseResponse(a.Respond(context.Background(), req))
		if err != nil {
			t.Fatal(err)
		}
		return tok.Raw
	}
	withCerts, bare := token(t, true), token(t, false)
	tests := []struct {
		name       string
		data, tok  []byte
		ca, untrus string
		ok         bool
	}{
		{"token with certificates", data, withCerts, root, "", true},
		{"bare token, TSA certificate supplied", data, bare, root, tsaCert, true},
		{"bare token alone", data, bare, root, "", false},
		{"other data", []byte("Hello, OCES. Another document.\n"), withCerts, root, "", false},
		{"wrong root", data, withCerts, tsaCert, "", false},
		{"not a token", data, []byte{0x30, 0x03, 0x02, 0x01, 0x00}, root, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := OpenSSLTSVerifyErr(t, tt.data, tt.tok, tt.ca, tt.untrus)
			if (err == nil) != tt.ok {
				t.Errorf("OpenSSLTSVerifyErr = %v, want success %v", err, tt.ok)
			}
			if tt.ok {
				OpenSSLTSVerify(t, tt.data, tt.tok, tt.ca, tt.untrus)
			} else {
				mustFail(t, func(tb testing.TB) { OpenSSLTSVerify(tb, tt.data, tt.tok, tt.ca, tt.untrus) })
			}
		})
	}
}
