package ocsp

import (
	"context"
	"errors"
	"time"

	"github.com/oces-pki/oces/ca"
)

// Protocol error responses, ready to serve.
var (
	respMalformed    = &response{der: errorResponse(statusMalformedRequest)}
	respInternal     = &response{der: errorResponse(statusInternalError)}
	respTryLater     = &response{der: errorResponse(statusTryLater)}
	respUnauthorized = &response{der: errorResponse(statusUnauthorized)}
)

var errBusy = errors.New("ocsp: too many on-demand signatures")

// respond answers one DER OCSPRequest. It never fails: every problem is an
// OCSPResponseStatus (RFC 6960 section 2.3).
//
//  1. Parse strictly; anything malformed is malformedRequest.
//  2. One request per OCSPRequest (RFC 5019 section 2.1.1); more is
//     malformedRequest rather than a partial answer.
//  3. The issuer's name and key hashes must be one of ours, else
//     unauthorized (RFC 5019 section 2.2.3).
//  4. The pre-signed SHA-1 response, or the cached SHA-256 twin, is served
//     as it is unless live nonces are on and the request carries one.
//  5. Otherwise sign on demand, bounded by MaxLiveSigns.
func (r *Responder) respond(ctx context.Context, der []byte) *response {
	req, err := parseRequest(der)
	if err != nil || len(req.tbsRequest.requestList) != 1 {
		return respMalformed
	}
	id := &req.tbsRequest.requestList[0].reqCert
	iss := r.findIssuer(id)
	if iss == nil {
		return respUnauthorized
	}
	nonce := req.tbsRequest.nonce
	if !r.cfg.LiveNonce {
		nonce = nil
	} else if len(nonce) > maxNonce {
		return respMalformed
	}
	serial, issuable := id.serial()
	i := hashIndex(id.hashAlgorithm)
	if issuable && nonce == nil {
		if resp := r.valid(iss, serial, i, r.now()); resp != nil {
			return resp
		}
	}
	release, err := r.acquire(ctx)
	if err != nil {
		return respTryLater
	}
	defer release()
	resp, err := r.respondLive(ctx, iss, id, serial, issuable, nonce)
	if errors.Is(err, errRetired) {
		return respTryLater // between a key's retirement and its successor
	}
	if err != nil {
		r.log.ErrorContext(ctx, "ocsp: answering on demand", "ca", iss.name, "err", err)
		return respInternal
	}
	return resp
}

// respondLive signs what the pre-signed responses could not answer.
func (r *Responder) respondLive(ctx context.Context, iss *issuer, id *certID, serial ca.Serial, issuable bool, nonce []byte) (*response, error) {
	k := iss.current.Load()
	var base *response
	if issuable {
		var err error
		if base, err = r.baseResponse(ctx, iss, serial); err != nil {
			return nil, err
		}
	}
	var s single
	switch {
	case base == nil:
		s = notIssuedSingle()
		r.setTimes(&s, k)
	case nonce != nil:
		s = base.single
		r.setTimes(&s, k)
	default:
		if hashIndex(id.hashAlgorithm) == 0 {
			return base, nil
		}
		s = base.single // the SHA-256 twin says exactly what base says
	}
	der, sig, err := k.sign(r.cfg.Rand, id.raw, &s, nonce)
	if err != nil {
		return nil, err
	}
	resp := &response{der: der, single: s}
	switch {
	case nonce != nil:
		resp.unique = true
	case base == nil:
		resp.etag = etagOf(sig)
	default:
		resp.etag = etagOf(sig)
		rec := record{stamp: r.stamp.Add(1), base: base.stamp, key: k.idx, signed: true, single: s, sig: sig}
		iss.twins.put(serial, &rec, false)
	}
	return resp, nil
}

// baseResponse returns the current SHA-1 response of serial, signing it
// from the store if there is none yet; nil if the issuer never issued it.
func (r *Responder) baseResponse(ctx context.Context, iss *issuer, serial ca.Serial) (*response, error) {
	now := r.now()
	if resp := r.valid(iss, serial, 0, now); resp != nil {
		return resp, nil
	}
	seq := r.seq.Load() // before reading the store; see issuer.install
	c, err := r.cfg.Source.Certificate(ctx, serial)
	if errors.Is(err, ca.ErrNotFound) || (err == nil && c.CA != iss.name) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	resp, err := r.signRecord(iss, c, seq)
	if err != nil {
		return nil, err
	}
	if cur := r.valid(iss, serial, 0, now); cur != nil {
		return cur, nil // ours, or one installed from a later reading
	}
	return resp, nil
}

// acquire takes a slot for on-demand signing, waiting up to LiveSignWait.
func (r *Responder) acquire(ctx context.Context) (release func(), err error) {
	select {
	case r.live <- struct{}{}:
		return func() { <-r.live }, nil
	default:
	}
	t := time.NewTimer(r.cfg.LiveSignWait)
	defer t.Stop()
	select {
	case r.live <- struct{}{}:
		return func() { <-r.live }, nil
	case <-t.C:
		return nil, errBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
