package pades

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// Objects are read on demand: an offset from the cross-reference table,
// the bytes there parsed by pdfcpu's object parser. Reading all objects up
// front (pdfcpu's api.ReadContext) keeps every parsed object and its read
// buffer alive: 600 MiB for a 20 MiB file of 140,000 small objects, six times
// the memory budget of the signing service. Signing needs the catalog, the
// page tree, one page, the form and the DSS.

const (
	objectWindow    = 4 << 10  // first try at an object's extent
	maxObjectWindow = 16 << 20 // no dictionary or array is longer
	maxResolveDepth = 32       // references to references to …
	objStmCacheSize = 16       // decoded object streams kept
	maxObjStmSize   = 32 << 20 // one decoded object stream
)

// objStm is a decoded object stream (ISO 32000-1 7.5.7).
type objStm struct {
	content []byte
	first   int64
	nums    []int64 // object numbers, in order
	offs    []int64 // of each object, from first
}

// objects reads objects of a file through its cross-reference table.
type objects struct {
	data  []byte
	table xrefTable

	mu    sync.Mutex
	stms  map[int64]*objStm
	order []int64 // insertion order of stms, for eviction
}

// get returns object num of generation gen: nil when the table does not
// list it in use with that generation (ISO 32000-1 7.3.10: a reference to
// a missing object is a reference to null).
func (o *objects) get(num, gen int, depth int) (types.Object, error) {
	e := o.table.lookup(num)
	switch e.kind {
	case entryInUse:
		if int(e.gen) != gen {
			return nil, nil
		}
		return o.parseAt(num, e, depth)
	case entryCompressed:
		if gen != 0 {
			return nil, nil
		}
		return o.fromStream(num, e)
	}
	return nil, nil
}

// parseAt parses the indirect object at e.off, a stream included.
func (o *objects) parseAt(num int, e xent, depth int) (types.Object, error) {
	p, ok := objHeader(o.data, e.off, int64(num), int64(e.gen))
	if !ok {
		return nil, fmt.Errorf("%w: object %d %d is not at offset %d", ErrMalformed, num, e.gen, e.off)
	}
	v, end, err := parseValue(o.data, p)
	if err != nil {
		return nil, fmt.Errorf("%w: object %d: %v", ErrMalformed, num, err)
	}
	q := skipSpace(o.data, end)
	d, isDict := v.(types.Dict)
	if !isDict || !bytes.HasPrefix(o.data[q:], []byte("stream")) {
		return v, nil
	}
	sd, err := o.streamAt(d, q, depth)
	if err != nil {
		return nil, fmt.Errorf("%w: object %d: %v", ErrMalformed, num, err)
	}
	return sd, nil
}

// parseValue parses one object at p, growing the window until the parse
// ends before "endobj" or "stream" (or the file's end), so that a window
// cut through an object is never taken for the object.
func parseValue(data []byte, p int64) (types.Object, int64, error) {
	for w := int64(objectWindow); ; w *= 4 {
		end := min(int64(len(data)), p+w)
		s := string(data[p:end])
		v, err := parseObjectSafe(&s)
		last := end == int64(len(data)) || w >= maxObjectWindow
		if err == nil {
			stop := end - int64(len(s))
			q := skipSpace(data, stop)
			if last || bytes.HasPrefix(data[q:], []byte("endobj")) || bytes.HasPrefix(data[q:], []byte("stream")) {
				return v, stop, nil
			}
			// A window that cuts through "endobj" ends short of it.
			if q+6 <= end {
				return v, stop, nil // no endobj: tolerated, as readers do
			}
		} else if last {
			return nil, 0, err
		}
	}
}

// streamAt builds the stream whose dictionary is d and whose "stream"
// keyword is at q (ISO 32000-1 7.3.8). /Length may be indirect.
func (o *objects) streamAt(d types.Dict, q int64, depth int) (types.StreamDict, error) {
	p := streamStart(o.data, q)
	lo := d["Length"]
	if r, ok := lo.(types.IndirectRef); ok {
		if depth >= maxResolveDepth {
			return types.StreamDict{}, fmt.Errorf("/Length references nest too deep")
		}
		var err error
		if lo, err = o.get(r.ObjectNumber.Value(), r.GenerationNumber.Value(), depth+1); err != nil {
			return types.StreamDict{}, err
		}
	}
	n, ok := integer(lo)
	if !ok || n < 0 || n > int64(len(o.data))-p {
		return types.StreamDict{}, fmt.Errorf("bad stream /Length")
	}
	if !bytes.HasPrefix(o.data[skipBlanksEOL(o.data, p+n):], []byte("endstream")) {
		return types.StreamDict{}, fmt.Errorf("no endstream after /Length %d bytes", n)
	}
	pipeline, err := filters(d)
	if err != nil {
		return types.StreamDict{}, err
	}
	sd := types.NewStreamDict(d, p, &n, nil, pipeline)
	sd.Raw = o.data[p : p+n : p+n]
	return sd, nil
}

// streamStart returns where stream data begins after the "stream" keyword
// at q: past CR LF or LF (ISO 32000-1 7.3.8.1; a lone CR is tolerated).
func streamStart(data []byte, q int64) int64 {
	p := q + 6
	if bytes.HasPrefix(data[p:], []byte("\r\n")) {
		return p + 2
	}
	if p < int64(len(data)) && (data[p] == '\n' || data[p] == '\r') {
		return p + 1
	}
	return p
}

// fromStream returns object num, entry e.idx of object stream e.off.
func (o *objects) fromStream(num int, e xent) (types.Object, error) {
	stm, err := o.objectStream(e.off)
	if err != nil {
		return nil, fmt.Errorf("%w: object stream %d: %v", ErrMalformed, e.off, err)
	}
	i := int(e.idx)
	if i >= len(stm.offs) {
		return nil, fmt.Errorf("%w: object %d is entry %d of object stream %d, which has %d", ErrMalformed, num, i, e.off, len(stm.offs))
	}
	if stm.nums[i] != int64(num) {
		return nil, fmt.Errorf("%w: entry %d of object stream %d is object %d, not %d", ErrMalformed, i, e.off, stm.nums[i], num)
	}
	start := stm.first + stm.offs[i]
	end := int64(len(stm.content))
	if i+1 < len(stm.offs) && stm.offs[i+1] >= stm.offs[i] {
		end = stm.first + stm.offs[i+1]
	}
	s := string(stm.content[start:end])
	v, err := parseObjectSafe(&s)
	if err != nil {
		return nil, fmt.Errorf("%w: object %d in object stream %d: %v", ErrMalformed, num, e.off, err)
	}
	return v, nil
}

// objectStream decodes object stream num, or returns it from the cache.
func (o *objects) objectStream(num int64) (*objStm, error) {
	o.mu.Lock()
	stm := o.stms[num]
	o.mu.Unlock()
	if stm != nil {
		return stm, nil
	}
	e := o.table.lookup(int(num))
	if e.kind != entryInUse {
		return nil, fmt.Errorf("not an object in use")
	}
	v, err := o.parseAt(int(num), e, 0)
	if err != nil {
		return nil, err
	}
	sd, ok := v.(types.StreamDict)
	if !ok || name(sd.Dict["Type"]) != "ObjStm" {
		return nil, fmt.Errorf("not an object stream")
	}
	content, err := decodeRaw(sd.Dict, sd.Raw)
	if err != nil {
		return nil, err
	}
	if stm, err = splitObjStm(sd.Dict, content); err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.stms == nil {
		o.stms = map[int64]*objStm{}
	}
	if len(o.order) >= objStmCacheSize {
		delete(o.stms, o.order[0])
		o.order = o.order[1:]
	}
	o.stms[num] = stm
	o.order = append(o.order, num)
	return stm, nil
}

// splitObjStm reads the header of an object stream: /N pairs of object
// number and offset from /First.
func splitObjStm(d types.Dict, content []byte) (*objStm, error) {
	n, ok1 := integer(d["N"])
	first, ok2 := integer(d["First"])
	// Each header pair takes at least three bytes ("1 0"), plus a space.
	if !ok1 || !ok2 || first < 0 || first > int64(len(content)) || n < 0 || n > first/3+1 || n > maxObjects {
		return nil, fmt.Errorf("bad /N or /First")
	}
	stm := &objStm{content: content, first: first, nums: make([]int64, n), offs: make([]int64, n)}
	head := content[:first]
	p := int64(0)
	for i := range stm.offs {
		var ok bool
		if stm.nums[i], p, ok = readInt(head, skipSpace(head, p)); !ok {
			return nil, fmt.Errorf("bad header")
		}
		if stm.offs[i], p, ok = readInt(head, skipSpace(head, p)); !ok || first+stm.offs[i] > int64(len(content)) {
			return nil, fmt.Errorf("bad header")
		}
	}
	return stm, nil
}

// rawStream returns the dictionary and undecoded data of the stream object
// at off, whose /Length must be direct (as in cross-reference streams,
// ISO 32000-1 7.5.8.2).
func rawStream(data []byte, off int64) (types.Dict, []byte, error) {
	q, ok := objHeader(data, off, -1, -1)
	if !ok {
		return nil, nil, fmt.Errorf("neither \"xref\" nor an object at %d", off)
	}
	dict, end, err := parseDictAt(data, q)
	if err != nil {
		return nil, nil, err
	}
	q = skipSpace(data, end)
	if !bytes.HasPrefix(data[q:], []byte("stream")) {
		return nil, nil, fmt.Errorf("no stream at %d", off)
	}
	p := streamStart(data, q)
	n, ok := integer(dict["Length"])
	if !ok || n < 0 || n > int64(len(data))-p {
		return nil, nil, fmt.Errorf("bad /Length")
	}
	return dict, data[p : p+n : p+n], nil
}

// filters returns a stream's filter pipeline from direct /Filter and
// /DecodeParms.
func filters(d types.Dict) ([]types.PDFFilter, error) {
	var pipeline []types.PDFFilter
	switch f := d["Filter"].(type) {
	case nil:
	case types.Name:
		p, _ := d["DecodeParms"].(types.Dict)
		pipeline = append(pipeline, types.PDFFilter{Name: string(f), DecodeParms: p})
	case types.Array:
		pa, _ := d["DecodeParms"].(types.Array)
		for i, x := range f {
			var p types.Dict
			if i < len(pa) {
				p, _ = pa[i].(types.Dict)
			}
			pipeline = append(pipeline, types.PDFFilter{Name: name(x), DecodeParms: p})
		}
	default:
		return nil, fmt.Errorf("bad /Filter")
	}
	return pipeline, nil
}

// decodeRaw applies the filters of a stream with dictionary d to raw, with
// pdfcpu's decoders, to at most maxObjStmSize bytes.
func decodeRaw(d types.Dict, raw []byte) ([]byte, error) {
	pipeline, err := filters(d)
	if err != nil {
		return nil, err
	}
	if len(pipeline) == 0 {
		return raw, nil
	}
	n := int64(len(raw))
	sd := types.NewStreamDict(d, 0, &n, nil, pipeline)
	sd.Raw = raw
	if err := decodeStream(&sd, maxObjStmSize); err != nil {
		return nil, err
	}
	return sd.Content, nil
}

// decodeStream decodes sd.Raw into sd.Content with pdfcpu's filters.
func decodeStream(sd *types.StreamDict, limit int64) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder failure: %v", r)
		}
	}()
	return sd.DecodeWithLimit(limit)
}

// checkOffsets verifies that each object in use starts with "num gen obj"
// at its offset (ISO 32000-1 7.5.4): a table that points elsewhere is
// damage that readers repair each in their own way.
func (o *objects) checkOffsets() error {
	for num, e := range o.table {
		if e.kind != entryInUse {
			continue
		}
		if e.off <= 0 || e.off >= int64(len(o.data)) {
			return fmt.Errorf("%w: object %d is at offset %d, outside the file", ErrMalformed, num, e.off)
		}
		if _, ok := objHeader(o.data, e.off, int64(num), int64(e.gen)); !ok {
			return fmt.Errorf("%w: the cross-reference table puts object %d %d at offset %d, where it is not",
				ErrMalformed, num, e.gen, e.off)
		}
	}
	return nil
}
