package pades

import (
	"bytes"
	"fmt"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// Hybrid-reference files (ISO 32000-1 7.5.8.4) list objects that live in
// object streams as free in their classic table, so that PDF 1.4 readers
// skip them, and give their real place in the stream at /XRefStm. pdfcpu
// lets the table's free entry win; a reader that knows cross-reference
// streams must not. mergeHybrid restores those objects: for each hybrid
// section, every compressed entry of its /XRefStm whose object is free in
// that very section is read from its object stream.
func (d *Document) mergeHybrid() error {
	for i, sec := range d.st.sections {
		if sec.xrefStm < 0 {
			continue
		}
		entries, err := readXRefStreamEntries(d.data, sec.xrefStm)
		if err != nil {
			return fmt.Errorf("%w: /XRefStm at %d: %v", ErrMalformed, sec.xrefStm, err)
		}
		streams := map[int][]types.Object{}
		for _, e := range entries {
			if e.typ != 2 {
				continue
			}
			te, ok := d.xt.Table[e.num]
			// pdfcpu numbers the sections of the chain from 1, newest first.
			if ok && te != nil && !(te.Free && te.Incr == i+1) {
				continue // defined, or freed by a later revision
			}
			objs, ok := streams[e.f2]
			if !ok {
				if objs, err = d.objectStream(e.f2); err != nil {
					return fmt.Errorf("%w: object stream %d: %v", ErrMalformed, e.f2, err)
				}
				streams[e.f2] = objs
			}
			if e.f3 < 0 || e.f3 >= int64(len(objs)) {
				return fmt.Errorf("%w: object %d is entry %d of object stream %d, which has %d", ErrMalformed, e.num, e.f3, e.f2, len(objs))
			}
			zero, stm, idx := 0, e.f2, int(e.f3)
			d.xt.Table[e.num] = &model.XRefTableEntry{
				Object: objs[idx], Generation: &zero, ObjectStream: &stm, ObjectStreamInd: &idx, Incr: i + 1,
			}
		}
	}
	return nil
}

// xrefEntry is one row of a cross-reference stream (ISO 32000-1 7.5.8.3).
type xrefEntry struct {
	num int
	typ int64
	f2  int
	f3  int64
}

// readXRefStreamEntries decodes the cross-reference stream at off.
func readXRefStreamEntries(data []byte, off int64) ([]xrefEntry, error) {
	dict, raw, err := rawStream(data, off)
	if err != nil {
		return nil, err
	}
	content, err := decodeRaw(dict, raw)
	if err != nil {
		return nil, err
	}
	wa, _ := dict["W"].(types.Array)
	if len(wa) != 3 {
		return nil, fmt.Errorf("/W has %d entries", len(wa))
	}
	var w [3]int
	rowLen := 0
	for i, o := range wa {
		n, ok := integer(o)
		if !ok || n < 0 || n > 8 {
			return nil, fmt.Errorf("bad /W")
		}
		w[i] = int(n)
		rowLen += int(n)
	}
	if rowLen == 0 {
		return nil, fmt.Errorf("bad /W")
	}
	size, _ := integer(dict["Size"])
	index := types.Array{types.Integer(0), types.Integer(size)}
	if ia, ok := dict["Index"].(types.Array); ok {
		index = ia
	}
	var out []xrefEntry
	pos := 0
	for i := 0; i+1 < len(index); i += 2 {
		first, ok1 := integer(index[i])
		count, ok2 := integer(index[i+1])
		if !ok1 || !ok2 || first < 0 || count < 0 || count > int64(len(content)/rowLen) {
			return nil, fmt.Errorf("bad /Index")
		}
		for j := int64(0); j < count; j++ {
			if pos+rowLen > len(content) {
				return nil, fmt.Errorf("stream shorter than /Index says")
			}
			row := content[pos : pos+rowLen]
			pos += rowLen
			e := xrefEntry{num: int(first + j), typ: 1}
			if w[0] > 0 {
				e.typ = beInt(row[:w[0]])
			}
			e.f2 = int(beInt(row[w[0] : w[0]+w[1]]))
			e.f3 = beInt(row[w[0]+w[1]:])
			out = append(out, e)
		}
	}
	return out, nil
}

func beInt(b []byte) int64 {
	var n int64
	for _, c := range b {
		n = n<<8 | int64(c)
	}
	return n
}

// objectStream parses the objects of object stream num (ISO 32000-1
// 7.5.7): N pairs of object number and offset, then the objects from /First.
func (d *Document) objectStream(num int) ([]types.Object, error) {
	e, ok := d.xt.Table[num]
	if !ok || e == nil || e.Free || e.Offset == nil {
		return nil, fmt.Errorf("not an object in the file")
	}
	dict, raw, err := rawStream(d.data, *e.Offset)
	if err != nil {
		return nil, err
	}
	if name(dict["Type"]) != "ObjStm" {
		return nil, fmt.Errorf("not an object stream")
	}
	content, err := decodeRaw(dict, raw)
	if err != nil {
		return nil, err
	}
	n, ok1 := integer(dict["N"])
	first, ok2 := integer(dict["First"])
	if !ok1 || !ok2 || n < 0 || n > int64(len(content)) || first < 0 || first > int64(len(content)) {
		return nil, fmt.Errorf("bad /N or /First")
	}
	offs := make([]int64, n)
	p := int64(0)
	head := content[:first]
	for i := range offs {
		p = skipSpace(head, p)
		var ok bool
		if _, p, ok = readInt(head, p); !ok {
			return nil, fmt.Errorf("bad header")
		}
		p = skipSpace(head, p)
		if offs[i], p, ok = readInt(head, p); !ok || first+offs[i] > int64(len(content)) {
			return nil, fmt.Errorf("bad header")
		}
	}
	objs := make([]types.Object, n)
	for i, o := range offs {
		end := int64(len(content))
		if i+1 < len(offs) && offs[i+1] >= o {
			end = first + offs[i+1]
		}
		s := string(content[first+o : end])
		if objs[i], err = parseObjectSafe(&s); err != nil {
			return nil, err
		}
	}
	return objs, nil
}

// rawStream returns the dictionary and undecoded data of the stream object
// at off. /Length must be direct, as in cross-reference and object streams.
func rawStream(data []byte, off int64) (types.Dict, []byte, error) {
	q, ok := objHeader(data, off, -1, -1)
	if !ok {
		return nil, nil, fmt.Errorf("no object at %d", off)
	}
	dict, end, err := parseDictAt(data, q)
	if err != nil {
		return nil, nil, err
	}
	p := skipSpace(data, end)
	if !bytes.HasPrefix(data[p:], []byte("stream")) {
		return nil, nil, fmt.Errorf("no stream at %d", off)
	}
	p += 6
	if bytes.HasPrefix(data[p:], []byte("\r\n")) {
		p += 2
	} else if p < int64(len(data)) && (data[p] == '\n' || data[p] == '\r') {
		p++
	}
	n, ok := integer(dict["Length"])
	if !ok || n < 0 || n > int64(len(data))-p {
		return nil, nil, fmt.Errorf("bad /Length")
	}
	return dict, data[p : p+n], nil
}

// decodeRaw applies the stream's filters with pdfcpu's decoders.
func decodeRaw(dict types.Dict, raw []byte) ([]byte, error) {
	var pipeline []types.PDFFilter
	parms := dict["DecodeParms"]
	switch f := dict["Filter"].(type) {
	case nil:
	case types.Name:
		p, _ := parms.(types.Dict)
		pipeline = append(pipeline, types.PDFFilter{Name: string(f), DecodeParms: p})
	case types.Array:
		pa, _ := parms.(types.Array)
		for i, o := range f {
			var p types.Dict
			if i < len(pa) {
				p, _ = pa[i].(types.Dict)
			}
			pipeline = append(pipeline, types.PDFFilter{Name: name(o), DecodeParms: p})
		}
	default:
		return nil, fmt.Errorf("bad /Filter")
	}
	if len(pipeline) == 0 {
		return raw, nil
	}
	n := int64(len(raw))
	sd := types.NewStreamDict(dict, 0, &n, nil, pipeline)
	sd.Raw = raw
	if err := decodeStream(&sd); err != nil {
		return nil, err
	}
	return sd.Content, nil
}
