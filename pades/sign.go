package pades

import (
	"bytes"
	"context"
	"crypto"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// DefaultContentsSize is the space reserved for the DER in /Contents when
// the options leave it zero. A miss costs one more call of the callback.
const DefaultContentsSize = 16 << 10

// maxContentsSize bounds /Contents: 1 MiB of DER is far beyond any CMS with
// a chain, a time-stamp and revocation data.
const maxContentsSize = 1 << 20

// contentsMargin is added to the real size when the first guess was short:
// a second CMS or token differs by a few bytes (ECDSA signatures, nonces).
const contentsMargin = 256

// ContentsFunc returns the DER to place in /Contents for digest, the hash
// (under the options' Hash) of the ByteRange bytes.
type ContentsFunc func(ctx context.Context, digest []byte) ([]byte, error)

// SignatureOptions describe a signature for Sign.
type SignatureOptions struct {
	Hash                                crypto.Hash // of the ByteRange; default SHA-256
	FieldName                           string      // default "Signature<n>"; an empty signature field of that name is signed, else it must be unique
	Name, Reason, Location, ContactInfo string
	SigningTime                         time.Time   // /M (PAdES: no signing-time attribute in the CMS, /M instead); zero: now
	SubFilter                           string      // default "ETSI.CAdES.detached"
	Appearance                          *Appearance // nil: invisible (widget /Rect [0 0 0 0], /F 132, on page 1)
	DocMDP                              int         // 1..3: certification signature (only as the first signature; else ErrDocMDP)
	ContentsSize                        int         // bytes reserved for the DER in /Contents; default DefaultContentsSize
}

// Appearance places a visible signature.
type Appearance struct {
	Page  int        // 1-based
	Rect  [4]float64 // llx lly urx ury in default user space
	Lines []string   // text drawn in the stamp; Helvetica, WinAnsi; other characters become '?'
}

// TimeStampOptions describe a document time-stamp for AddDocTimeStamp.
type TimeStampOptions struct {
	Hash         crypto.Hash // default SHA-256
	FieldName    string      // default "Signature<n>"
	ContentsSize int         // bytes reserved for the token; default DefaultContentsSize
}

// Sign writes to w the original file byte for byte followed by one
// incremental update with a signature field (added to /AcroForm /Fields,
// /SigFlags 3), its widget (added to the page's /Annots) and the signature
// dictionary (ISO 32000-1 12.8.1). When opts.FieldName names an existing
// empty signature field, that field is signed instead, in its own widget
// (Appearance.Lines drawn in its rectangle, if given). The signature
// dictionary has /Type /Sig, /Filter /Adobe.PPKLite,
// /SubFilter, /ByteRange covering everything but /Contents, /M, /Contents.
// It hashes the ByteRange and calls contents once; if the DER does not fit
// ContentsSize it rebuilds the update with the real size plus a small margin
// and calls contents once more; a second miss is an error. Nothing is
// written to w unless everything before succeeded.
func (d *Document) Sign(ctx context.Context, w io.Writer, opts SignatureOptions, contents ContentsFunc) error {
	return d.reader().sign(ctx, w, opts, contents)
}

func (d *reader) sign(ctx context.Context, w io.Writer, opts SignatureOptions, contents ContentsFunc) error {
	if opts.Hash == 0 {
		opts.Hash = crypto.SHA256
	}
	if opts.SubFilter == "" {
		opts.SubFilter = "ETSI.CAdES.detached"
	}
	if opts.SigningTime.IsZero() {
		opts.SigningTime = time.Now()
	}
	if opts.DocMDP < 0 || opts.DocMDP > 3 {
		return fmt.Errorf("pades: DocMDP %d: must be 1, 2 or 3, or 0 for none", opts.DocMDP)
	}
	// ISO 32000-1 12.8.2.2.2 (Table 254, P): with P=1 no change is permitted,
	// a new signature included. DSS and document time-stamps are another
	// matter (see AddDSS).
	if d.certification() == 1 {
		return fmt.Errorf("%w: the document is certified with P=1 (no changes)", ErrDocMDP)
	}
	if opts.DocMDP != 0 {
		// ISO 32000-1 12.8.2.2.1: a certification signature is the first
		// signature in the document.
		sigs, err := d.signatures()
		if err != nil {
			return err
		}
		if len(sigs) > 0 {
			return fmt.Errorf("%w: a certification signature must be the first, and the document has %d", ErrDocMDP, len(sigs))
		}
	}
	dict := types.Dict{
		"Type":      types.Name("Sig"),
		"Filter":    types.Name("Adobe.PPKLite"),
		"SubFilter": types.Name(opts.SubFilter),
		"M":         pdfDate(opts.SigningTime),
	}
	for k, v := range map[string]string{"Name": opts.Name, "Reason": opts.Reason, "Location": opts.Location, "ContactInfo": opts.ContactInfo} {
		if v != "" {
			dict[k] = pdfString(v)
		}
	}
	if opts.DocMDP != 0 {
		// ISO 32000-1 12.8.2.2, Tables 253 and 254.
		dict["Reference"] = types.Array{types.Dict{
			"Type":            types.Name("SigRef"),
			"TransformMethod": types.Name("DocMDP"),
			"TransformParams": types.Dict{
				"Type": types.Name("TransformParams"),
				"P":    types.Integer(opts.DocMDP),
				"V":    types.Name("1.2"),
			},
		}}
	}
	level := 0
	if opts.SubFilter == "ETSI.CAdES.detached" {
		level = esicCAdES
	}
	job := signJob{
		hash: opts.Hash, size: opts.ContentsSize, field: opts.FieldName, dict: dict,
		appearance: opts.Appearance, docMDP: opts.DocMDP, esic: level,
	}
	return d.writeSigned(ctx, w, job, contents)
}

// AddDocTimeStamp writes the original followed by an update with a
// document time-stamp (ISO 32000-2 12.8.5): a signature field whose value
// has /Type /DocTimeStamp, /SubFilter /ETSI.RFC3161 and /Contents = the RFC
// 3161 token over the ByteRange digest, from token; the same size and retry
// rule as Sign. Document time-stamps are permitted under any DocMDP P
// (ISO 32000-2 12.8.2.2.2, Table 257, P).
func (d *Document) AddDocTimeStamp(ctx context.Context, w io.Writer, opts TimeStampOptions, token ContentsFunc) error {
	if opts.Hash == 0 {
		opts.Hash = crypto.SHA256
	}
	dict := types.Dict{
		"Type":      types.Name("DocTimeStamp"),
		"Filter":    types.Name("Adobe.PPKLite"),
		"SubFilter": types.Name("ETSI.RFC3161"),
	}
	job := signJob{hash: opts.Hash, size: opts.ContentsSize, field: opts.FieldName, dict: dict, esic: esicLTV}
	return d.reader().writeSigned(ctx, w, job, token)
}

// signJob is what Sign and AddDocTimeStamp have in common.
type signJob struct {
	hash       crypto.Hash
	size       int
	field      string
	dict       types.Dict // the signature dictionary, without /ByteRange and /Contents
	appearance *Appearance
	docMDP     int
	esic       int // ESIC extension level to declare; 0 for none
}

// slot is where /ByteRange and /Contents sit in an update's buffer.
type slot struct {
	byteRange   int // offset of the /ByteRange array
	contents    int // offset of the '<' of /Contents
	contentsLen int // including '<' and '>'
}

// byteRangeWidth is the fixed width of the /ByteRange array, patched in
// place once the update's length is known: "[0 a b c]" padded with spaces.
const byteRangeWidth = 3 + 3*20 + 3

func (d *reader) writeSigned(ctx context.Context, w io.Writer, job signJob, contents ContentsFunc) error {
	if !job.hash.Available() {
		return fmt.Errorf("pades: hash %v is not available", job.hash)
	}
	size := job.size
	if size == 0 {
		size = DefaultContentsSize
	}
	if size < 0 || size > maxContentsSize {
		return fmt.Errorf("pades: ContentsSize %d: must be between 1 and %d", size, maxContentsSize)
	}
	target, err := d.sigTarget(job.field, job.appearance)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		// 1. Build the whole update with a /Contents hole of size bytes.
		u, s, err := d.buildSigned(job, target, size)
		if err != nil {
			return err
		}
		if d.err != nil {
			return d.err // an object the update builds on could not be read
		}
		// 2. Hash the ByteRange: the original, then the update but the hole.
		buf := u.buf.Bytes()
		h := job.hash.New()
		h.Write(d.data)
		h.Write(buf[:s.contents])
		h.Write(buf[s.contents+s.contentsLen:])
		der, err := contents(ctx, h.Sum(nil))
		if err != nil {
			return fmt.Errorf("pades: making /Contents: %w", err)
		}
		if len(der) == 0 {
			return fmt.Errorf("pades: making /Contents: the callback returned nothing")
		}
		// 3. A DER that does not fit: once, rebuild with its real size.
		if len(der) > size {
			if attempt == 2 {
				return fmt.Errorf("pades: /Contents of %d bytes still exceeds the %d reserved after one retry", len(der), size)
			}
			if len(der)+contentsMargin > maxContentsSize {
				return fmt.Errorf("pades: /Contents of %d bytes exceeds the limit of %d", len(der), maxContentsSize)
			}
			size = len(der) + contentsMargin
			continue
		}
		hex.Encode(buf[s.contents+1:], der) // the rest of the hole stays '0'
		if _, err := w.Write(d.data); err != nil {
			return fmt.Errorf("pades: writing: %w", err)
		}
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("pades: writing: %w", err)
		}
		return nil
	}
}

// buildSigned writes the update for job with a hole of size bytes and
// patches its /ByteRange.
func (d *reader) buildSigned(job signJob, target sigTarget, size int) (*update, *slot, error) {
	u := d.newUpdate()
	sigRef := u.alloc()
	s, err := u.putSigDict(sigRef, job.dict, size)
	if err != nil {
		return nil, nil, err
	}
	if target.field != nil {
		err = d.fillSigField(u, *target.field, sigRef, job.appearance)
	} else {
		err = d.addSigField(u, target.name, sigRef, job.appearance)
	}
	if err != nil {
		return nil, nil, err
	}
	if job.docMDP != 0 {
		if err := d.addPerms(u, sigRef); err != nil {
			return nil, nil, err
		}
	}
	if job.esic != 0 {
		d.declareESIC(u, job.esic)
	}
	if err := u.finish(); err != nil {
		return nil, nil, err
	}
	// ISO 32000-1 12.8.1: the ByteRange covers the file but the /Contents
	// value, delimiters included.
	buf := u.buf.Bytes()
	a := u.base + int64(s.contents)
	b := a + int64(s.contentsLen)
	c := u.base + int64(len(buf)) - b
	br := fmt.Sprintf("[0 %d %d %d]", a, b, c)
	if len(br) > byteRangeWidth {
		return nil, nil, fmt.Errorf("pades: the file is too large for a /ByteRange")
	}
	copy(buf[s.byteRange:], br)
	for i := s.byteRange + len(br); i < s.byteRange+byteRangeWidth; i++ {
		buf[i] = ' '
	}
	return u, s, nil
}

// putSigDict writes the signature dictionary with placeholders for
// /ByteRange and /Contents and returns where they are.
func (u *update) putSigDict(r types.IndirectRef, dict types.Dict, size int) (*slot, error) {
	u.begin(r)
	b := &u.buf
	b.WriteString("<<")
	for _, k := range []string{"Type", "Filter", "SubFilter"} {
		b.WriteString(" /" + k + " ")
		if err := writeObject(b, dict[k]); err != nil {
			return nil, err
		}
	}
	s := &slot{}
	b.WriteString(" /ByteRange ")
	s.byteRange = b.Len()
	b.WriteString("[0 0 0 0]")
	b.Write(bytes.Repeat([]byte{' '}, byteRangeWidth-len("[0 0 0 0]")))
	b.WriteString(" /Contents ")
	s.contents = b.Len()
	b.WriteByte('<')
	b.Write(bytes.Repeat([]byte{'0'}, 2*size))
	b.WriteByte('>')
	s.contentsLen = 2*size + 2
	rest := copyDict(dict)
	for _, k := range []string{"Type", "Filter", "SubFilter"} {
		delete(rest, k)
	}
	b.WriteByte(' ')
	if err := writeEntries(b, rest, []string{"M", "Name", "Reason", "Location", "ContactInfo"}); err != nil {
		return nil, err
	}
	b.WriteString(">>\nendobj\n")
	return s, nil
}

// sigTarget is where a signature goes: a new field of that name, or an
// existing empty signature field.
type sigTarget struct {
	name  string
	field *field
}

// sigTarget returns an existing empty signature field named want, or a new
// field name: want, checked unique, or the first free "Signature<n>".
func (d *reader) sigTarget(want string, a *Appearance) (sigTarget, error) {
	fs, err := d.fields()
	if err != nil {
		return sigTarget{}, err
	}
	names, err := d.fieldNames()
	if err != nil {
		return sigTarget{}, err
	}
	if want == "" {
		for n := 1; ; n++ {
			if s := "Signature" + strconv.Itoa(n); !names[s] {
				return sigTarget{name: s}, nil
			}
		}
	}
	// ISO 32000-1 12.7.3.2: a partial field name has no period.
	if strings.Contains(want, ".") {
		return sigTarget{}, fmt.Errorf("pades: field name %q: a field name has no period", want)
	}
	for i := range fs {
		f := &fs[i]
		if f.name != want {
			continue
		}
		switch {
		case f.ftype != "Sig":
			return sigTarget{}, fmt.Errorf("pades: a form field named %q exists and is not a signature field", want)
		case d.resolve(f.dict["V"]) != nil:
			return sigTarget{}, fmt.Errorf("pades: the signature field %q is signed already", want)
		case f.ref.ObjectNumber == 0:
			return sigTarget{}, fmt.Errorf("%w: the signature field %q is a direct object", ErrMalformed, want)
		case a != nil && (a.Page != 0 || a.Rect != [4]float64{}):
			return sigTarget{}, fmt.Errorf("pades: the signature field %q exists: its widget sets page and rectangle; leave Appearance.Page and Rect zero", want)
		}
		return sigTarget{field: f}, nil
	}
	if names[want] {
		return sigTarget{}, fmt.Errorf("pades: a form field named %q exists", want)
	}
	return sigTarget{name: want}, nil
}
