package pades

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// Limits on what the structure walk accepts from a file.
const (
	maxSections    = 10000   // cross-reference sections in one trailer chain
	maxTailSearch  = 1 << 20 // how far from the end startxref may be
	maxHeaderSlack = 1024    // %PDF- within the first KiB, as readers accept
	dictWindow     = 1 << 16 // first try at a trailer dictionary's extent
	maxDictWindow  = 4 << 20 // a trailer dictionary is never longer than this
	maxObjects     = 4 << 20 // object numbers in one file
)

// Kinds of cross-reference entries (ISO 32000-1 7.5.4, 7.5.8.3); zero is
// "not listed".
const (
	entryFree       = 1
	entryInUse      = 2
	entryCompressed = 3
)

// xent is the newest cross-reference entry of an object.
type xent struct {
	kind uint8
	gen  uint16 // generation (in use)
	idx  uint32 // index in the object stream (compressed)
	off  int64  // offset (in use) or object stream number (compressed)
}

// xrefTable maps object numbers to their newest entries.
type xrefTable []xent

// lookup returns the entry of num, zero when unlisted.
func (t xrefTable) lookup(num int) xent {
	if num < 0 || num >= len(t) {
		return xent{}
	}
	return t[num]
}

// merge sets num's entry unless a newer section set it already.
func (t *xrefTable) merge(num int, e xent) {
	if num >= len(*t) {
		nt := make(xrefTable, min(max(num+1, 2*len(*t)), maxObjects))
		copy(nt, *t)
		*t = nt
	}
	if (*t)[num].kind == 0 {
		(*t)[num] = e
	}
}

// section is one cross-reference section of the trailer chain (ISO 32000-1
// 7.5.4 and 7.5.5 for classic tables, 7.5.8 for streams).
type section struct {
	offset  int64      // of the "xref" keyword or the stream's "n g obj"
	stream  bool       // a cross-reference stream
	trailer types.Dict // the trailer dictionary, or the stream's dictionary
	prev    int64      // /Prev, -1 when absent
	xrefStm int64      // /XRefStm of a hybrid file (7.5.8.4), -1 when absent
}

// structure is what the trailer chain says about a file.
type structure struct {
	header    int64     // offset of "%PDF-"
	version   string    // from the header, e.g. "1.7"
	startxref int64     // the last startxref value
	sections  []section // newest first
	revisions []int64   // end of each revision, oldest first
	encrypted bool
	table     xrefTable // merged over all sections, the newest entry of each object
}

// readStructure checks the header and walks the trailer chain from the last
// startxref through every /Prev, without trusting any offset.
func readStructure(data []byte) (*structure, error) {
	st := &structure{}
	if err := st.readHeader(data); err != nil {
		return nil, err
	}
	start, lastEnd, err := lastStartxref(data)
	if err != nil {
		return nil, err
	}
	st.startxref = start
	// Bytes after the last %%EOF other than padding mean a truncated or
	// half-written update: what the file says is unclear.
	for _, c := range data[lastEnd:] {
		if !isSpace(c) && c != 0x1a {
			return nil, fmt.Errorf("%w: %d bytes after the last %%%%EOF (a truncated update?)", ErrMalformed, int64(len(data))-lastEnd)
		}
	}
	seen := map[int64]bool{}
	for off := start; off >= 0; {
		if seen[off] {
			return nil, fmt.Errorf("%w: the /Prev chain loops at offset %d", ErrMalformed, off)
		}
		if len(st.sections) >= maxSections {
			return nil, fmt.Errorf("%w: more than %d cross-reference sections", ErrMalformed, maxSections)
		}
		seen[off] = true
		sec, err := readSection(data, off, &st.table)
		if err != nil {
			return nil, err
		}
		if _, ok := sec.trailer["Encrypt"]; ok {
			st.encrypted = true
		}
		st.sections = append(st.sections, sec)
		off = sec.prev
	}
	if _, ok := st.sections[0].trailer["Root"].(types.IndirectRef); !ok && !st.encrypted {
		return nil, fmt.Errorf("%w: the last trailer has no /Root", ErrMalformed)
	}
	st.revisions = revisionEnds(data, st.sections, lastEnd)
	return st, nil
}

func (st *structure) readHeader(data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("%w: the file is empty", ErrNotPDF)
	}
	head := data[:min(len(data), maxHeaderSlack)]
	i := bytes.Index(head, []byte("%PDF-"))
	if i < 0 {
		return fmt.Errorf("%w: no %%PDF- header in the first %d bytes", ErrNotPDF, len(head))
	}
	if i > 0 {
		// Offsets in such files are ambiguous: some writers count from the
		// header, readers from the file's start.
		return fmt.Errorf("%w: %d bytes precede the %%PDF- header", ErrMalformed, i)
	}
	v := data[5:min(len(data), 5+3)]
	if len(v) < 3 || v[0] < '1' || v[0] > '9' || v[1] != '.' || v[2] < '0' || v[2] > '9' {
		return fmt.Errorf("%w: bad version in the %%PDF- header", ErrNotPDF)
	}
	st.header, st.version = int64(i), string(v)
	return nil
}

// lastStartxref finds the file's last "startxref n %%EOF" and returns n and
// the offset just past that %%EOF and its end-of-line marker.
func lastStartxref(data []byte) (int64, int64, error) {
	tail := max(0, len(data)-maxTailSearch)
	i := bytes.LastIndex(data[tail:], []byte("startxref"))
	if i < 0 {
		return 0, 0, fmt.Errorf("%w: no startxref at the end (truncated?)", ErrMalformed)
	}
	off, end, ok := parseStartxref(data, int64(tail+i))
	if !ok {
		return 0, 0, fmt.Errorf("%w: the last startxref is not followed by an offset and %%%%EOF", ErrMalformed)
	}
	if off <= 0 || off >= int64(len(data)) {
		return 0, 0, fmt.Errorf("%w: startxref %d is outside the file", ErrMalformed, off)
	}
	return off, end, nil
}

// parseStartxref reads "startxref EOL n EOL %%EOF [EOL]" at pos.
func parseStartxref(data []byte, pos int64) (off, end int64, ok bool) {
	p := pos + int64(len("startxref"))
	p = skipSpace(data, p)
	off, p, ok = readInt(data, p)
	if !ok {
		return 0, 0, false
	}
	p = skipSpace(data, p)
	if !bytes.HasPrefix(data[p:], []byte("%%EOF")) {
		return 0, 0, false
	}
	p += 5
	switch {
	case bytes.HasPrefix(data[p:], []byte("\r\n")):
		p += 2
	case p < int64(len(data)) && (data[p] == '\n' || data[p] == '\r'):
		p++
	}
	return off, p, true
}

// readSection reads the section at off, a classic table with its trailer
// or a cross-reference stream, and merges its entries into t.
func readSection(data []byte, off int64, t *xrefTable) (section, error) {
	sec := section{offset: off, prev: -1, xrefStm: -1}
	if off < 0 || off >= int64(len(data)) {
		return sec, fmt.Errorf("%w: cross-reference offset %d is outside the file", ErrMalformed, off)
	}
	p := skipSpace(data, off)
	var err error
	own := map[int]xent{} // this section's entries; the first listing wins
	add := func(num int, e xent) error {
		if _, dup := own[num]; !dup {
			if len(own) >= maxObjects {
				return fmt.Errorf("more than %d objects", maxObjects)
			}
			own[num] = e
		}
		return nil
	}
	if bytes.HasPrefix(data[p:], []byte("xref")) {
		sec.trailer, err = readClassic(data, p+4, add)
	} else {
		sec.stream = true
		sec.trailer, err = readXRefStream(data, p, add)
	}
	if err != nil {
		return sec, fmt.Errorf("%w: cross-reference section at %d: %v", ErrMalformed, off, err)
	}
	if v, ok := sec.trailer["Prev"]; ok {
		prev, ok := integer(v)
		if !ok || prev < 0 || prev >= int64(len(data)) {
			return sec, fmt.Errorf("%w: cross-reference section at %d: bad /Prev", ErrMalformed, off)
		}
		sec.prev = prev
	}
	if v, ok := sec.trailer["XRefStm"]; ok && !sec.stream {
		// A hybrid file (ISO 32000-1 7.5.8.4): objects in object streams
		// are free in the table, for PDF 1.4 readers, and listed in the
		// stream at /XRefStm, which a reader of streams consults for every
		// object the table does not give. (pdfcpu lets the free entry win.)
		x, ok := integer(v)
		if !ok || x < 0 || x >= int64(len(data)) {
			return sec, fmt.Errorf("%w: cross-reference section at %d: bad /XRefStm", ErrMalformed, off)
		}
		_, err := readXRefStream(data, skipSpace(data, x), func(num int, e xent) error {
			if old, ok := own[num]; !ok || old.kind == entryFree {
				own[num] = e
			}
			return nil
		})
		if err != nil {
			return sec, fmt.Errorf("%w: /XRefStm at %d: %v", ErrMalformed, x, err)
		}
		sec.xrefStm = x
	}
	for num, e := range own {
		t.merge(num, e)
	}
	return sec, nil
}

// readClassic reads the subsections of a classic table from p (just past
// "xref") and the trailer dictionary after them (ISO 32000-1 7.5.4, 7.5.5).
func readClassic(data []byte, p int64, add func(int, xent) error) (types.Dict, error) {
	for {
		p = skipSpace(data, p)
		if bytes.HasPrefix(data[p:], []byte("trailer")) {
			d, _, err := parseDictAt(data, p+7)
			return d, err
		}
		first, q, ok := readInt(data, p)
		if !ok {
			return nil, fmt.Errorf("expected a subsection or trailer at %d", p)
		}
		q = skipSpace(data, q)
		count, q, ok := readInt(data, q)
		if !ok || count > int64(len(data))/18 || first+count > maxObjects {
			return nil, fmt.Errorf("bad subsection header at %d", p)
		}
		p = q
		for i := int64(0); i < count; i++ {
			var e xent
			if p, e, ok = readClassicEntry(data, p); !ok {
				return nil, fmt.Errorf("bad entry %d of subsection %d at %d", i, first, p)
			}
			if num := int(first + i); num != 0 { // object 0 heads the free list
				if err := add(num, e); err != nil {
					return nil, err
				}
			}
		}
	}
}

// readClassicEntry reads "nnnnnnnnnn ggggg n|f" with its end-of-line.
func readClassicEntry(data []byte, p int64) (int64, xent, bool) {
	p = skipSpace(data, p)
	off, p, ok := readInt(data, p)
	if !ok {
		return p, xent{}, false
	}
	p = skipBlanks(data, p)
	gen, p, ok := readInt(data, p)
	if !ok || gen > 65535 {
		return p, xent{}, false
	}
	p = skipBlanks(data, p)
	if p >= int64(len(data)) || (data[p] != 'n' && data[p] != 'f') {
		return p, xent{}, false
	}
	e := xent{kind: entryFree, gen: uint16(gen)}
	if data[p] == 'n' {
		e.kind, e.off = entryInUse, off
	}
	return p + 1, e, true
}

// readXRefStream reads the cross-reference stream at p (ISO 32000-1
// 7.5.8): its dictionary, which must say /Type /XRef, and its entries.
func readXRefStream(data []byte, p int64, add func(int, xent) error) (types.Dict, error) {
	dict, raw, err := rawStream(data, p)
	if err != nil {
		return nil, err
	}
	if name(dict["Type"]) != "XRef" {
		return nil, fmt.Errorf("the object at %d is not a cross-reference stream", p)
	}
	content, err := decodeRaw(dict, raw)
	if err != nil {
		return nil, err
	}
	w, rowLen, err := xrefWidths(dict["W"])
	if err != nil {
		return nil, err
	}
	size, _ := integer(dict["Size"])
	index := types.Array{types.Integer(0), types.Integer(size)}
	if ia, ok := dict["Index"].(types.Array); ok {
		index = ia
	}
	pos := 0
	for i := 0; i+1 < len(index); i += 2 {
		first, ok1 := integer(index[i])
		count, ok2 := integer(index[i+1])
		if !ok1 || !ok2 || first < 0 || count < 0 || count > int64(len(content)/rowLen) || first+count > maxObjects {
			return nil, fmt.Errorf("bad /Index")
		}
		for j := int64(0); j < count; j++ {
			if pos+rowLen > len(content) {
				return nil, fmt.Errorf("the stream is shorter than /Index says")
			}
			row := content[pos : pos+rowLen]
			pos += rowLen
			typ := int64(1) // ISO 32000-1 Table 17: type 1 when the field is absent
			if w[0] > 0 {
				typ = beInt(row[:w[0]])
			}
			f2, f3 := beInt(row[w[0]:w[0]+w[1]]), beInt(row[w[0]+w[1]:])
			var e xent
			switch typ {
			case 0:
				e = xent{kind: entryFree}
			case 1:
				if f3 > 65535 {
					return nil, fmt.Errorf("bad generation %d", f3)
				}
				e = xent{kind: entryInUse, off: f2, gen: uint16(f3)}
			case 2:
				if f3 > 1<<31 {
					return nil, fmt.Errorf("bad object stream index %d", f3)
				}
				e = xent{kind: entryCompressed, off: f2, idx: uint32(f3)}
			default:
				continue // ISO 32000-1 7.5.8.3: other types are references to null
			}
			if num := int(first + j); num != 0 {
				if err := add(num, e); err != nil {
					return nil, err
				}
			}
		}
	}
	return dict, nil
}

// xrefWidths reads /W: three field widths of up to 8 bytes.
func xrefWidths(o types.Object) ([3]int, int, error) {
	var w [3]int
	wa, _ := o.(types.Array)
	if len(wa) != 3 {
		return w, 0, fmt.Errorf("/W has %d entries", len(wa))
	}
	rowLen := 0
	for i, x := range wa {
		n, ok := integer(x)
		if !ok || n < 0 || n > 8 {
			return w, 0, fmt.Errorf("bad /W")
		}
		w[i] = int(n)
		rowLen += int(n)
	}
	if w[1] == 0 {
		return w, 0, fmt.Errorf("bad /W")
	}
	return w, rowLen, nil
}

func beInt(b []byte) int64 {
	var n int64
	for _, c := range b {
		n = n<<8 | int64(c)
	}
	return n
}

// revisionEnds finds where each revision ends: just past the %%EOF that
// follows "startxref n" for a section at n. Sections no startxref names (the
// first-page table of a linearized file, ISO 32000-1 Annex F) belong to the
// revision of the section that names them in /Prev.
func revisionEnds(data []byte, secs []section, lastEnd int64) []int64 {
	type mark struct{ pos, end int64 }
	marks := map[int64][]mark{} // by the offset startxref names
	for p := 0; p < len(data); {
		i := bytes.Index(data[p:], []byte("startxref"))
		if i < 0 {
			break
		}
		pos := int64(p + i)
		if off, end, ok := parseStartxref(data, pos); ok {
			marks[off] = append(marks[off], mark{pos, end})
		}
		p += i + len("startxref")
	}
	ends := map[int64]bool{lastEnd: true}
	for _, s := range secs {
		for _, m := range marks[s.offset] {
			if m.pos > s.offset && m.end <= lastEnd {
				ends[m.end] = true
				break
			}
		}
	}
	out := make([]int64, 0, len(ends))
	for e := range ends {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
