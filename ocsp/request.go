package ocsp

import (
	"bytes"
	"crypto"
	"encoding/asn1"
	"errors"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/oces-pki/oces/ca"
)

// Object identifiers of RFC 6960 and the hash algorithms a CertID may use.
var (
	oidSHA1           = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidOCSPBasic      = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 1}
	oidOCSPNonce      = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}
	oidExtendedRevoke = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 9}
	// Request extensions of RFC 6960 section 4.4 the responder knows:
	// acceptable response types (4.4.3; it always answers
	// id-pkix-ocsp-basic, which every client must accept), preferred
	// signature algorithms (4.4.7; it has one key per issuer) and, for a
	// single request, the service locator (4.4.6; it is authoritative).
	oidAcceptableResponses = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 4}
	oidServiceLocator      = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 7}
	oidPrefSigAlgs         = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 8}

	requestExtensionsKnown = []asn1.ObjectIdentifier{oidOCSPNonce, oidAcceptableResponses, oidPrefSigAlgs}
	singleExtensionsKnown  = []asn1.ObjectIdentifier{oidServiceLocator}
)

// DER contents of the two CertID hash OIDs, compared before anything is
// decoded.
var (
	derSHA1   = oidContents(oidSHA1)
	derSHA256 = oidContents(oidSHA256)
)

func oidContents(oid asn1.ObjectIdentifier) []byte {
	der, err := asn1.Marshal(oid)
	if err != nil {
		panic(err)
	}
	return der[2:]
}

// readHashOID reads the hashAlgorithm's OID: SHA-1 or SHA-256 by their
// encodings, any other well-formed OID as 0; ok is false for a malformed
// one.
func readHashOID(alg *cryptobyte.String) (crypto.Hash, bool) {
	var raw cryptobyte.String
	if !alg.PeekASN1Tag(cbasn1.OBJECT_IDENTIFIER) {
		return 0, false
	}
	rest := *alg
	if !rest.ReadASN1(&raw, cbasn1.OBJECT_IDENTIFIER) {
		return 0, false
	}
	switch {
	case bytes.Equal(raw, derSHA1):
		*alg = rest
		return crypto.SHA1, true
	case bytes.Equal(raw, derSHA256):
		*alg = rest
		return crypto.SHA256, true
	}
	var oid asn1.ObjectIdentifier
	return 0, alg.ReadASN1ObjectIdentifier(&oid)
}

// errMalformed is every parsing failure: the answer is malformedRequest.
var errMalformed = errors.New("ocsp: malformed request")

// maxNonce bounds the nonce a client may ask us to echo (RFC 8954 section
// 2.1 allows 1 to 32 octets; the extnValue adds an OCTET STRING header).
const maxNonce = 32 + 2

// ocspRequest mirrors RFC 6960 section 4.1.1:
//
//	OCSPRequest ::= SEQUENCE {
//	    tbsRequest              TBSRequest,
//	    optionalSignature   [0] EXPLICIT Signature OPTIONAL }
//
// The signature, when present, is skipped: this responder serves everyone.
type ocspRequest struct {
	tbsRequest tbsRequest
	signed     bool
}

// tbsRequest mirrors
//
//	TBSRequest ::= SEQUENCE {
//	    version             [0] EXPLICIT Version DEFAULT v1,
//	    requestorName       [1] EXPLICIT GeneralName OPTIONAL,
//	    requestList             SEQUENCE OF Request,
//	    requestExtensions   [2] EXPLICIT Extensions OPTIONAL }
//
// keeping only what the responder uses: the requests and the nonce.
type tbsRequest struct {
	requestList []request
	one         [1]request // requestList's storage for the usual single request
	// nonce is the extnValue of id-pkix-ocsp-nonce as received (the DER of
	// the Nonce OCTET STRING), echoed verbatim when signing live.
	nonce []byte
}

// request mirrors
//
//	Request ::= SEQUENCE {
//	    reqCert                     CertID,
//	    singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL }
type request struct {
	reqCert certID
}

// certID mirrors
//
//	CertID ::= SEQUENCE {
//	    hashAlgorithm       AlgorithmIdentifier,
//	    issuerNameHash      OCTET STRING,
//	    issuerKeyHash       OCTET STRING,
//	    serialNumber        CertificateSerialNumber }
type certID struct {
	raw            []byte      // the DER as received, echoed in live responses
	hashAlgorithm  crypto.Hash // 0 when neither SHA-1 nor SHA-256
	issuerNameHash []byte
	issuerKeyHash  []byte
	serialNumber   []byte // INTEGER contents, two's complement
}

// serial converts the CertID's serial number to a ca.Serial; ok is false
// for a serial this PKI cannot have issued (negative, zero, over 128 bits).
func (id *certID) serial() (s ca.Serial, ok bool) {
	b := id.serialNumber
	if len(b) == 0 || b[0]&0x80 != 0 {
		return s, false
	}
	if b[0] == 0 {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > len(s) {
		return s, false
	}
	copy(s[len(s)-len(b):], b)
	return s, true
}

// parseRequest parses a DER OCSPRequest strictly: any deviation from RFC
// 6960's ASN.1, trailing data, an empty request list or a duplicated nonce
// is errMalformed.
func parseRequest(der []byte) (*ocspRequest, error) {
	in := cryptobyte.String(der)
	var outer, tbs cryptobyte.String
	if !in.ReadASN1(&outer, cbasn1.SEQUENCE) || !in.Empty() ||
		!outer.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return nil, errMalformed
	}
	req := &ocspRequest{}
	if outer.PeekASN1Tag(cbasn1.Tag(0).Constructed().ContextSpecific()) {
		var sig cryptobyte.String
		if !outer.ReadASN1(&sig, cbasn1.Tag(0).Constructed().ContextSpecific()) {
			return nil, errMalformed
		}
		req.signed = true
	}
	if !outer.Empty() {
		return nil, errMalformed
	}
	if err := parseTBSRequest(tbs, &req.tbsRequest); err != nil {
		return nil, err
	}
	return req, nil
}

func parseTBSRequest(tbs cryptobyte.String, out *tbsRequest) error {
	var present bool
	if tbs.PeekASN1Tag(cbasn1.Tag(0).Constructed().ContextSpecific()) && !readVersion1(&tbs) {
		return errMalformed
	}
	var skip cryptobyte.String
	if !tbs.ReadOptionalASN1(&skip, &present, cbasn1.Tag(1).Constructed().ContextSpecific()) {
		return errMalformed
	}
	var list cryptobyte.String
	if !tbs.ReadASN1(&list, cbasn1.SEQUENCE) {
		return errMalformed
	}
	out.requestList = out.one[:0]
	for !list.Empty() {
		var r cryptobyte.String
		if !list.ReadASN1(&r, cbasn1.SEQUENCE) {
			return errMalformed
		}
		var rq request
		if err := parseRequestEntry(r, &rq); err != nil {
			return err
		}
		out.requestList = append(out.requestList, rq)
	}
	if len(out.requestList) == 0 {
		return errMalformed
	}
	var exts cryptobyte.String
	if !tbs.ReadOptionalASN1(&exts, &present, cbasn1.Tag(2).Constructed().ContextSpecific()) || !tbs.Empty() {
		return errMalformed
	}
	if present {
		var err error
		if out.nonce, err = parseExtensions(exts, requestExtensionsKnown); err != nil {
			return err
		}
	}
	return nil
}

// readVersion1 reads an explicit version, which must be v1 (0). It is a
// function of its own because the integer escapes through cryptobyte's
// interface: only requests that carry a version pay for it.
func readVersion1(tbs *cryptobyte.String) bool {
	var version int64
	return tbs.ReadOptionalASN1Integer(&version, cbasn1.Tag(0).Constructed().ContextSpecific(), int64(0)) && version == 0
}

func parseRequestEntry(r cryptobyte.String, out *request) error {
	var raw, id cryptobyte.String
	if !r.ReadASN1Element(&raw, cbasn1.SEQUENCE) {
		return errMalformed
	}
	id = raw
	if !id.ReadASN1(&id, cbasn1.SEQUENCE) {
		return errMalformed
	}
	out.reqCert.raw = raw
	if err := parseCertID(id, &out.reqCert); err != nil {
		return err
	}
	// singleRequestExtensions are ignored (RFC 6960 4.4: none is defined
	// that a responder must act on), but must be well formed, and an
	// unknown critical one is refused.
	var exts cryptobyte.String
	var present bool
	if !r.ReadOptionalASN1(&exts, &present, cbasn1.Tag(0).Constructed().ContextSpecific()) || !r.Empty() {
		return errMalformed
	}
	if present {
		if _, err := parseExtensions(exts, singleExtensionsKnown); err != nil {
			return err
		}
	}
	return nil
}

func parseCertID(id cryptobyte.String, out *certID) error {
	var alg, params cryptobyte.String
	if !id.ReadASN1(&alg, cbasn1.SEQUENCE) {
		return errMalformed
	}
	hash, ok := readHashOID(&alg)
	if !ok {
		return errMalformed
	}
	// Parameters are absent or NULL for SHA-1 and SHA-2.
	if !alg.Empty() && (!alg.ReadASN1(&params, cbasn1.NULL) || !params.Empty() || !alg.Empty()) {
		return errMalformed
	}
	out.hashAlgorithm = hash
	var name, key, serial cryptobyte.String
	if !id.ReadASN1(&name, cbasn1.OCTET_STRING) || !id.ReadASN1(&key, cbasn1.OCTET_STRING) ||
		!id.ReadASN1(&serial, cbasn1.INTEGER) || !id.Empty() || !validInteger(serial) {
		return errMalformed
	}
	out.issuerNameHash, out.issuerKeyHash, out.serialNumber = name, key, serial
	return nil
}

// validInteger checks DER INTEGER contents: not empty, minimally encoded.
func validInteger(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if len(b) > 1 && (b[0] == 0 && b[1]&0x80 == 0 || b[0] == 0xff && b[1]&0x80 != 0) {
		return false
	}
	return true
}

// parseExtensions checks an Extensions SEQUENCE (RFC 5280 section 4.1):
//
//	Extension ::= SEQUENCE {
//	    extnID      OBJECT IDENTIFIER,
//	    critical    BOOLEAN DEFAULT FALSE,
//	    extnValue   OCTET STRING }
//
// critical is a universal BOOLEAN that may be absent; a FALSE written out
// (which DER would omit) is accepted, as clients do send it. It returns the
// value of the nonce extension, if any. Unknown extensions are ignored
// unless they are marked critical: RFC 6960 section 4.1.2 lets a responder
// ignore only those it need not understand, so an unknown critical one is
// malformedRequest. understood lists the extensions of this position that
// the responder knows; the nonce is known at the request level.
func parseExtensions(exts cryptobyte.String, understood []asn1.ObjectIdentifier) (nonce []byte, err error) {
	var seq cryptobyte.String
	if !exts.ReadASN1(&seq, cbasn1.SEQUENCE) || !exts.Empty() {
		return nil, errMalformed
	}
	for !seq.Empty() {
		var ext, value cryptobyte.String
		var oid asn1.ObjectIdentifier
		critical := false
		if !seq.ReadASN1(&ext, cbasn1.SEQUENCE) || !ext.ReadASN1ObjectIdentifier(&oid) {
			return nil, errMalformed
		}
		if ext.PeekASN1Tag(cbasn1.BOOLEAN) && !ext.ReadASN1Boolean(&critical) {
			return nil, errMalformed
		}
		if !ext.ReadASN1(&value, cbasn1.OCTET_STRING) || !ext.Empty() {
			return nil, errMalformed
		}
		known := false
		for _, u := range understood {
			known = known || oid.Equal(u)
		}
		switch {
		case oid.Equal(oidOCSPNonce) && known:
			if nonce != nil || len(value) == 0 {
				return nil, errMalformed
			}
			nonce = value
		case critical && !known:
			return nil, errMalformed
		}
	}
	return nonce, nil
}
