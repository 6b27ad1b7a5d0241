package pades

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// Limits on what the structure walk accepts from a file.
const (
	maxSections    = 10000   // cross-reference sections in one trailer chain
	maxTailSearch  = 1 << 20 // how far from the end startxref may be
	maxHeaderSlack = 1024    // %PDF- within the first KiB, as readers accept
	dictWindow     = 1 << 16 // first try at a trailer dictionary's extent
	maxDictWindow  = 4 << 20 // a trailer dictionary is never longer than this
)

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
		sec, err := readSection(data, off)
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

// readSection reads the section at off: a classic table with its trailer, or
// a cross-reference stream's dictionary. Entries of classic tables are
// checked for syntax; their targets are checked later (checkOffsets).
func readSection(data []byte, off int64) (section, error) {
	sec := section{offset: off, prev: -1, xrefStm: -1}
	if off < 0 || off >= int64(len(data)) {
		return sec, fmt.Errorf("%w: cross-reference offset %d is outside the file", ErrMalformed, off)
	}
	p := skipSpace(data, off)
	var err error
	if bytes.HasPrefix(data[p:], []byte("xref")) {
		sec.trailer, err = readClassic(data, p+4)
	} else {
		sec.stream = true
		sec.trailer, err = readXRefStreamDict(data, p)
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
		x, ok := integer(v)
		if !ok || x < 0 || x >= int64(len(data)) {
			return sec, fmt.Errorf("%w: cross-reference section at %d: bad /XRefStm", ErrMalformed, off)
		}
		if _, err := readXRefStreamDict(data, skipSpace(data, x)); err != nil {
			return sec, fmt.Errorf("%w: /XRefStm at %d: %v", ErrMalformed, x, err)
		}
		sec.xrefStm = x
	}
	return sec, nil
}

// readClassic reads the subsections of a classic table from p (just past
// "xref") and the trailer dictionary after them (ISO 32000-1 7.5.4, 7.5.5).
func readClassic(data []byte, p int64) (types.Dict, error) {
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
		if !ok || first < 0 || count < 0 || count > int64(len(data))/18 {
			return nil, fmt.Errorf("bad subsection header at %d", p)
		}
		p = q
		for i := int64(0); i < count; i++ {
			if p, ok = readClassicEntry(data, p); !ok {
				return nil, fmt.Errorf("bad entry %d of subsection %d at %d", i, first, p)
			}
		}
	}
}

// readClassicEntry reads "nnnnnnnnnn ggggg n|f" with its end-of-line.
func readClassicEntry(data []byte, p int64) (int64, bool) {
	p = skipSpace(data, p)
	var ok bool
	if _, p, ok = readInt(data, p); !ok {
		return p, false
	}
	p = skipBlanks(data, p)
	if _, p, ok = readInt(data, p); !ok {
		return p, false
	}
	p = skipBlanks(data, p)
	if p >= int64(len(data)) || (data[p] != 'n' && data[p] != 'f') {
		return p, false
	}
	return p + 1, true
}

// readXRefStreamDict reads "n g obj << … >> stream" at p and returns the
// dictionary, which must say /Type /XRef (ISO 32000-1 7.5.8.2).
func readXRefStreamDict(data []byte, p int64) (types.Dict, error) {
	q, ok := objHeader(data, p, -1, -1)
	if !ok {
		return nil, fmt.Errorf("neither \"xref\" nor an object at %d", p)
	}
	d, end, err := parseDictAt(data, q)
	if err != nil {
		return nil, err
	}
	if name(d["Type"]) != "XRef" {
		return nil, fmt.Errorf("the object at %d is not a cross-reference stream", p)
	}
	if !bytes.HasPrefix(data[skipSpace(data, end):], []byte("stream")) {
		return nil, fmt.Errorf("cross-reference stream at %d has no stream", p)
	}
	return d, nil
}

// parseDictAt parses the dictionary starting at p (after whitespace) with
// pdfcpu's object parser and returns it with the offset just past it.
func parseDictAt(data []byte, p int64) (types.Dict, int64, error) {
	p = skipSpace(data, p)
	if !bytes.HasPrefix(data[p:], []byte("<<")) {
		return nil, 0, fmt.Errorf("no dictionary at %d", p)
	}
	for w := int64(dictWindow); ; w *= 4 {
		end := min(int64(len(data)), p+w)
		s := string(data[p:end])
		o, err := parseObjectSafe(&s)
		if err == nil {
			d, ok := o.(types.Dict)
			if !ok {
				return nil, 0, fmt.Errorf("no dictionary at %d", p)
			}
			return d, end - int64(len(s)), nil
		}
		if end == int64(len(data)) || w >= maxDictWindow {
			return nil, 0, fmt.Errorf("unreadable dictionary at %d: %v", p, err)
		}
	}
}

// parseObjectSafe runs pdfcpu's parser, turning a panic on hostile input
// into an error.
func parseObjectSafe(s *string) (o types.Object, err error) {
	defer func() {
		if r := recover(); r != nil {
			o, err = nil, fmt.Errorf("parser failure: %v", r)
		}
	}()
	return model.ParseObject(s)
}

// objHeader matches "num gen obj" at p (after whitespace) and returns the
// offset past "obj". num or gen of -1 match any value.
func objHeader(data []byte, p int64, num, gen int64) (int64, bool) {
	p = skipSpace(data, p)
	n, p, ok := readInt(data, p)
	if !ok || (num >= 0 && n != num) {
		return 0, false
	}
	q := skipBlanksEOL(data, p)
	if q == p {
		return 0, false
	}
	g, p, ok := readInt(data, q)
	if !ok || (gen >= 0 && g != gen) {
		return 0, false
	}
	q = skipBlanksEOL(data, p)
	if q == p || !bytes.HasPrefix(data[q:], []byte("obj")) {
		return 0, false
	}
	return q + 3, true
}

// revisionEnds finds where each revision ends: just past the %%EOF that
// follows "startxref n" for a section at n. Sections no startxref names (the
// first-page table of a linearized file, ISO 32000-1 Annex F) belong to the
// revision of the section that names them in /Prev.
func revisionEnds(data []byte, secs []section, lastEnd int64) []int64 {
	type mark struct{ pos, off, end int64 }
	var marks []mark
	for p := 0; p < len(data); {
		i := bytes.Index(data[p:], []byte("startxref"))
		if i < 0 {
			break
		}
		pos := int64(p + i)
		if off, end, ok := parseStartxref(data, pos); ok {
			marks = append(marks, mark{pos, off, end})
		}
		p += i + len("startxref")
	}
	ends := map[int64]bool{lastEnd: true}
	for _, s := range secs {
		for _, m := range marks {
			if m.off == s.offset && m.pos > s.offset && m.end <= lastEnd {
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

func isSpace(c byte) bool {
	switch c {
	case 0, '\t', '\n', '\f', '\r', ' ':
		return true
	}
	return false
}

// skipSpace skips white space and comments (ISO 32000-1 7.2.2, 7.2.3).
func skipSpace(data []byte, p int64) int64 {
	for p < int64(len(data)) {
		switch c := data[p]; {
		case isSpace(c):
			p++
		case c == '%' && !bytes.HasPrefix(data[p:], []byte("%%EOF")):
			for p < int64(len(data)) && data[p] != '\n' && data[p] != '\r' {
				p++
			}
		default:
			return p
		}
	}
	return p
}

// skipBlanks skips spaces only, inside a classic table entry.
func skipBlanks(data []byte, p int64) int64 {
	for p < int64(len(data)) && data[p] == ' ' {
		p++
	}
	return p
}

// skipBlanksEOL skips white space without comments.
func skipBlanksEOL(data []byte, p int64) int64 {
	for p < int64(len(data)) && isSpace(data[p]) {
		p++
	}
	return p
}

// readInt reads an unsigned decimal integer of at most 18 digits at p.
func readInt(data []byte, p int64) (int64, int64, bool) {
	var n int64
	start := p
	for p < int64(len(data)) && data[p] >= '0' && data[p] <= '9' {
		if p-start >= 18 {
			return 0, p, false
		}
		n = n*10 + int64(data[p]-'0')
		p++
	}
	return n, p, p > start
}
