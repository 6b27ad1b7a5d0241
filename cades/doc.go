// Package cades builds and reads CMS SignedData (RFC 5652) at the baseline
// levels of ETSI EN 319 122-1 (CAdES digital signatures, building blocks and
// baseline signatures; profile in EN 319 122-2): B-B, B-T, B-LT and B-LTA.
//
// It is a format package: keys are crypto.Signer values (an HSM key behind
// PKCS#11 in production), time-stamps come through the Timestamper
// interface, and nothing here speaks HTTP or touches storage.
//
//   - B-B (EN 319 122-1 §6.3): SignDigest and Sign make a detached
//     SignedData with the signed attributes content-type and message-digest
//     (RFC 5652 §11.1, §11.2), signing-certificate-v2 (RFC 5035, EN 319 122-1
//     §5.2.2.3) and, when asked for, signing-time (§5.2.1). Signatures are
//     RSA PKCS #1 v1.5 (RFC 4055 §5), RSASSA-PSS (RFC 4055 §3, RFC 8017 §8.1)
//     or ECDSA (RFC 5758 §3.2) with SHA-256, SHA-384 or SHA-512 (RFC 5754).
//   - B-T: AddSignatureTimeStamp adds a signature-time-stamp (§5.3), an
//     RFC 3161 token over the signature value.
//   - B-LT: AddValidationData puts certificates, CRLs and OCSP responses
//     (RFC 5940) into SignedData.certificates and SignedData.crls.
//   - B-LTA: AddArchiveTimeStamp adds an archive-time-stamp-v3 (§5.5.3) whose
//     token carries an ats-hash-index-v3 (§5.5.2); ArchiveTimeStampImprint
//     recomputes its imprint for a validator, with the same code.
//
// Parse reads DER and BER (indefinite lengths, constructed strings, as NSS
// and streaming encoders write): the input is normalised to DER, except the
// signed attributes, which are kept exactly as the signer hashed them (RFC
// 5652 §5.4). Everything written is DER, the signed attributes of other
// signers apart. Adding unsigned attributes or validation data never changes
// a signed byte, so signatures and earlier time-stamps stay valid.
//
// Errors wrap the sentinels ErrFormat (malformed input), ErrUnsupported
// (algorithms and structures not handled), ErrDigestMismatch (EN 319 102-1
// HASH_FAILURE), ErrSignatureInvalid (SIG_CRYPTO_FAILURE), ErrNoCertificate,
// ErrSigningCertificate and ErrHashIndex, for errors.Is.
package cades
