// Package tsa implements a time-stamp authority (TSA) and its client.
//
// The protocol is the Time-Stamp Protocol of RFC 3161, with the
// signing-certificate-v2 attribute (ESSCertIDv2) of RFC 5816 in place of the
// SHA-1 ESSCertID, as profiled by ETSI EN 319 422 (Time-stamping protocol and
// time-stamp token profiles):
//
//   - Request (RFC 3161 §2.4.1; EN 319 422 protocol profile): messageImprint
//     with SHA-256, SHA-384 or SHA-512 only (badAlg otherwise; badDataFormat
//     when the digest length is wrong); reqPolicy must be one of
//     Config.Policies (unacceptedPolicy); request extensions are not
//     supported, so any of them is rejected with unacceptedExtension as
//     RFC 3161 §2.4.2 requires.
//   - Response (RFC 3161 §2.4.2): PKIStatusInfo with one failInfo bit and a
//     statusString on every rejection; a granted response carries exactly one
//     TimeStampToken.
//   - Token (RFC 3161 §2.4.2; EN 319 422 token profile): a CMS SignedData
//     (RFC 5652) over TSTInfo with the policy, the request's messageImprint
//     copied verbatim, a unique serialNumber from Config.Serials, genTime in
//     UTC, accuracy (always present, as EN 319 422 requires), ordering false
//     (omitted), the nonce echoed, the tsa name of the TSA certificate, and
//     the certificates only when certReq is true (RFC 3161 §2.4.1). The
//     SignerInfo carries the signed attributes contentType (id-ct-TSTInfo),
//     messageDigest, signingTime and signing-certificate-v2 with a SHA-256
//     certHash and issuerSerial (RFC 5816 §2.2.1), which EN 319 422 requires.
//   - Qualified electronic time-stamps (EN 319 422 clause 9.1): with
//     Config.Qualified the token carries the qcStatements extension with
//     esi4-qtstStatement-1.
//   - Transport (RFC 3161 §3.4): HTTP POST of application/timestamp-query,
//     answered with application/timestamp-reply.
//   - TSA certificate (RFC 3161 §2.3): exactly one extended key usage,
//     id-kp-timeStamping, in a critical extension; New refuses anything else.
//     With Config.Status its status is checked before each token (cached
//     for Config.StatusTTL): while it is revoked, suspended or unreadable,
//     requests are rejected with systemFailure and a statusString saying
//     why (no time-stamps under a key that may be compromised, as the TSA
//     policies of RFC 3628 and EN 319 421 require), logged once and
//     recorded in the audit chain (status.go).
//
// The TSA key is a crypto.Signer, so an HSM-backed key fits without changes.
// Serial numbers come from a SerialSource; BlockSerials reserves them in
// blocks from a durable Counter so that a time-stamp costs no disk write while
// serials stay unique and increasing across restarts.
package tsa
