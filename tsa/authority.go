package tsa

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"
)

// DefaultMaxRequestBytes bounds a TimeStampReq when Config.MaxRequestBytes is
// zero. A SHA-512 request with a long nonce and a policy is under 200 bytes.
const DefaultMaxRequestBytes = 16 << 10

// DefaultAccuracy is used when Config.Accuracy is zero.
const DefaultAccuracy = time.Second

// SerialSource hands out unique, strictly increasing token serial numbers
// that survive restarts (RFC 3161 §2.4.2: serialNumber unique per TSA).
type SerialSource interface {
	NextSerial(ctx context.Context) (*big.Int, error)
}

// Config configures an Authority.
type Config struct {
	// Signer is the TSA key; in production an HSM key.
	Signer crypto.Signer
	// Certificate is the TSA certificate: it must carry the Signer's public
	// key and a critical extended key usage with id-kp-timeStamping only.
	Certificate *x509.Certificate
	// Chain holds the issuing CA(s), issuer first; sent with Certificate
	// when a request sets certReq.
	Chain []*x509.Certificate
	// Policies are the TSA policies served; the first is the default.
	Policies []asn1.ObjectIdentifier
	// Accuracy is stated in every token; default DefaultAccuracy.
	Accuracy time.Duration
	// Qualified adds the qcStatements extension with esi4-qtstStatement-1
	// to every token (EN 319 422 clause 9.1).
	Qualified bool
	// Serials supplies serial numbers; see BlockSerials.
	Serials SerialSource
	// Clock supplies genTime; default time.Now.
	Clock func() time.Time
	// Logger receives one debug record per token and one per rejection.
	Logger *slog.Logger
	// MaxRequestBytes bounds a request; default DefaultMaxRequestBytes.
	MaxRequestBytes int64
	// Status, when set, is asked whether Certificate is good before a
	// token is granted, at most once per StatusTTL (default
	// DefaultStatusTTL); see status.go.
	Status    StatusChecker
	StatusTTL time.Duration
	// Audit, when set, records when the TSA stops granting because its
	// certificate is not good, and when it resumes.
	Audit Auditor
}

// Authority is a time-stamp authority. It is safe for concurrent use.
type Authority struct {
	cfg      Config
	hash     crypto.Hash // digest of the signed attributes, follows the key
	genTimeD int         // fractional-second digits in genTime
	tsaName  asn1.RawValue
	exts     []pkix.Extension
	certV2   []byte // DER SigningCertificateV2, computed once
	enc      *tokenEncoder

	certStatus certStatus
}

// New validates cfg and returns an Authority. Errors name the offending field.
func New(cfg Config) (*Authority, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Accuracy == 0 {
		cfg.Accuracy = DefaultAccuracy
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.StatusTTL == 0 {
		cfg.StatusTTL = DefaultStatusTTL
	}
	a := &Authority{cfg: cfg, genTimeD: genTimeDigits(cfg.Accuracy)}
	var err error
	if a.hash, err = signatureHash(cfg.Signer.Public()); err != nil {
		return nil, err
	}
	if a.tsaName, err = tsaGeneralName(cfg.Certificate); err != nil {
		return nil, err
	}
	if a.certV2, err = signingCertificateV2Attr(cfg.Certificate); err != nil {
		return nil, err
	}
	if cfg.Qualified {
		v, err := asn1.Marshal([]qcStatement{{StatementID: oidQTSTStatement1}})
		if err != nil {
			return nil, fmt.Errorf("tsa: encoding qcStatements: %w", err)
		}
		a.exts = []pkix.Extension{{Id: oidQCStatements, Value: v}}
	}
	if a.enc, err = newTokenEncoder(&a.cfg, a.hash, a.certV2, a.tsaName, a.exts); err != nil {
		return nil, err
	}
	return a, nil
}

func (c *Config) validate() error {
	switch {
	case c.Signer == nil:
		return errors.New("tsa: Config.Signer is required")
	case c.Certificate == nil:
		return errors.New("tsa: Config.Certificate is required")
	case c.Serials == nil:
		return errors.New("tsa: Config.Serials is required")
	case len(c.Policies) == 0:
		return errors.New("tsa: Config.Policies needs at least one policy OID")
	case c.Accuracy < 0:
		return fmt.Errorf("tsa: Config.Accuracy must be > 0, got %v", c.Accuracy)
	case c.MaxRequestBytes < 0:
		return fmt.Errorf("tsa: Config.MaxRequestBytes must be > 0, got %d", c.MaxRequestBytes)
	case c.StatusTTL < 0 || c.StatusTTL > time.Hour:
		return fmt.Errorf("tsa: Config.StatusTTL must be between 0 (default %s) and an hour, got %s", DefaultStatusTTL, c.StatusTTL)
	}
	for i, p := range c.Policies {
		if len(p) < 2 {
			return fmt.Errorf("tsa: Config.Policies[%d] is not a valid OID", i)
		}
	}
	pub, ok := c.Signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(c.Certificate.PublicKey) {
		return errors.New("tsa: Config.Certificate does not carry the public key of Config.Signer")
	}
	if err := checkTimeStampingEKU(c.Certificate); err != nil {
		return fmt.Errorf("tsa: Config.Certificate: %w", err)
	}
	if len(c.Chain) > 0 {
		if err := c.Certificate.CheckSignatureFrom(c.Chain[0]); err != nil {
			return fmt.Errorf("tsa: Config.Chain[0] is not the issuer of Config.Certificate: %w", err)
		}
	}
	return nil
}

// checkTimeStampingEKU enforces RFC 3161 §2.3: exactly one extended key usage,
// id-kp-timeStamping, in a critical extension.
func checkTimeStampingEKU(cert *x509.Certificate) error {
	if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping ||
		len(cert.UnknownExtKeyUsage) != 0 {
		return errors.New("extended key usage must be id-kp-timeStamping only (RFC 3161 §2.3)")
	}
	for _, e := range cert.Extensions {
		if e.Id.Equal(oidExtKeyUsage) {
			if !e.Critical {
				return errors.New("extended key usage must be critical (RFC 3161 §2.3)")
			}
			break
		}
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return errors.New("key usage must allow digitalSignature")
	}
	return nil
}

// signatureHash picks the digest for the signed attributes from the key:
// SHA-256 for RSA (PKCS #1 v1.5) and P-256, SHA-384 for P-384, SHA-512 for P-521.
func signatureHash(pub crypto.PublicKey) (crypto.Hash, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return crypto.SHA256, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return crypto.SHA256, nil
		case elliptic.P384():
			return crypto.SHA384, nil
		case elliptic.P521():
			return crypto.SHA512, nil
		}
	}
	return 0, fmt.Errorf("tsa: Config.Signer: unsupported key type %T (want RSA or ECDSA P-256/384/521)", pub)
}

// genTimeDigits gives genTime a resolution finer than the stated accuracy:
// whole seconds (which every encoding/asn1-based client can read) from 1s on.
func genTimeDigits(acc time.Duration) int {
	switch {
	case acc >= time.Second:
		return 0
	case acc >= time.Millisecond:
		return 3
	}
	return 6
}

// tsaGeneralName is the TSTInfo tsa field: [0] EXPLICIT GeneralName
// directoryName [4] with the certificate's subject (RFC 3161 §2.4.2).
func tsaGeneralName(cert *x509.Certificate) (asn1.RawValue, error) {
	dn, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: cert.RawSubject})
	if err != nil {
		return asn1.RawValue{}, fmt.Errorf("tsa: encoding tsa name: %w", err)
	}
	full, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: dn})
	if err != nil {
		return asn1.RawValue{}, fmt.Errorf("tsa: encoding tsa name: %w", err)
	}
	return asn1.RawValue{FullBytes: full}, nil
}

// signingCertificateV2Attr encodes the signing-certificate-v2 attribute value
// (RFC 5816 §2.2.1): one ESSCertIDv2 with a SHA-256 certHash (algorithm
// omitted, it is the DEFAULT) and issuerSerial naming the certificate's issuer.
func signingCertificateV2Attr(cert *x509.Certificate) ([]byte, error) {
	h := sha256.Sum256(cert.Raw)
	issuer := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: cert.RawIssuer}
	v, err := asn1.Marshal(signingCertificateV2{Certs: []essCertIDv2{{
		CertHash:     h[:],
		IssuerSerial: issuerSerial{Issuer: []asn1.RawValue{issuer}, SerialNumber: cert.SerialNumber},
	}}})
	if err != nil {
		return nil, fmt.Errorf("tsa: encoding signing-certificate-v2: %w", err)
	}
	return v, nil
}

// matchESSCertIDv2 reports whether the first ESSCertIDv2 names cert
// (RFC 5035 §5.4: the first certificate identifies the signer).
func matchESSCertIDv2(v []byte, cert *x509.Certificate) error {
	var sc signingCertificateV2
	if rest, err := asn1.Unmarshal(v, &sc); err != nil || len(rest) != 0 || len(sc.Certs) == 0 {
		return errors.New("tsa: malformed signing-certificate-v2 attribute")
	}
	id := sc.Certs[0]
	hash := crypto.SHA256
	if len(id.HashAlgorithm.Algorithm) != 0 {
		var ok bool
		if hash, ok = hashFromOID(id.HashAlgorithm.Algorithm); !ok {
			return fmt.Errorf("tsa: unsupported ESSCertIDv2 hash algorithm %v", id.HashAlgorithm.Algorithm)
		}
	}
	h := hash.New()
	h.Write(cert.Raw)
	if !bytes.Equal(h.Sum(nil), id.CertHash) {
		return errors.New("tsa: ESSCertIDv2 certHash does not match the signer certificate")
	}
	if id.IssuerSerial.SerialNumber != nil {
		if id.IssuerSerial.SerialNumber.Cmp(cert.SerialNumber) != 0 {
			return errors.New("tsa: ESSCertIDv2 issuerSerial does not match the signer certificate")
		}
		if !issuerNamed(id.IssuerSerial.Issuer, cert.RawIssuer) {
			return errors.New("tsa: ESSCertIDv2 issuer does not match the signer certificate")
		}
	}
	return nil
}

func issuerNamed(names []asn1.RawValue, rawIssuer []byte) bool {
	for _, n := range names {
		if n.Class == asn1.ClassContextSpecific && n.Tag == 4 && bytes.Equal(n.Bytes, rawIssuer) {
			return true
		}
	}
	return false
}
