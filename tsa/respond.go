package tsa

import (
	"context"
	"crypto"
	"encoding/asn1"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"github.com/digitorus/pkcs7"
)

// rejection is why a request was not granted: the failInfo bit and a short
// statusString for the requester.
type rejection struct {
	fail FailureInfo
	text string
	// logged marks a rejection whose cause is logged where it arises
	// (the TSA certificate's status), so that each request does not log
	// it again.
	logged bool
}

func reject(f FailureInfo, format string, args ...any) *rejection {
	return &rejection{fail: f, text: fmt.Sprintf(format, args...)}
}

// request is a parsed, accepted TimeStampReq.
type request struct {
	imprint messageImprint
	hash    crypto.Hash
	policy  asn1.ObjectIdentifier
	nonce   *big.Int
	certReq bool
}

// Respond answers one DER TimeStampReq with a DER TimeStampResp: a granted
// token or a rejection with a failInfo bit. It never panics and never returns
// anything but a TimeStampResp.
func (a *Authority) Respond(ctx context.Context, der []byte) []byte {
	resp, _ := a.respond(ctx, der)
	return resp
}

// respond is Respond that also reports the rejection, if any, for ServeHTTP.
func (a *Authority) respond(ctx context.Context, der []byte) (resp []byte, rej *rejection) {
	defer func() {
		if p := recover(); p != nil {
			a.cfg.Logger.ErrorContext(ctx, "tsa: panic while time-stamping", slog.Any("panic", p))
			rej = reject(FailSystemFailure, "internal error")
			resp = rejectionResponse(rej)
		}
	}()
	req, rej := a.parseRequest(der)
	if rej == nil {
		resp, rej = a.grant(ctx, req)
	}
	if rej != nil {
		level := slog.LevelDebug
		if rej.fail == FailSystemFailure && !rej.logged {
			level = slog.LevelError
		}
		a.cfg.Logger.Log(ctx, level, "tsa: request rejected",
			slog.String("failInfo", rej.fail.String()), slog.String("reason", rej.text))
		return rejectionResponse(rej), rej
	}
	return resp, nil
}

// parseRequest decodes and checks a TimeStampReq (RFC 3161 §2.4.1).
func (a *Authority) parseRequest(der []byte) (*request, *rejection) {
	if int64(len(der)) > a.cfg.MaxRequestBytes {
		return nil, reject(FailBadRequest, "request too large")
	}
	var r timeStampReq
	rest, err := asn1.Unmarshal(der, &r)
	switch {
	case err != nil:
		return nil, reject(FailBadDataFormat, "malformed TimeStampReq")
	case len(rest) != 0:
		return nil, reject(FailBadDataFormat, "trailing data after TimeStampReq")
	case r.Version != 1:
		return nil, reject(FailBadDataFormat, "unsupported TimeStampReq version %d", r.Version)
	case len(r.Extensions) != 0:
		return nil, reject(FailUnacceptedExtension, "request extensions are not supported")
	}
	alg := r.MessageImprint.HashAlgorithm
	hash, ok := hashFromOID(alg.Algorithm)
	if !ok {
		return nil, reject(FailBadAlg, "hash algorithm %v not accepted; use SHA-256, SHA-384 or SHA-512", alg.Algorithm)
	}
	if len(alg.Parameters.FullBytes) != 0 && !isNull(alg.Parameters) {
		return nil, reject(FailBadAlg, "hash algorithm parameters must be absent or NULL")
	}
	if len(r.MessageImprint.HashedMessage) != hash.Size() {
		return nil, reject(FailBadDataFormat, "hashedMessage is %d bytes; %v needs %d",
			len(r.MessageImprint.HashedMessage), hash, hash.Size())
	}
	policy := a.cfg.Policies[0]
	if r.ReqPolicy != nil {
		if !a.servesPolicy(r.ReqPolicy) {
			return nil, reject(FailUnacceptedPolicy, "policy %v is not served", r.ReqPolicy)
		}
		policy = r.ReqPolicy
	}
	return &request{imprint: r.MessageImprint, hash: hash, policy: policy, nonce: r.Nonce, certReq: r.CertReq}, nil
}

func isNull(v asn1.RawValue) bool {
	return v.Class == asn1.ClassUniversal && v.Tag == asn1.TagNull && len(v.Bytes) == 0
}

func (a *Authority) servesPolicy(p asn1.ObjectIdentifier) bool {
	for _, q := range a.cfg.Policies {
		if q.Equal(p) {
			return true
		}
	}
	return false
}

// grant issues a token for an accepted request.
func (a *Authority) grant(ctx context.Context, req *request) ([]byte, *rejection) {
	// 0. Sign nothing with a certificate that is not good.
	if rej := a.checkCertificate(ctx); rej != nil {
		return nil, rej
	}
	// 1. Take the serial first: a serial is never handed out twice, even if
	//    signing fails afterwards.
	serial, err := a.cfg.Serials.NextSerial(ctx)
	if err != nil {
		a.cfg.Logger.ErrorContext(ctx, "tsa: reserving serial", slog.Any("err", err))
		return nil, reject(FailSystemFailure, "serial numbers unavailable")
	}
	// 2. Read the clock once: genTime and signingTime are the same instant.
	now := a.cfg.Clock()
	if now.IsZero() {
		return nil, reject(FailTimeNotAvailable, "time source unavailable")
	}
	// 3. TSTInfo (RFC 3161 §2.4.2).
	info := tstInfo{
		Version:        1,
		Policy:         req.policy,
		MessageImprint: req.imprint,
		SerialNumber:   serial,
		GenTime:        asn1.RawValue{FullBytes: formatGeneralizedTime(now, a.genTimeD)},
		Accuracy:       newAccuracy(a.cfg.Accuracy),
		Nonce:          req.nonce,
		TSA:            a.tsaName,
		Extensions:     a.exts,
	}
	content, err := asn1.Marshal(info)
	if err != nil {
		a.cfg.Logger.ErrorContext(ctx, "tsa: encoding TSTInfo", slog.Any("err", err))
		return nil, reject(FailSystemFailure, "internal error")
	}
	// 4. SignedData over it, 5. wrapped in a granted TimeStampResp.
	token, err := a.sign(content, now, req.certReq)
	if err != nil {
		a.cfg.Logger.ErrorContext(ctx, "tsa: signing token", slog.Any("err", err), slog.String("serial", serial.String()))
		return nil, reject(FailSystemFailure, "signing failed")
	}
	resp, err := asn1.Marshal(timeStampResp{
		Status:         pkiStatusInfo{Status: int(StatusGranted)},
		TimeStampToken: asn1.RawValue{FullBytes: token},
	})
	if err != nil {
		return nil, reject(FailSystemFailure, "internal error")
	}
	a.cfg.Logger.DebugContext(ctx, "tsa: token issued", slog.String("serial", serial.String()),
		slog.String("policy", req.policy.String()), slog.Bool("certReq", req.certReq))
	return resp, nil
}

// sign wraps TSTInfo in a CMS SignedData (RFC 5652 §5) with the signed
// attributes contentType, messageDigest, signingTime and
// signing-certificate-v2.
//
// digitorus/timestamp's CreateResponseWithOpts is not used for this: it draws
// a random serial (ignoring Timestamp.SerialNumber, so Config.Serials could
// not be honoured), reads time.Now for signingTime, and hashes ESSCertIDv2
// with the imprint's algorithm. digitorus/pkcs7 is used directly instead: it
// sorts the signed attributes into a DER SET OF, signs them with one call to
// the crypto.Signer and assembles the SignedData.
func (a *Authority) sign(content []byte, now time.Time, withCerts bool) ([]byte, error) {
	sd, err := pkcs7.NewSignedData(content)
	if err != nil {
		return nil, err
	}
	digestOID, _ := oidFromHash(a.hash)
	sd.SetDigestAlgorithm(digestOID)
	sd.SetContentType(oidTSTInfo) // before AddSigner: it feeds the contentType attribute
	// CMS version 3 because eContentType is not id-data (RFC 5652 §5.1).
	sd.GetSignedData().Version = 3
	signingTime, err := asn1.Marshal(now.UTC().Truncate(time.Second))
	if err != nil {
		return nil, err
	}
	conf := pkcs7.SignerInfoConfig{
		ExtraSignedAttributes: []pkcs7.Attribute{
			{Type: oidSigningTime, Value: asn1.RawValue{FullBytes: signingTime}},
			{Type: oidSigningCertificateV2, Value: asn1.RawValue{FullBytes: a.certV2}},
		},
		SkipCertificates: !withCerts,
	}
	// The chain is added with AddCertificate rather than AddSignerChain,
	// which would re-verify the chain's signatures on every token.
	if err := sd.AddSigner(a.cfg.Certificate, a.cfg.Signer, conf); err != nil {
		return nil, err
	}
	if withCerts {
		for _, c := range a.cfg.Chain {
			sd.AddCertificate(c)
		}
	}
	return sd.Finish()
}

// rejectionResponse encodes a rejection TimeStampResp. Its inputs are fixed
// types, so encoding cannot fail; the fallback is there to keep the promise
// that a TimeStampResp is always returned.
func rejectionResponse(r *rejection) []byte {
	der, err := asn1.Marshal(timeStampResp{Status: pkiStatusInfo{
		Status:       int(StatusRejection),
		StatusString: freeText(r.text),
		FailInfo:     r.fail.bitString(),
	}})
	if err != nil {
		return systemFailureResponse
	}
	return der
}

// systemFailureResponse is SEQUENCE { SEQUENCE { INTEGER 2, BIT STRING systemFailure } }.
var systemFailureResponse = []byte{0x30, 0x0c, 0x30, 0x0a, 0x02, 0x01, 0x02, 0x03, 0x05, 0x06, 0x00, 0x00, 0x00, 0x40}
