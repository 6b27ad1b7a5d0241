package tsa

import "crypto/x509"

// SignerCertificate returns the certificate, among t.Certificates, that the
// token's SignerInfo names: the time-stamping unit's.
func (t *Token) SignerCertificate() (*x509.Certificate, error) { return t.signerCertificate() }
