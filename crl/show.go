package crl

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Info describes a CRL for `oces crl show`.
type Info struct {
	// Kind is "full", "partition" (an issuingDistributionPoint for user
	// certificates), "arl" (for CA certificates), "scoped" (another
	// issuingDistributionPoint) or "delta".
	Kind               string    `json:"kind"`
	Issuer             string    `json:"issuer"`
	Number             *big.Int  `json:"number,omitempty"`
	BaseNumber         *big.Int  `json:"base_number,omitempty"`
	ThisUpdate         time.Time `json:"this_update"`
	NextUpdate         time.Time `json:"next_update,omitzero"`
	SignatureAlgorithm string    `json:"signature_algorithm"`
	AuthorityKeyID     string    `json:"authority_key_id,omitempty"`
	// Scope is the issuingDistributionPoint, if any.
	Scope       *Scope      `json:"scope,omitempty"`
	FreshestCRL []string    `json:"freshest_crl,omitempty"`
	Entries     []EntryInfo `json:"entries"`
	Size        int         `json:"size"`
	SHA256      string      `json:"sha256"`
}

// Scope is an issuingDistributionPoint.
type Scope struct {
	Critical              bool     `json:"critical"`
	Names                 []string `json:"names,omitempty"` // "URI:…" or "DirName:…"
	OnlyContainsUserCerts bool     `json:"only_user_certs,omitempty"`
	OnlyContainsCACerts   bool     `json:"only_ca_certs,omitempty"`
}

// EntryInfo is one revoked certificate.
type EntryInfo struct {
	Serial         string    `json:"serial"` // hexadecimal
	RevocationTime time.Time `json:"revocation_time"`
	Reason         string    `json:"reason,omitempty"`
	InvalidityDate time.Time `json:"invalidity_date,omitzero"`
}

var reasonNames = map[int]string{
	0: "unspecified", 1: "keyCompromise", 2: "cACompromise", 3: "affiliationChanged",
	4: "superseded", 5: "cessationOfOperation", 6: "certificateHold", 8: "removeFromCRL",
	9: "privilegeWithdrawn", 10: "aACompromise",
}

// Parse reads a CRL in DER or PEM ("X509 CRL").
func Parse(data []byte) (*x509.RevocationList, error) {
	der := data
	if i := bytes.Index(data, []byte("-----BEGIN")); i >= 0 && i < 64 {
		block, _ := pem.Decode(data[i:])
		if block == nil || block.Type != "X509 CRL" {
			return nil, errors.New("crl: no \"X509 CRL\" PEM block")
		}
		der = block.Bytes
	}
	rl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("crl: parsing: %w", err)
	}
	return rl, nil
}

// Show parses a CRL (DER or PEM) and describes it. It does not check the
// signature; VerifySignature does.
func Show(data []byte) (*Info, error) {
	rl, err := Parse(data)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(rl.Raw)
	info := &Info{
		Kind: "full", Issuer: rl.Issuer.String(), Number: rl.Number, ThisUpdate: rl.ThisUpdate, NextUpdate: rl.NextUpdate,
		SignatureAlgorithm: rl.SignatureAlgorithm.String(), AuthorityKeyID: hex.EncodeToString(rl.AuthorityKeyId),
		Size: len(rl.Raw), SHA256: hex.EncodeToString(sum[:]), Entries: make([]EntryInfo, 0, len(rl.RevokedCertificateEntries)),
	}
	for _, e := range rl.Extensions {
		if err := info.extension(e.Id, e.Critical, e.Value); err != nil {
			return nil, err
		}
	}
	for _, e := range rl.RevokedCertificateEntries {
		ei := EntryInfo{Serial: fmt.Sprintf("%x", e.SerialNumber), RevocationTime: e.RevocationTime}
		for _, x := range e.Extensions {
			switch {
			case x.Id.Equal(oidReasonCode):
				ei.Reason = reasonName(e.ReasonCode)
			case x.Id.Equal(oidInvalidityDate):
				var t time.Time
				if rest, err := asn1.UnmarshalWithParams(x.Value, &t, "generalized"); err != nil || len(rest) > 0 {
					return nil, fmt.Errorf("crl: entry %s: malformed invalidity date", ei.Serial)
				}
				ei.InvalidityDate = t
			}
		}
		info.Entries = append(info.Entries, ei)
	}
	return info, nil
}

func reasonName(code int) string {
	if n, ok := reasonNames[code]; ok {
		return n
	}
	return fmt.Sprintf("unknown (%d)", code)
}

// extension reads the CRL extensions that decide the kind of CRL.
func (i *Info) extension(id asn1.ObjectIdentifier, critical bool, v []byte) error {
	switch {
	case id.Equal(oidDeltaCRLIndicator):
		var base *big.Int
		if rest, err := asn1.Unmarshal(v, &base); err != nil || len(rest) > 0 {
			return errors.New("crl: malformed delta CRL indicator")
		}
		i.Kind, i.BaseNumber = "delta", base
	case id.Equal(oidIssuingDistPoint):
		s, err := parseIDP(v)
		if err != nil {
			return err
		}
		s.Critical = critical
		i.Scope = s
		if i.Kind != "delta" {
			switch {
			case s.OnlyContainsUserCerts:
				i.Kind = "partition"
			case s.OnlyContainsCACerts:
				i.Kind = "arl"
			default:
				i.Kind = "scoped"
			}
		}
	case id.Equal(oidFreshestCRL):
		urls, err := parseDPURLs(v)
		if err != nil {
			return err
		}
		i.FreshestCRL = urls
	}
	return nil
}

// parseIDP reads IssuingDistributionPoint (RFC 5280 section 5.2.5).
func parseIDP(v []byte) (*Scope, error) {
	bad := errors.New("crl: malformed issuing distribution point")
	in := cryptobyte.String(v)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, bad
	}
	s := &Scope{}
	var dp cryptobyte.String
	var has bool
	if !seq.ReadOptionalASN1(&dp, &has, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return nil, bad
	}
	if has {
		var full cryptobyte.String
		if dp.PeekASN1Tag(cbasn1.Tag(0).Constructed().ContextSpecific()) {
			if !dp.ReadASN1(&full, cbasn1.Tag(0).Constructed().ContextSpecific()) {
				return nil, bad
			}
			names, err := generalNames(full)
			if err != nil {
				return nil, err
			}
			s.Names = names
		} else {
			s.Names = []string{"nameRelativeToCRLIssuer"}
		}
	}
	for _, f := range []struct {
		tag cbasn1.Tag
		dst *bool
	}{{cbasn1.Tag(1).ContextSpecific(), &s.OnlyContainsUserCerts}, {cbasn1.Tag(2).ContextSpecific(), &s.OnlyContainsCACerts}} {
		var b cryptobyte.String
		var present bool
		if !seq.ReadOptionalASN1(&b, &present, f.tag) {
			return nil, bad
		}
		*f.dst = present && len(b) == 1 && b[0] != 0
	}
	return s, nil
}

// generalNames renders the URI and directory names of GeneralNames.
func generalNames(in cryptobyte.String) ([]string, error) {
	var out []string
	for !in.Empty() {
		var v cryptobyte.String
		var tag cbasn1.Tag
		if !in.ReadAnyASN1(&v, &tag) {
			return nil, errors.New("crl: malformed general name")
		}
		switch tag {
		case cbasn1.Tag(6).ContextSpecific():
			out = append(out, "URI:"+string(v))
		case cbasn1.Tag(4).Constructed().ContextSpecific():
			out = append(out, "DirName:"+dirName(v))
		default:
			out = append(out, fmt.Sprintf("other name [%d]", tag&0x1f))
		}
	}
	return out, nil
}

// dirName renders a DER Name in X.500 order as openssl prints it
// ("C=DK, O=…, CN=CRL1"), or as hex if it is not a Name.
func dirName(der []byte) string {
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(der, &rdns); err != nil || len(rest) > 0 {
		return "#" + hex.EncodeToString(der)
	}
	parts := make([]string, len(rdns))
	for i, rdn := range rdns {
		parts[i] = pkix.RDNSequence{rdn}.String()
	}
	return strings.Join(parts, ", ")
}

// parseDPURLs reads the URLs of CRLDistributionPoints syntax (freshestCRL).
func parseDPURLs(v []byte) ([]string, error) {
	bad := errors.New("crl: malformed freshest CRL extension")
	in := cryptobyte.String(v)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, bad
	}
	var out []string
	for !seq.Empty() {
		var dp, name, full cryptobyte.String
		var has bool
		if !seq.ReadASN1(&dp, cbasn1.SEQUENCE) || !dp.ReadOptionalASN1(&name, &has, cbasn1.Tag(0).Constructed().ContextSpecific()) {
			return nil, bad
		}
		if !has || !name.PeekASN1Tag(cbasn1.Tag(0).Constructed().ContextSpecific()) {
			continue
		}
		if !name.ReadASN1(&full, cbasn1.Tag(0).Constructed().ContextSpecific()) {
			return nil, bad
		}
		names, err := generalNames(full)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if u, ok := strings.CutPrefix(n, "URI:"); ok {
				out = append(out, u)
			}
		}
	}
	return out, nil
}

// VerifySignature checks that issuer signed the CRL in data.
func VerifySignature(data []byte, issuer *x509.Certificate) error {
	rl, err := Parse(data)
	if err != nil {
		return err
	}
	if err := rl.CheckSignatureFrom(issuer); err != nil {
		return fmt.Errorf("crl: signature: %w", err)
	}
	return nil
}

// WriteText prints the description as `oces crl show` does, with at most
// maxEntries entries (all when maxEntries < 0).
func (i *Info) WriteText(w io.Writer, maxEntries int) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("Kind", i.Kind)
	row("Issuer", i.Issuer)
	if i.Number != nil {
		row("CRL number", i.Number.String())
	}
	if i.BaseNumber != nil {
		row("Base CRL number", i.BaseNumber.String())
	}
	row("This update", i.ThisUpdate.UTC().Format(time.RFC3339))
	if !i.NextUpdate.IsZero() {
		row("Next update", i.NextUpdate.UTC().Format(time.RFC3339))
	}
	row("Signature algorithm", i.SignatureAlgorithm)
	row("Authority key ID", i.AuthorityKeyID)
	if s := i.Scope; s != nil {
		row("Distribution point", strings.Join(s.Names, ", "))
		row("Scope", fmt.Sprintf("critical=%t only-user-certs=%t only-ca-certs=%t", s.Critical, s.OnlyContainsUserCerts, s.OnlyContainsCACerts))
	}
	for _, u := range i.FreshestCRL {
		row("Freshest CRL", u)
	}
	row("Size", fmt.Sprintf("%d bytes, SHA-256 %s", i.Size, i.SHA256))
	row("Entries", fmt.Sprint(len(i.Entries)))
	if err := tw.Flush(); err != nil {
		return err
	}
	for n, e := range i.Entries {
		if maxEntries >= 0 && n >= maxEntries {
			_, err := fmt.Fprintf(w, "  … %d more\n", len(i.Entries)-n)
			return err
		}
		line := fmt.Sprintf("  %s  %s", e.Serial, e.RevocationTime.UTC().Format(time.RFC3339))
		if e.Reason != "" {
			line += "  " + e.Reason
		}
		if !e.InvalidityDate.IsZero() {
			line += "  invalid since " + e.InvalidityDate.UTC().Format(time.RFC3339)
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}
