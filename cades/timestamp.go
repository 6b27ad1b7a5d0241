package cades

import (
	"bytes"
	"context"
	"crypto"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Timestamper obtains an RFC 3161 TimeStampToken (DER ContentInfo of a
// SignedData whose eContent is TSTInfo) over digest, which was made with
// hash.
type Timestamper interface {
	Timestamp(ctx context.Context, digest []byte, hash crypto.Hash) ([]byte, error)
}

// TimeStampInfo is what a TSTInfo (RFC 3161 §2.4.2) says about the
// time-stamped data.
type TimeStampInfo struct {
	Policy        asn1.ObjectIdentifier
	Hash          crypto.Hash // messageImprint.hashAlgorithm; 0 if unknown
	HashedMessage []byte
	SerialNumber  *big.Int
	GenTime       time.Time
}

// ParseTimeStampToken reads a TimeStampToken: a SignedData with
// eContentType id-ct-TSTInfo (RFC 3161 §2.4.2) and one signer. It checks
// structure only; the token's signature is checked as for any SignedData,
// with the signer's VerifySignature and CheckMessageDigest over
// SignedData.Content.
func ParseTimeStampToken(der []byte) (*SignedData, *TimeStampInfo, error) {
	sd, err := Parse(der)
	if err != nil {
		return nil, nil, err
	}
	if !sd.ContentType.Equal(oidTSTInfo) || !sd.eContentPresent || len(sd.Signers) != 1 {
		return nil, nil, fmt.Errorf("%w: not a time-stamp token (RFC 3161 §2.4.2)", ErrFormat)
	}
	info, err := parseTSTInfo(sd.Content)
	if err != nil {
		return nil, nil, err
	}
	return sd, info, nil
}

func parseTSTInfo(der []byte) (*TimeStampInfo, error) {
	in := cryptobyte.String(der)
	var seq, imprint, alg, hashed, gen cryptobyte.String
	var version int64
	info := &TimeStampInfo{SerialNumber: new(big.Int)}
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() || !seq.ReadASN1Integer(&version) || version != 1 ||
		!seq.ReadASN1ObjectIdentifier(&info.Policy) || !seq.ReadASN1(&imprint, cbasn1.SEQUENCE) ||
		!imprint.ReadASN1Element(&alg, cbasn1.SEQUENCE) || !imprint.ReadASN1(&hashed, cbasn1.OCTET_STRING) || !imprint.Empty() ||
		!seq.ReadASN1Integer(info.SerialNumber) || !seq.ReadASN1(&gen, cbasn1.GeneralizedTime) {
		return nil, fmt.Errorf("%w: bad TSTInfo", ErrFormat)
	}
	a, err := parseAlgorithmIdentifier(alg)
	if err != nil {
		return nil, err
	}
	info.Hash = hashFromOID(a.oid)
	info.HashedMessage = append([]byte{}, hashed...)
	if info.GenTime, err = parseGeneralizedTime(string(gen)); err != nil {
		return nil, err
	}
	return info, nil
}

// timestamp asks ts for a token over digest and checks that it is one, over
// that digest.
func timestamp(ctx context.Context, ts Timestamper, digest []byte, hash crypto.Hash) ([]byte, *SignedData, error) {
	if ts == nil {
		return nil, nil, fmt.Errorf("cades: no Timestamper")
	}
	tok, err := ts.Timestamp(ctx, digest, hash)
	if err != nil {
		return nil, nil, fmt.Errorf("cades: time-stamping: %w", err)
	}
	sd, info, err := ParseTimeStampToken(tok)
	if err != nil {
		return nil, nil, fmt.Errorf("cades: the time-stamp token: %w", err)
	}
	if info.Hash != hash || !bytes.Equal(info.HashedMessage, digest) {
		return nil, nil, fmt.Errorf("%w: the time-stamp token's imprint is not the one requested", ErrDigestMismatch)
	}
	// Keep a DER token as the TSA sent it; normalise a BER one.
	if norm, err := toDER(tok); err == nil && bytes.Equal(norm, tok) {
		return tok, sd, nil
	}
	der, err := sd.encode()
	if err != nil {
		return nil, nil, err
	}
	return der, sd, nil
}

func defaultHash(h crypto.Hash) (crypto.Hash, error) {
	if h == 0 {
		h = crypto.SHA256
	}
	return h, checkSigningHash(h)
}

// AddSignatureTimeStamp raises cms to B-T (EN 319 122-1 §6.3): it adds a
// signature-time-stamp attribute (id-aa-signatureTimeStampToken, §5.3),
// a token over the hash of the signature value, to every SignerInfo. hash
// is the imprint hash (default SHA-256). The signed parts are not touched,
// so the signatures stay valid; the result is DER.
func AddSignatureTimeStamp(ctx context.Context, cms []byte, ts Timestamper, hash crypto.Hash) ([]byte, error) {
	hash, err := defaultHash(hash)
	if err != nil {
		return nil, err
	}
	sd, err := Parse(cms)
	if err != nil {
		return nil, err
	}
	if len(sd.Signers) == 0 {
		return nil, fmt.Errorf("%w: no SignerInfo", ErrFormat)
	}
	for _, s := range sd.Signers {
		if err := s.checkAugmentable(); err != nil {
			return nil, err
		}
		tok, _, err := timestamp(ctx, ts, hashOf(hash, s.Signature), hash)
		if err != nil {
			return nil, err
		}
		s.addUnsigned(oidSignatureTimeStamp, tok)
	}
	return sd.encode()
}
