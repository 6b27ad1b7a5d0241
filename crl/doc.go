// Package crl issues the certificate revocation lists of the OCES issuing
// CAs and the authority revocation list of the offline root, as profiled by
// RFC 5280 section 5:
//
//   - the full CRL of each issuing CA (section 5.1), every suspended
//     (certificateHold) and revoked certificate with its reasonCode and
//     invalidityDate entry extensions (sections 5.3.1 and 5.3.2), the
//     cRLNumber (5.2.3), authorityKeyIdentifier (5.2.1) and a freshestCRL
//     extension (5.2.6) that points at the delta CRL;
//   - one partitioned CRL per CRL partition named in the certificates
//     (section 5.2.5): a critical issuingDistributionPoint whose fullName
//     is the directory name and URL the certificates carry in their CRL
//     distribution points, with onlyContainsUserCerts, as the OCES CAs have
//     always published them;
//   - the delta CRL (section 5.2.4): a critical deltaCRLIndicator naming the
//     full CRL it is relative to, the certificates whose status changed since,
//     and removeFromCRL for certificates released from hold.
//
// The CRLs are DER-encoded here rather than by crypto/x509, in one buffer,
// so that a CRL of a million entries costs little more memory than its own
// size; the issuing CA's crypto.Signer (an HSM key) signs the digest of the
// TBSCertList. The Publisher regenerates them on a schedule and soon after
// each status change, serves them over HTTP and writes them to a directory
// for static hosting. Show parses any CRL for `oces crl show`.
package crl
