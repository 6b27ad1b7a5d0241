package pades

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// Signature is the value of a signature field: a signature dictionary (ISO
// 32000-1 12.8.1, Table 252) or a document time-stamp dictionary (ISO
// 32000-2 12.8.5, Table 263). Nothing in it is verified: the /ByteRange is as
// the file says, bounds-checked only when used.
type Signature struct {
	FieldName       string    // fully qualified (/T chain)
	Type            string    // "Sig" or "DocTimeStamp"
	SubFilter       string    // "ETSI.CAdES.detached", "adbe.pkcs7.detached", "ETSI.RFC3161", …
	ByteRange       []int64   // pairs of offset and length
	Contents        []byte    // decoded /Contents, trailing zero padding removed (the DER length decides)
	SigningTime     time.Time // /M, zero if absent or unparsable
	Name            string
	Reason          string
	Location        string
	ContactInfo     string
	Revision        int  // index into Revisions() of the revision whose end the ByteRange reaches; -1 if none
	CoversWholeFile bool // ByteRange ends at len(data)
	DocMDP          int  // P, when this is a certification signature

	offset int64 // where the signature dictionary is in the file, for ordering
}

// errByteRange is returned by SignedBytes' reader for a bad /ByteRange.
var errByteRange = errors.New("pades: the /ByteRange does not fit the file")

// SignedBytes returns the bytes the /ByteRange covers, concatenated, read
// from data without copying. A /ByteRange that is not pairs of non-negative
// offsets and lengths, ascending, within data, gives a reader that fails.
func (s Signature) SignedBytes(data []byte) io.Reader {
	if len(s.ByteRange) == 0 || len(s.ByteRange)%2 != 0 {
		return errReader{fmt.Errorf("%w: %d values", errByteRange, len(s.ByteRange))}
	}
	var parts []io.Reader
	var last int64
	for i := 0; i < len(s.ByteRange); i += 2 {
		off, n := s.ByteRange[i], s.ByteRange[i+1]
		if off < last || n < 0 || off > int64(len(data)) || n > int64(len(data))-off {
			return errReader{fmt.Errorf("%w: [%d %d] with %d bytes", errByteRange, off, n, len(data))}
		}
		parts = append(parts, bytes.NewReader(data[off:off+n]))
		last = off + n
	}
	return io.MultiReader(parts...)
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// field is a terminal form field with its fully qualified name.
type field struct {
	name  string
	ref   types.IndirectRef // of the field dictionary; zero when direct
	dict  types.Dict
	ftype string // /FT, inherited (ISO 32000-1 12.7.3.1)
}

// fields walks the AcroForm field tree (ISO 32000-1 12.7.3.1) and returns
// the terminal fields. A missing AcroForm gives none.
func (d *reader) fields() ([]field, error) {
	form := d.dict(d.catalog["AcroForm"])
	if form == nil {
		return nil, nil
	}
	top, _ := d.resolve(form["Fields"]).(types.Array)
	var out []field
	seen := map[int]bool{}
	var walk func(o types.Object, parent, ft string, depth int) error
	walk = func(o types.Object, parent, ft string, depth int) error {
		if depth > maxTreeDepth {
			return fmt.Errorf("%w: the form field tree is deeper than %d", ErrMalformed, maxTreeDepth)
		}
		r, isRef := o.(types.IndirectRef)
		if isRef {
			if seen[r.ObjectNumber.Value()] {
				return nil // a field listed twice, or a loop: visit once
			}
			seen[r.ObjectNumber.Value()] = true
		}
		f := d.dict(o)
		if f == nil {
			return nil
		}
		if len(seen) > maxFields {
			return fmt.Errorf("%w: more than %d form fields", ErrMalformed, maxFields)
		}
		full := parent
		if t, ok := f["T"]; ok {
			if full != "" {
				full += "."
			}
			full += textString(d.resolve(t))
		}
		if v := name(d.resolve(f["FT"])); v != "" {
			ft = v
		}
		kids, _ := d.resolve(f["Kids"]).(types.Array)
		// Kids without /T are widgets of this field, not fields of their own.
		var fieldKids []types.Object
		for _, k := range kids {
			if kd := d.dict(k); kd != nil {
				if _, ok := kd["T"]; ok {
					fieldKids = append(fieldKids, k)
				}
			}
		}
		if len(fieldKids) == 0 {
			fl := field{name: full, dict: f, ftype: ft}
			if isRef {
				fl.ref = r
			}
			out = append(out, fl)
			return nil
		}
		for _, k := range fieldKids {
			if err := walk(k, full, ft, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	for _, o := range top {
		if err := walk(o, "", "", 0); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Signatures returns the value of every signature field that has one
// (/Sig signatures and /DocTimeStamp document time-stamps), in the order of
// their dictionaries in the file.
func (d *Document) Signatures() ([]Signature, error) {
	r := d.reader()
	sigs, err := r.signatures()
	if err == nil {
		err = r.err
	}
	if err != nil {
		return nil, err
	}
	return sigs, nil
}

func (d *reader) signatures() ([]Signature, error) {
	fs, err := d.fields()
	if err != nil {
		return nil, err
	}
	var sigs []Signature
	for _, f := range fs {
		if f.ftype != "Sig" {
			continue
		}
		v := d.dict(f.dict["V"])
		if v == nil {
			continue // an empty signature field
		}
		s := d.signature(v)
		s.FieldName = f.name
		if r, ok := f.dict["V"].(types.IndirectRef); ok {
			s.offset = d.objectOffset(r.ObjectNumber.Value())
		}
		sigs = append(sigs, s)
	}
	sort.SliceStable(sigs, func(i, j int) bool { return sigs[i].offset < sigs[j].offset })
	return sigs, nil
}

// signature reads a signature or document time-stamp dictionary.
func (d *reader) signature(v types.Dict) Signature {
	s := Signature{
		Type:        name(d.resolve(v["Type"])),
		SubFilter:   name(d.resolve(v["SubFilter"])),
		SigningTime: parsePDFDate(d.resolve(v["M"])),
		Name:        textString(d.resolve(v["Name"])),
		Reason:      textString(d.resolve(v["Reason"])),
		Location:    textString(d.resolve(v["Location"])),
		ContactInfo: textString(d.resolve(v["ContactInfo"])),
		Revision:    -1,
	}
	if s.Type == "" {
		s.Type = "Sig"
		if s.SubFilter == "ETSI.RFC3161" {
			s.Type = "DocTimeStamp"
		}
	}
	if br, ok := d.resolve(v["ByteRange"]).(types.Array); ok {
		for _, e := range br {
			n, ok := integer(d.resolve(e))
			if !ok {
				s.ByteRange = nil
				break
			}
			s.ByteRange = append(s.ByteRange, n)
		}
	}
	if c, ok := stringBytes(d.resolve(v["Contents"])); ok {
		s.Contents = trimDER(c)
	}
	if n := len(s.ByteRange); n >= 2 {
		end := s.ByteRange[n-2] + s.ByteRange[n-1]
		if s.ByteRange[n-2] >= 0 && s.ByteRange[n-1] >= 0 && end >= 0 {
			s.CoversWholeFile = end == int64(len(d.data))
			for i, r := range d.st.revisions {
				if r == end {
					s.Revision = i
				}
			}
		}
	}
	s.DocMDP = d.docMDPOf(v)
	return s
}

// trimDER cuts the zero padding after a DER value: the value's own length
// decides. Contents that do not start with a readable DER header are kept.
func trimDER(c []byte) []byte {
	if len(c) < 2 {
		return c
	}
	n, hdr := int64(c[1]), int64(2)
	if c[1]&0x80 != 0 {
		k := int64(c[1] & 0x7f)
		if k == 0 || k > 4 || int64(len(c)) < 2+k {
			return c
		}
		n = 0
		for _, b := range c[2 : 2+k] {
			n = n<<8 | int64(b)
		}
		hdr += k
	}
	if total := hdr + n; total <= int64(len(c)) {
		return c[:total]
	}
	return c
}

// objectOffset is where object num is in the file: its own offset, or its
// object stream's.
func (d *Document) objectOffset(num int) int64 {
	e := d.st.table.lookup(num)
	if e.kind == entryCompressed {
		e = d.st.table.lookup(int(e.off))
	}
	if e.kind != entryInUse {
		return -1
	}
	return e.off
}

// docMDPOf returns P of a signature dictionary's DocMDP transform (ISO
// 32000-1 12.8.2.2, Table 254: default 2), 0 when it has none.
func (d *reader) docMDPOf(v types.Dict) int {
	refs, _ := d.resolve(v["Reference"]).(types.Array)
	for _, o := range refs {
		sr := d.dict(o)
		if sr == nil || name(d.resolve(sr["TransformMethod"])) != "DocMDP" {
			continue
		}
		p := int64(2)
		if tp := d.dict(sr["TransformParams"]); tp != nil {
			if n, ok := integer(d.resolve(tp["P"])); ok {
				p = n
			}
		}
		if p < 1 || p > 3 {
			p = 2 // out of range: ISO 32000-1 gives no meaning; be neither strict nor lax
		}
		return int(p)
	}
	return 0
}

// Certification returns P of the document's certification signature, the
// one /Perms /DocMDP names (ISO 32000-1 12.8.4, Table 258): 1 no changes,
// 2 form filling and signing, 3 also annotations. 0 if there is none.
func (d *Document) Certification() int {
	return d.reader().certification()
}

func (d *reader) certification() int {
	perms := d.dict(d.catalog["Perms"])
	if perms == nil {
		return 0
	}
	v := d.dict(perms["DocMDP"])
	if v == nil {
		return 0
	}
	return d.docMDPOf(v)
}

// fieldNames returns the set of fully qualified names of all fields.
func (d *reader) fieldNames() (map[string]bool, error) {
	fs, err := d.fields()
	if err != nil {
		return nil, err
	}
	names := make(map[string]bool, len(fs))
	for _, f := range fs {
		names[f.name] = true
		// Parents' names are taken too: a new field must not become a kid.
		for n := f.name; strings.Contains(n, "."); {
			n = n[:strings.LastIndex(n, ".")]
			names[n] = true
		}
	}
	return names, nil
}
