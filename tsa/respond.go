package tsa

import (
	"context"
	"crypto"
	"encoding/asn1"
	"fmt"
	"log/slog"
	"math/big"
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
	policy  int // index into Config.Policies
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
	policy := 0
	if r.ReqPolicy != nil {
		if policy = a.policyIndex(r.ReqPolicy); policy < 0 {
			return nil, reject(FailUnacceptedPolicy, "policy %v is not served", r.ReqPolicy)
		}
	}
	return &request{imprint: r.MessageImprint, hash: hash, policy: policy, nonce: r.Nonce, certReq: r.CertReq}, nil
}

func isNull(v asn1.RawValue) bool {
	return v.Class == asn1.ClassUniversal && v.Tag == asn1.TagNull && len(v.Bytes) == 0
}

// policyIndex is the index of p in Config.Policies, or -1.
func (a *Authority) policyIndex(p asn1.ObjectIdentifier) int {
	for i, q := range a.cfg.Policies {
		if q.Equal(p) {
			return i
		}
	}
	return -1
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
	// 3. TSTInfo (RFC 3161 §2.4.2), 4. a SignedData over it (RFC 5652
	//    §5), 5. wrapped in a granted TimeStampResp; see cms.go.
	var serialBuf, timeBuf, nonceBuf [24]byte
	var nonce []byte
	if req.nonce != nil {
		nonce = appendInteger(nonceBuf[:0], req.nonce)
	}
	content := a.enc.tstInfo(make([]byte, 0, 512), req.policy, req.imprint.Raw,
		appendInteger(serialBuf[:0], serial), appendGeneralizedTime(timeBuf[:0], now, a.genTimeD), nonce)
	resp, err := a.enc.response(a.cfg.Signer, content, now, req.certReq)
	if err != nil {
		a.cfg.Logger.ErrorContext(ctx, "tsa: signing token", slog.Any("err", err), slog.String("serial", serial.String()))
		return nil, reject(FailSystemFailure, "signing failed")
	}
	if a.cfg.Logger.Enabled(ctx, slog.LevelDebug) {
		a.cfg.Logger.DebugContext(ctx, "tsa: token issued", slog.String("serial", serial.String()),
			slog.String("policy", a.cfg.Policies[req.policy].String()), slog.Bool("certReq", req.certReq))
	}
	return resp, nil
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
