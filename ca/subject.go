package ca

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"
	"unicode/utf8"
)

// OCES2 person certificates name no organisation; this is the fixed O value.
const noOrganisation = "Ingen organisatorisk tilknytning"

// pidPrefix is the fixed part of every OCES person identifier.
const pidPrefix = "PID:9208-2002-2-"

// maxNameLength is the upper bound of X.520 ub-common-name and
// ub-organization-name, which RFC 5280 appendix A imposes.
const maxNameLength = 64

// subjectFields is what a request contributes to the subject name. The
// identifier comes from the registry; nothing comes from the CSR.
type subjectFields struct {
	Name, GivenName, Surname string
	Organization, CVR        string
	ID                       string
}

// subjectName lays out the subject as the real certificates of the profile's
// generation do (see ../shared/reference/oces):
//
//	OCES2: C=DK, O=<org> // CVR:<cvr>, {CN=<name> + serialNumber=<id>}
//	OCES3: CN, [GN, SN,] serialNumber, O, organizationIdentifier=NTRDK-<cvr>, C=DK
func subjectName(p *Profile, f subjectFields) (pkix.RDNSequence, error) {
	atv := func(t asn1.ObjectIdentifier, v string) pkix.AttributeTypeAndValue {
		return pkix.AttributeTypeAndValue{Type: t, Value: asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte(v)}}
	}
	country := pkix.RelativeDistinguishedNameSET{{Type: oidCountry, Value: printable("DK")}}
	if p.Generation == OCES2 {
		org := noOrganisation
		if p.Kind != KindPerson {
			org = f.Organization + " // CVR:" + f.CVR
		}
		if utf8.RuneCountInString(org) > maxNameLength {
			return nil, fmt.Errorf("%w: organisation %q with its CVR suffix is %d characters; at most %d fit", ErrInvalidRequest, f.Organization, utf8.RuneCountInString(org), maxNameLength)
		}
		return pkix.RDNSequence{
			country,
			{atv(oidOrganization, org)},
			{atv(oidCommonName, f.Name), {Type: oidSerialNumber, Value: printable(f.ID)}},
		}, nil
	}
	rdns := pkix.RDNSequence{{atv(oidCommonName, f.Name)}}
	if f.GivenName != "" {
		rdns = append(rdns, pkix.RelativeDistinguishedNameSET{atv(oidGivenName, f.GivenName)})
	}
	if f.Surname != "" {
		rdns = append(rdns, pkix.RelativeDistinguishedNameSET{atv(oidSurname, f.Surname)})
	}
	return append(rdns,
		pkix.RelativeDistinguishedNameSET{{Type: oidSerialNumber, Value: printable(f.ID)}},
		pkix.RelativeDistinguishedNameSET{atv(oidOrganization, f.Organization)},
		pkix.RelativeDistinguishedNameSET{{Type: oidOrganizationIdentifier, Value: printable("NTRDK-" + f.CVR)}},
		country,
	), nil
}

// Names (CN, GN, SN, O) are UTF8Strings as in the reference certificates.
// printable marks a value that X.520 wants as a PrintableString (country,
// serialNumber, organizationIdentifier). encoding/asn1 would choose it for
// these characters anyway; the explicit tag keeps it so if a value grows.
func printable(s string) asn1.RawValue {
	return asn1.RawValue{Tag: asn1.TagPrintableString, Bytes: []byte(s)}
}

// checkCVR validates a Danish business registration number: 8 digits, not
// starting with 0.
func checkCVR(cvr string) error {
	if len(cvr) != 8 || cvr[0] == '0' || strings.Trim(cvr, "0123456789") != "" {
		return fmt.Errorf("%w: CVR number %q must be 8 digits", ErrInvalidRequest, cvr)
	}
	return nil
}

// normalizeCPR validates a CPR number (DDMMYY-SSSS, hyphen optional) and
// returns its 10 digits. The date part must be a real date; the modulus-11
// check is not applied, as CPR numbers issued since 2007 need not satisfy it.
func normalizeCPR(cpr string) (string, error) {
	d := strings.ReplaceAll(strings.TrimSpace(cpr), "-", "")
	if len(d) != 10 || strings.Trim(d, "0123456789") != "" {
		return "", fmt.Errorf("%w: CPR number must be 10 digits (DDMMYY-SSSS)", ErrInvalidRequest)
	}
	if _, err := time.Parse("020106", d[:6]); err != nil {
		return "", fmt.Errorf("%w: CPR number does not start with a valid date DDMMYY", ErrInvalidRequest)
	}
	return d, nil
}

// randomDigits returns n random decimal digits, the first of them non-zero
// when nonZeroFirst is set.
func randomDigits(r io.Reader, n int, nonZeroFirst bool) (string, error) {
	lo := new(big.Int)
	span := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
	if nonZeroFirst {
		lo.Exp(big.NewInt(10), big.NewInt(int64(n-1)), nil)
		span.Sub(span, lo)
	}
	v, err := randInt(r, span)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%0*d", n, v.Add(v, lo)), nil
}

// randInt draws uniformly from [0, max) by rejection sampling.
func randInt(r io.Reader, max *big.Int) (*big.Int, error) {
	buf := make([]byte, (max.BitLen()+7)/8)
	mask := byte(0xff >> (8*len(buf) - max.BitLen()))
	for {
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("ca: reading randomness: %w", err)
		}
		buf[0] &= mask
		if v := new(big.Int).SetBytes(buf); v.Cmp(max) < 0 {
			return v, nil
		}
	}
}

// newUUID returns a random (version 4) UUID in its text form.
func newUUID(r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("ca: reading randomness: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
