// Package ocsp is the OCES OCSP responder: the Online Certificate Status
// Protocol of RFC 6960 with the lightweight profile of RFC 5019, answering
// from responses signed ahead of time.
//
// # Requests
//
// POST /ocsp and GET /ocsp/<base64 request> (RFC 6960 appendix A.1, RFC
// 5019 section 5); the GET form is accepted URL-escaped or not, padded or
// not, and with '/' left in the path. The OCSPRequest is parsed here, not
// by golang.org/x/crypto/ocsp, strictly against RFC 6960 section 4.1.1;
// the optional signature is skipped. CertIDs may use SHA-1 (RFC 5019
// section 2.1.1) or SHA-256. One Request per OCSPRequest, as RFC 5019
// section 2.1.1 prescribes: a request list of several is answered
// malformedRequest rather than partially. Request and single-request
// extensions (RFC 5280 Extension, critical a universal BOOLEAN DEFAULT
// FALSE, accepted written out either way): the nonce is read; unknown
// extensions are ignored unless critical, which RFC 6960 section 4.1.2
// does not let a responder ignore, so those are malformedRequest; the
// acceptable-responses, preferred-signature-algorithms and
// service-locator extensions are known and need no action.
//
// Errors follow RFC 6960 section 2.3: malformedRequest for anything unparsable, unauthorized for an
// issuer (name hash and key hash) that is not one of ours (RFC 5019
// section 2.2.3), tryLater when on-demand signing is saturated; a body
// over Config.MaxRequestSize gets HTTP 413. Nothing yields a 500.
//
// # Responses
//
// Every certificate of every issuing CA has a signed response in memory,
// keyed by issuer and serial, with thisUpdate the signing time and
// nextUpdate ResponseValidity later (RFC 5019 section 2.2.4), re-signed by
// Run when RefreshFraction of that has passed. The sweep reads serial and
// status records from a Source and needs no certificate DER. "good",
// "revoked" with revocationTime and CRLReason, and "suspended" as revoked
// with reason certificateHold (RFC 5280 section 5.3.1). Responses are
// signed by a delegated responder (RFC 6960 section 4.2.2.2) identified
// byKey, whose certificate is in the certs field; see certs.go for how it
// is kept and renewed.
//
// A serial the CA never issued is answered, per RFC 6960 section 2.2,
// "revoked" with reason certificateHold and revocationTime
// 1970-01-01T00:00:00Z, with the extended revoked definition extension of
// section 4.4.8 in responseExtensions; never "good" and never "unknown",
// which would let a client soft-fail on a forged certificate. "Never
// issued" is decided by the store, not the cache: a serial without a
// response is looked up and, if stored, signed once (a stored serial is
// never answered as never issued). Such responses are not cached.
//
// HTTP caching follows RFC 5019 section 6.2: Cache-Control max-age
// (nextUpdate minus now, at least 0), public, no-transform,
// must-revalidate; Expires nextUpdate; Last-Modified thisUpdate; an ETag
// that hashes the response; conditional GETs get 304.
//
// The nonce (RFC 6960 section 4.4.1, RFC 8954) is ignored by default, as
// RFC 5019 section 4 allows: responses come pre-signed. With
// Config.LiveNonce, a request with a nonce gets a response signed on the
// spot echoing it. CertIDs using SHA-256 are signed on first request and
// then cached beside the SHA-1 response until that is replaced.
//
// # Status changes and issuance
//
// Responder implements ca.StatusObserver: StatusChanged re-signs the
// certificate's response before the CA's suspend, release or revoke call
// returns, so the next query sees it. The wiring calls Issued after each
// issuance; without it, the first query signs from the store.
//
// # Revoked responder certificates
//
// A responder certificate carries id-pkix-ocsp-nocheck, so no relying
// party would notice its revocation (RFC 6960 section 4.2.2.2.1). When a
// certificate of the current responder key is revoked or suspended, for
// any reason, the key is retired before the CA's call returns: nothing it
// signed is served again, a new key is made in the HSM under the next
// label (IssuerConfig.ResponderKey's label with ".2", ".3", …), the CA
// issues its certificate, and a sweep signs every response again. A
// revocation by another process on a shared store is found by Run within
// a minute. Retirement, rotation and the end of the sweep are recorded in
// the audit chain (Config.Audit); a rotation that cannot be recorded is not
// made, and until one succeeds queries get tryLater, never an answer
// signed with the retired key. See rotate.go.
//
// Check is the relying party's side: it asks the responder named in a
// certificate's AIA and verifies the answer with golang.org/x/crypto/ocsp,
// an implementation independent of this one.
//
// # Wiring (cmd/oces)
//
//	r, err := ocsp.New(ctx, ocsp.Config{Issuers: …, Source: db, Authority: theCA, Keys: theHSM, Audit: db})
//	theCA.Observe(r)          // before serving API calls
//	go r.Run(ctx)             // pre-signs in the background, renews, refreshes
//	handler = r.Wrap(mux)     // POST /ocsp, GET /ocsp/…, never path-cleaned
//	// after each ca.Issue: r.Issued(ctx, cert)
package ocsp
