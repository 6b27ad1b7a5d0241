package pades

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

var (
	ErrNotPDF    = errors.New("pades: not a PDF file")
	ErrEncrypted = errors.New("pades: the PDF is encrypted; decrypt it first")
	ErrMalformed = errors.New("pades: the PDF is damaged")
	ErrDocMDP    = errors.New("pades: the document's certification (DocMDP) does not permit this change")
)

// Limits on the object graph walked while reading.
const (
	maxTreeDepth  = 64        // page tree and field tree levels
	maxPages      = 1 << 20   // pages in one document
	maxFields     = 1 << 18   // form fields in one document
	maxDecodeSize = 128 << 20 // one decoded stream (object streams, DSS entries)
)

// Document is a parsed PDF. It refers to the caller's bytes, which must not
// change while the Document is in use. A Document is safe for concurrent
// reads; each Sign, AddDSS or AddDocTimeStamp writes a new file and leaves
// the Document as it was.
type Document struct {
	data    []byte
	st      *structure
	xt      *model.XRefTable
	root    types.IndirectRef
	catalog types.Dict
	pages   []types.IndirectRef // page objects in page order
	size    int                 // first object number free for new objects
}

// Open reads the structure of data (the whole file; not copied, not
// modified). It checks the header, the trailer chain of every revision, that
// the file is not encrypted, and that every cross-reference entry points at
// the object it names; then finds the catalog, the pages, the AcroForm, the
// signatures and the DSS.
func Open(data []byte) (*Document, error) {
	return OpenContext(context.Background(), data)
}

// OpenContext is Open with a context that bounds the time spent parsing.
func OpenContext(ctx context.Context, data []byte) (*Document, error) {
	// 1. The trailer chain, walked by us: revisions, style, encryption.
	st, err := readStructure(data)
	if err != nil {
		return nil, err
	}
	if st.encrypted {
		return nil, ErrEncrypted
	}
	// 2. The objects, read by pdfcpu.
	xt, err := readObjects(ctx, data)
	if err != nil {
		return nil, err
	}
	d := &Document{data: data, st: st, xt: xt}
	if err := d.mergeHybrid(); err != nil {
		return nil, err
	}
	// 3. Every offset in the merged cross-reference table must point at its
	// object: pdfcpu parses whatever it finds at an offset.
	if err := d.checkOffsets(); err != nil {
		return nil, err
	}
	if err := d.readCatalog(); err != nil {
		return nil, err
	}
	if err := d.readPages(); err != nil {
		return nil, err
	}
	return d, nil
}

// readObjects runs pdfcpu's reader over data.
func readObjects(ctx context.Context, data []byte) (xt *model.XRefTable, err error) {
	defer func() {
		// pdfcpu is a large parser fed hostile input: a panic in it is a
		// damaged file to us, not a crash of the signing service.
		if r := recover(); r != nil {
			xt, err = nil, fmt.Errorf("%w: the PDF parser failed: %v", ErrMalformed, r)
		}
	}()
	limits := model.DefaultResourceLimits()
	limits.MaxDecodeBytes = maxDecodeSize
	conf := &model.Configuration{
		Reader15:       true,
		ValidationMode: model.ValidationRelaxed,
		Eol:            types.EolLF,
		Limits:         limits,
	}
	pc, err := pdfcpu.ReadWithContext(ctx, bytes.NewReader(data), conf)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("pades: reading the PDF: %w", ctx.Err())
		}
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return pc.XRefTable, nil
}

// checkOffsets verifies that each in-use object outside an object stream
// starts with "num gen obj" at its offset (ISO 32000-1 7.5.4).
func (d *Document) checkOffsets() error {
	for num, e := range d.xt.Table {
		if e == nil || e.Free || e.ObjectStream != nil || num == 0 {
			continue
		}
		if e.Offset == nil || e.Generation == nil {
			continue // an object pdfcpu made up (e.g. a repaired free list head)
		}
		off := *e.Offset
		if off <= 0 || off >= int64(len(d.data)) {
			return fmt.Errorf("%w: object %d is at offset %d, outside the file", ErrMalformed, num, off)
		}
		if _, ok := objHeader(d.data, off, int64(num), int64(*e.Generation)); !ok {
			return fmt.Errorf("%w: the cross-reference table puts object %d %d at offset %d, where it is not",
				ErrMalformed, num, *e.Generation, off)
		}
	}
	return nil
}

func (d *Document) readCatalog() error {
	r, ok := d.st.sections[0].trailer["Root"].(types.IndirectRef)
	if !ok {
		return fmt.Errorf("%w: no /Root in the trailer", ErrMalformed)
	}
	cat, ok := d.resolve(r).(types.Dict)
	if !ok {
		return fmt.Errorf("%w: /Root %d %d R is not a dictionary", ErrMalformed, r.ObjectNumber, r.GenerationNumber)
	}
	if t := name(cat["Type"]); t != "Catalog" && t != "" {
		return fmt.Errorf("%w: /Root is a /%s, not the catalog", ErrMalformed, t)
	}
	d.root, d.catalog = r, cat
	size := d.xt.MaxObjNr + 1
	for num := range d.xt.Table {
		size = max(size, num+1)
	}
	if n, ok := integer(d.st.sections[0].trailer["Size"]); ok && n > int64(size) && n < 1<<31 {
		size = int(n)
	}
	d.size = size
	return nil
}

// readPages walks the page tree (ISO 32000-1 7.7.3) in order, guarding
// against loops and depth; /Count is not trusted.
func (d *Document) readPages() error {
	root, ok := d.catalog["Pages"].(types.IndirectRef)
	if !ok {
		return fmt.Errorf("%w: the catalog has no /Pages", ErrMalformed)
	}
	seen := map[int]bool{}
	var walk func(r types.IndirectRef, depth int) error
	walk = func(r types.IndirectRef, depth int) error {
		if depth > maxTreeDepth {
			return fmt.Errorf("%w: the page tree is deeper than %d", ErrMalformed, maxTreeDepth)
		}
		if seen[r.ObjectNumber.Value()] {
			return fmt.Errorf("%w: the page tree loops at object %d", ErrMalformed, r.ObjectNumber)
		}
		seen[r.ObjectNumber.Value()] = true
		node, ok := d.resolve(r).(types.Dict)
		if !ok {
			return fmt.Errorf("%w: page tree node %d is not a dictionary", ErrMalformed, r.ObjectNumber)
		}
		kids, isNode := d.resolve(node["Kids"]).(types.Array)
		if name(node["Type"]) == "Page" || !isNode {
			if len(d.pages) >= maxPages {
				return fmt.Errorf("%w: more than %d pages", ErrMalformed, maxPages)
			}
			d.pages = append(d.pages, r)
			return nil
		}
		for _, k := range kids {
			kr, ok := k.(types.IndirectRef)
			if !ok {
				return fmt.Errorf("%w: a /Kids entry of page tree node %d is not a reference", ErrMalformed, r.ObjectNumber)
			}
			if err := walk(kr, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(root, 0)
}

// resolve follows indirect references (ISO 32000-1 7.3.10): a reference to
// a missing or free object is null.
func (d *Document) resolve(o types.Object) types.Object {
	for i := 0; i < 32; i++ {
		r, ok := o.(types.IndirectRef)
		if !ok {
			return o
		}
		e, found := d.xt.FindTableEntryForIndRef(&r)
		if !found || e == nil || e.Free {
			return nil
		}
		if e.Generation != nil && *e.Generation != r.GenerationNumber.Value() {
			return nil
		}
		o = e.Object
		if l, ok := o.(types.LazyObjectStreamObject); ok {
			dec, err := decodeLazy(l)
			if err != nil {
				return nil
			}
			e.Object, o = dec, dec
		}
	}
	return nil
}

func decodeLazy(l types.LazyObjectStreamObject) (o types.Object, err error) {
	defer func() {
		if r := recover(); r != nil {
			o, err = nil, fmt.Errorf("%w: object stream: %v", ErrMalformed, r)
		}
	}()
	return l.DecodedObject(context.Background())
}

// dict resolves o to a dictionary, nil when it is none.
func (d *Document) dict(o types.Object) types.Dict {
	switch v := d.resolve(o).(type) {
	case types.Dict:
		return v
	case types.StreamDict:
		return v.Dict
	}
	return nil
}

// stream resolves o to a stream and decodes its data.
func (d *Document) stream(o types.Object) ([]byte, error) {
	sd, ok := d.resolve(o).(types.StreamDict)
	if !ok {
		return nil, fmt.Errorf("%w: expected a stream", ErrMalformed)
	}
	if sd.Content != nil {
		return sd.Content, nil
	}
	if err := decodeStream(&sd); err != nil {
		return nil, fmt.Errorf("%w: decoding a stream: %v", ErrMalformed, err)
	}
	return sd.Content, nil
}

func decodeStream(sd *types.StreamDict) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder failure: %v", r)
		}
	}()
	return sd.DecodeWithLimit(maxDecodeSize)
}

// generation returns the generation number of object num (0 for objects
// in object streams, whose generation is 0 by definition).
func (d *Document) generation(num int) int {
	if e, ok := d.xt.Table[num]; ok && e != nil && e.Generation != nil && e.ObjectStream == nil {
		return *e.Generation
	}
	return 0
}

// Version returns the PDF version: the header's, or the catalog's /Version
// when that is later (ISO 32000-1 7.2.2, 7.7.2).
func (d *Document) Version() string {
	v := d.st.version
	if cv := name(d.resolve(d.catalog["Version"])); versionLess(v, cv) {
		v = cv
	}
	return v
}

// versionLess compares "major.minor" versions; malformed ones sort first.
func versionLess(a, b string) bool {
	pa, oka := parseVersion(a)
	pb, okb := parseVersion(b)
	if !okb {
		return false
	}
	if !oka {
		return true
	}
	return pa < pb
}

func parseVersion(v string) (int, bool) {
	var major, minor int
	i := 0
	for ; i < len(v) && v[i] != '.'; i++ {
	}
	if i == 0 || i >= len(v)-1 {
		return 0, false
	}
	var err error
	if major, err = strconv.Atoi(v[:i]); err != nil || major < 1 {
		return 0, false
	}
	if minor, err = strconv.Atoi(v[i+1:]); err != nil || minor < 0 || minor > 99 {
		return 0, false
	}
	return major*100 + minor, true
}

// PageCount returns the number of pages.
func (d *Document) PageCount() int { return len(d.pages) }

// Revisions returns the end offset (just past %%EOF and its end-of-line
// marker) of each revision, oldest first. The last is the end of the file
// as parsed; bytes after it, if any, belong to no revision.
func (d *Document) Revisions() []int64 {
	return append([]int64(nil), d.st.revisions...)
}
