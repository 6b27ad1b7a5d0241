package pades

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// DSS is a Document Security Store (ISO 32000-2 12.8.4.3, Table 261): the
// validation data of a PAdES B-LT signature, DER-encoded certificates, OCSP
// responses and CRLs.
type DSS struct {
	Certs, OCSPs, CRLs [][]byte
	// VRI is keyed by the upper-case hex SHA-1 of a signature's /Contents
	// (the whole string, padding included; ISO 32000-2 12.8.4.4).
	VRI map[string]VRI
}

// VRI is the validation data of one signature (ISO 32000-2 12.8.4.4, Table
// 262).
type VRI struct {
	Certs, OCSPs, CRLs [][]byte
	TU                 time.Time // when the data was put in; zero if absent
}

// maxDSSItems bounds how many streams of each kind DSS reads.
const maxDSSItems = 1 << 16

// DSS returns the document's Document Security Store, or nil, nil when the
// file has none.
func (d *Document) DSS() (*DSS, error) {
	r := d.reader()
	out, err := r.dss()
	if err == nil {
		err = r.err
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (d *reader) dss() (*DSS, error) {
	dss := d.dict(d.catalog["DSS"])
	if dss == nil {
		return nil, nil
	}
	out := &DSS{}
	var err error
	if out.Certs, err = d.streams(dss["Certs"]); err != nil {
		return nil, fmt.Errorf("%w: /DSS /Certs: %v", ErrMalformed, err)
	}
	if out.OCSPs, err = d.streams(dss["OCSPs"]); err != nil {
		return nil, fmt.Errorf("%w: /DSS /OCSPs: %v", ErrMalformed, err)
	}
	if out.CRLs, err = d.streams(dss["CRLs"]); err != nil {
		return nil, fmt.Errorf("%w: /DSS /CRLs: %v", ErrMalformed, err)
	}
	vri := d.dict(dss["VRI"])
	if len(vri) == 0 {
		return out, nil
	}
	out.VRI = make(map[string]VRI, len(vri))
	for k, v := range vri {
		e := d.dict(v)
		if e == nil {
			continue
		}
		var r VRI
		if r.Certs, err = d.streams(e["Cert"]); err != nil {
			return nil, fmt.Errorf("%w: /VRI %s /Cert: %v", ErrMalformed, k, err)
		}
		if r.OCSPs, err = d.streams(e["OCSP"]); err != nil {
			return nil, fmt.Errorf("%w: /VRI %s /OCSP: %v", ErrMalformed, k, err)
		}
		if r.CRLs, err = d.streams(e["CRL"]); err != nil {
			return nil, fmt.Errorf("%w: /VRI %s /CRL: %v", ErrMalformed, k, err)
		}
		r.TU = parsePDFDate(d.resolve(e["TU"]))
		out.VRI[strings.ToUpper(k)] = r
	}
	return out, nil
}

// streams decodes an array of streams; absent is empty.
func (d *reader) streams(o types.Object) ([][]byte, error) {
	if d.resolve(o) == nil {
		return nil, nil
	}
	arr, ok := d.resolve(o).(types.Array)
	if !ok {
		return nil, fmt.Errorf("not an array")
	}
	if len(arr) > maxDSSItems {
		return nil, fmt.Errorf("%d entries", len(arr))
	}
	var out [][]byte
	for _, e := range arr {
		b, err := d.stream(e)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// VRIKey returns the /VRI key of a signature: the upper-case hex SHA-1 of
// its /Contents string as stored, zero padding included (ISO 32000-2
// 12.8.4.4; the EU DSS library and PDFBox hash the same bytes). Signature.
// Contents has the padding cut, so the key is taken from the file.
func (d *Document) VRIKey(s Signature) (string, error) {
	if len(s.ByteRange) != 4 {
		return "", fmt.Errorf("pades: signature %q: /ByteRange has %d values, not 4", s.FieldName, len(s.ByteRange))
	}
	start, end := s.ByteRange[1], s.ByteRange[2]
	if start < 0 || end > int64(len(d.data)) || end-start < 2 || d.data[start] != '<' || d.data[end-1] != '>' {
		return "", fmt.Errorf("pades: signature %q: the /ByteRange gap is not a hex string", s.FieldName)
	}
	raw, ok := stringBytes(types.HexLiteral(cleanHex(d.data[start+1 : end-1])))
	if !ok {
		return "", fmt.Errorf("pades: signature %q: /Contents is not hex", s.FieldName)
	}
	return sha1Hex(raw), nil
}

// cleanHex drops white space from a hex string's digits.
func cleanHex(b []byte) string {
	var s strings.Builder
	s.Grow(len(b))
	for _, c := range b {
		if !isSpace(c) {
			s.WriteByte(c)
		}
	}
	return s.String()
}

// AddDSS writes the original followed by one incremental update that adds
// the catalog's /DSS, or extends the one there, keeping what is there and
// adding each certificate, OCSP response and CRL once, as streams; and /VRI
// entries when given (merged into existing ones). Every VRI item is also in
// the DSS-wide arrays. A DSS is permitted under any DocMDP P (ISO 32000-2
// 12.8.2.2.2, Table 257, P: incremental updates that only add a DSS or a
// document time-stamp are not changes).
func (d *Document) AddDSS(w io.Writer, dss DSS) error {
	return d.reader().addDSS(w, dss)
}

func (d *reader) addDSS(w io.Writer, dss DSS) error {
	u := d.newUpdate()
	old := d.dict(d.catalog["DSS"])
	b := dssBuilder{d: d, u: u, byHash: map[[32]byte]types.IndirectRef{}}
	// 1. What the store holds already, by content, to deduplicate.
	out := types.Dict{}
	for k, v := range old {
		out[k] = v
	}
	out["Type"] = types.Name("DSS")
	for _, key := range []string{"Certs", "OCSPs", "CRLs"} {
		refs, err := b.existing(old[key])
		if err != nil {
			return fmt.Errorf("%w: /DSS /%s: %v", ErrMalformed, key, err)
		}
		b.lists[key] = refs
	}
	// 2. The new items, DSS-wide and per signature.
	if err := b.addAll("Certs", dss.Certs); err != nil {
		return err
	}
	if err := b.addAll("OCSPs", dss.OCSPs); err != nil {
		return err
	}
	if err := b.addAll("CRLs", dss.CRLs); err != nil {
		return err
	}
	vri, err := b.vri(d.dict(old["VRI"]), dss.VRI)
	if err != nil {
		return err
	}
	for _, key := range []string{"Certs", "OCSPs", "CRLs"} {
		if len(b.lists[key]) > 0 {
			out[key] = b.lists[key]
		}
	}
	if len(vri) > 0 {
		out["VRI"] = vri
	}
	// 3. The DSS object: in place when it is indirect, else a new one.
	dssRef, indirect := d.catalog["DSS"].(types.IndirectRef)
	if !indirect || d.dict(dssRef) == nil {
		dssRef = u.alloc()
		u.changedCatalog()["DSS"] = dssRef
	}
	if err := u.putDict(dssRef, out, "Type", "VRI", "Certs", "OCSPs", "CRLs"); err != nil {
		return err
	}
	d.declareESIC(u, esicLTV)
	if err := u.finish(); err != nil {
		return err
	}
	if d.err != nil {
		return d.err // an object the update builds on could not be read
	}
	if _, err := w.Write(d.data); err != nil {
		return fmt.Errorf("pades: writing: %w", err)
	}
	if _, err := w.Write(u.buf.Bytes()); err != nil {
		return fmt.Errorf("pades: writing: %w", err)
	}
	return nil
}

// dssBuilder writes DSS streams once each and keeps the arrays.
type dssBuilder struct {
	d      *reader
	u      *update
	byHash map[[32]byte]types.IndirectRef
	lists  map[string]types.Array
}

// existing reads an array of the old DSS, remembering its streams by
// content; references are kept as they are.
func (b *dssBuilder) existing(o types.Object) (types.Array, error) {
	if b.lists == nil {
		b.lists = map[string]types.Array{}
	}
	if b.d.resolve(o) == nil {
		return nil, nil
	}
	arr, ok := b.d.resolve(o).(types.Array)
	if !ok {
		return nil, fmt.Errorf("not an array")
	}
	var out types.Array
	for _, e := range arr {
		r, ok := e.(types.IndirectRef)
		if !ok {
			return nil, fmt.Errorf("an entry is not a reference to a stream")
		}
		data, err := b.d.stream(r)
		if err != nil {
			return nil, err
		}
		h := sha256.Sum256(data)
		if _, dup := b.byHash[h]; dup {
			continue
		}
		b.byHash[h] = r
		out = append(out, r)
	}
	return out, nil
}

// add returns the stream holding der, writing it if it is new, and puts it
// in the DSS-wide list key.
func (b *dssBuilder) add(key string, der []byte) (types.IndirectRef, error) {
	if len(der) == 0 {
		return types.IndirectRef{}, fmt.Errorf("pades: an empty %s entry", key)
	}
	h := sha256.Sum256(der)
	if r, ok := b.byHash[h]; ok {
		if !containsRef(b.lists[key], r) {
			b.lists[key] = append(b.lists[key], r)
		}
		return r, nil
	}
	r := b.u.alloc()
	if err := b.u.putStream(r, types.Dict{}, der, true); err != nil {
		return types.IndirectRef{}, err
	}
	b.byHash[h] = r
	b.lists[key] = append(b.lists[key], r)
	return r, nil
}

func (b *dssBuilder) addAll(key string, items [][]byte) error {
	for _, der := range items {
		if _, err := b.add(key, der); err != nil {
			return err
		}
	}
	return nil
}

// vri merges the old /VRI dictionary with the new entries.
func (b *dssBuilder) vri(old types.Dict, add map[string]VRI) (types.Dict, error) {
	out := types.Dict{}
	for k, v := range old {
		out[k] = v
	}
	keys := make([]string, 0, len(add))
	for k := range add {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		key := strings.ToUpper(k)
		if raw, err := hex.DecodeString(key); err != nil || len(raw) != 20 {
			return nil, fmt.Errorf("pades: VRI key %q is not the hex SHA-1 of a signature", k)
		}
		v := add[k]
		e := types.Dict{"Type": types.Name("VRI")}
		if prev := b.d.dict(old[key]); prev != nil {
			e = copyDict(prev)
		}
		for _, part := range []struct {
			vriKey, dssKey string
			items          [][]byte
		}{{"Cert", "Certs", v.Certs}, {"OCSP", "OCSPs", v.OCSPs}, {"CRL", "CRLs", v.CRLs}} {
			arr, _ := b.d.resolve(e[part.vriKey]).(types.Array)
			arr = append(types.Array(nil), arr...)
			for _, der := range part.items {
				r, err := b.add(part.dssKey, der)
				if err != nil {
					return nil, err
				}
				if !containsRef(arr, r) {
					arr = append(arr, r)
				}
			}
			if len(arr) > 0 {
				e[part.vriKey] = arr
			}
		}
		if !v.TU.IsZero() {
			e["TU"] = pdfDate(v.TU)
		}
		out[key] = e
	}
	return out, nil
}

func containsRef(arr types.Array, r types.IndirectRef) bool {
	for _, e := range arr {
		if x, ok := e.(types.IndirectRef); ok && x.ObjectNumber == r.ObjectNumber && x.GenerationNumber == r.GenerationNumber {
			return true
		}
	}
	return false
}

// sha1Hex is the VRI key of raw /Contents bytes. SHA-1 is what ISO 32000-2
// 12.8.4.4 prescribes for the key; it names, it does not protect.
func sha1Hex(raw []byte) string {
	sum := sha1.Sum(raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}
