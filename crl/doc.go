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
//     and removeFromCRL for certificates released from hold. Its base, the
//     previous scheduled full CRL, is saved in the store (Source.SetCRLState)
//     and read back at start, so a restart neither empties nor rebases it.
//
// An entry leaves every CRL once its certificate has expired (notAfter
// before thisUpdate, RFC 5280 section 3.3), unless Config.ExpiredCertsOnCRL
// keeps it, which the CRLs then announce with the expiredCertsOnCRL
// extension (X.509 section 9.6.2.8, OID 2.5.29.60).
//
// The offline root's ARL is made by IssueARL in a key ceremony, its CRL
// number kept in a file beside it; both are replaced atomically (temporary
// file, fsync, rename, directory fsync). ARLHandler serves the file and
// picks up a new ARL on the next request.
//
// The CRLs are DER-encoded here rather than by crypto/x509, in one buffer,
// so that a CRL of a million entries costs little more memory than its own
// size; the issuing CA's crypto.Signer (an HSM key) signs the digest of the
// TBSCertList. The Publisher regenerates them on a schedule and soon after
// each status change, serves them over HTTP and writes them to a directory
// for static hosting. Show parses any CRL for `oces crl show`.
package crl
