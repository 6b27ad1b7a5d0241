package pades

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

var (
	// ErrNotPDF: no %PDF- header, an empty file, …
	ErrNotPDF = errors.New("pades: not a PDF file")
	// ErrEncrypted: the trailer names an /Encrypt dictionary.
	ErrEncrypted = errors.New("pades: the PDF is encrypted; decrypt it first")
	// ErrMalformed is wrapped with the detail: fmt.Errorf("%w: xref at %d: …", ErrMalformed, …).
	ErrMalformed = errors.New("pades: the PDF is damaged")
	// ErrDocMDP: a certification signature forbids the change asked for.
	ErrDocMDP = errors.New("pades: the document's certification (DocMDP) does not permit this change")
)

// Limits on the object graph walked while reading.
const (
	maxTreeDepth  = 64        // page tree and field tree levels
	maxPages      = 1 << 20   // pages in one document
	maxFields     = 1 << 18   // form fields in one document
	maxDecodeSize = 128 << 20 // one decoded DSS stream
)

// Document is a parsed PDF. It refers to the caller's bytes, which must not
// change while the Document is in use. A Document is safe for concurrent
// use; each Sign, AddDSS or AddDocTimeStamp writes a new file and leaves
// the Document as it was.
type Document struct {
	data    []byte
	st      *structure
	obj     *objects
	root    types.IndirectRef
	catalog types.Dict
	pages   []types.IndirectRef // page objects in page order
	size    int                 // first object number free for new objects
}

// Open reads the structure of data (the whole file; not copied, not
// modified). It checks the header, the trailer chain of every revision, that
// the file is not encrypted, and that every cross-reference entry points at
// the object it names; then finds the catalog and the pages. The AcroForm,
// the signatures and the DSS are read when asked for.
func Open(data []byte) (*Document, error) {
	return OpenContext(context.Background(), data)
}

// OpenContext is Open with a context that bounds the walk of the page tree,
// the longest part.
func OpenContext(ctx context.Context, data []byte) (*Document, error) {
	// 1. The trailer chain and cross-reference table, walked by us:
	// revisions, style, encryption, every entry.
	st, err := readStructure(data)
	if err != nil {
		return nil, err
	}
	if st.encrypted {
		return nil, ErrEncrypted
	}
	d := &Document{data: data, st: st, obj: &objects{data: data, table: st.table}}
	// 2. Every offset must point at its object: a table that points
	// elsewhere is damage each reader repairs its own way.
	if err := d.obj.checkOffsets(); err != nil {
		return nil, err
	}
	// 3. The objects signing needs, parsed by pdfcpu when needed.
	if err := d.readCatalog(); err != nil {
		return nil, err
	}
	if err := d.readPages(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Document) readCatalog() error {
	r, ok := d.st.sections[0].trailer["Root"].(types.IndirectRef)
	if !ok {
		return fmt.Errorf("%w: no /Root in the trailer", ErrMalformed)
	}
	v, err := d.resolveErr(r)
	if err != nil {
		return err
	}
	cat, ok := v.(types.Dict)
	if !ok {
		return fmt.Errorf("%w: /Root %d %d R is not a dictionary", ErrMalformed, r.ObjectNumber, r.GenerationNumber)
	}
	if t := name(cat["Type"]); t != "Catalog" && t != "" {
		return fmt.Errorf("%w: /Root is a /%s, not the catalog", ErrMalformed, t)
	}
	d.root, d.catalog = r, cat
	size := len(d.st.table)
	if n, ok := integer(d.st.sections[0].trailer["Size"]); ok && n > int64(size) && n < maxObjects {
		size = int(n)
	}
	d.size = max(size, 1)
	return nil
}

// readPages walks the page tree (ISO 32000-1 7.7.3) in order, guarding
// against loops and depth; /Count is not trusted.
func (d *Document) readPages(ctx context.Context) error {
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
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("pades: reading the page tree: %w", err)
		}
		seen[r.ObjectNumber.Value()] = true
		v, err := d.resolveErr(r)
		if err != nil {
			return err
		}
		node, ok := v.(types.Dict)
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
// a missing or free object is null, and so, here, is one to an object that
// cannot be read; where that matters, resolveErr tells.
func (d *Document) resolve(o types.Object) types.Object {
	v, _ := d.resolveErr(o)
	return v
}

// resolveErr is resolve with the error of an unreadable object.
func (d *Document) resolveErr(o types.Object) (types.Object, error) {
	for i := 0; i < maxResolveDepth; i++ {
		r, ok := o.(types.IndirectRef)
		if !ok {
			return o, nil
		}
		var err error
		if o, err = d.obj.get(r.ObjectNumber.Value(), r.GenerationNumber.Value(), 0); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w: references nest deeper than %d", ErrMalformed, maxResolveDepth)
}

// reader reads objects for one operation and keeps the first error: where
// an update builds on an object, one that cannot be read must not pass for
// null, or the update would drop what it held (fields, annotations, DSS
// entries); and a validator must not miss a signature.
type reader struct {
	*Document
	err error
}

func (d *Document) reader() *reader { return &reader{Document: d} }

// resolve is Document.resolve, keeping the first error.
func (r *reader) resolve(o types.Object) types.Object {
	v, err := r.Document.resolveErr(o)
	if err != nil && r.err == nil {
		r.err = err
	}
	return v
}

// dict resolves o to a dictionary, nil when it is none.
func (r *reader) dict(o types.Object) types.Dict {
	switch v := r.resolve(o).(type) {
	case types.Dict:
		return v
	case types.StreamDict:
		return v.Dict
	}
	return nil
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
	v, err := d.resolveErr(o)
	if err != nil {
		return nil, err
	}
	sd, ok := v.(types.StreamDict)
	if !ok {
		return nil, fmt.Errorf("%w: expected a stream", ErrMalformed)
	}
	// The filter pipeline needs /Filter and /DecodeParms direct.
	for _, k := range []string{"Filter", "DecodeParms"} {
		if _, ok := sd.Dict[k].(types.IndirectRef); ok {
			sd.Dict = copyDict(sd.Dict)
			sd.Dict[k] = d.resolve(sd.Dict[k])
		}
	}
	if sd.FilterPipeline, err = filters(sd.Dict); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(sd.FilterPipeline) == 0 {
		return sd.Raw, nil
	}
	if err := decodeStream(&sd, maxDecodeSize); err != nil {
		return nil, fmt.Errorf("%w: decoding a stream: %v", ErrMalformed, err)
	}
	return sd.Content, nil
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
