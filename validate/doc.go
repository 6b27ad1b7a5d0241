// Package validate is the validation service for relying parties: it checks
// the signatures of a PDF (PAdES, ETSI EN 319 142-1) or a CMS file (CAdES,
// EN 319 122-1) and reports, for each, an indication and subindication as
// ETSI EN 319 102-1 (procedures for the creation and validation of AdES
// digital signatures) defines them, in a report shaped after ETSI TS 119
// 102-2 (the signature validation report).
//
// The steps follow EN 319 102-1 clause 5:
//
//  1. Format checking (§5.2.2): the CMS parses; a PDF signature's
//     /ByteRange starts at 0, leaves out exactly its /Contents string and
//     ends where a revision ends.
//  2. Identification of the signing certificate (§5.2.3): the certificate
//     the SignerInfo names, bound by signing-certificate-v2 (RFC 5035).
//  3. Cryptographic verification (§5.2.7): the message digest over the
//     signed content (the /ByteRange bytes) and the signature value;
//     algorithm strength (§5.2.8, cryptographic constraints).
//  4. X.509 certificate validation (§5.2.6): a chain to a configured trust
//     anchor, each certificate's validity and revocation status.
//     Revocation data come from the document (DSS, VRI, SignedData.crls)
//     and, when it carries none for a certificate, from the live OCSP
//     responder and CRL (package revocation).
//  5. Validation with time (§5.5) and long-term validation (§5.6): every
//     signature-time-stamp, archive-time-stamp and document time-stamp is
//     verified (imprint, the TSA's chain and its id-kp-timeStamping EKU) and
//     gives a proof of existence (POE). A revocation or expiry after the
//     earliest POE does not fail the signature (past signature validation,
//     §5.6.2.4); time-stamps out of order give TIMESTAMP_ORDER_FAILURE.
//  6. PDF integrity: every incremental update after a signature is
//     classified object by object (pades.Document.ChangesAfter): the DSS,
//     document time-stamps and later signatures are allowed, form filling
//     and annotations as far as the DocMDP permission allows (ISO 32000-2
//     12.8.2.2), anything else (the shadow attacks' hide, replace and
//     hide-and-replace, duplicate object numbers, cross-reference entries
//     that point back into signed bytes) is TOTAL-FAILED with the objects
//     named.
//
// Policy choices where EN 319 102-1 leaves room are documented in
// docs/validation.md: RSA keys under 2048 bits, EC keys under 256 bits and
// SHA-1 or MD5 signature digests fail the cryptographic constraints; a
// certificate that names no OCSP responder and no CRL is accepted with a
// warning, as openssl and pdfsig do; time-stamp units are validated at
// their genTime.
package validate
