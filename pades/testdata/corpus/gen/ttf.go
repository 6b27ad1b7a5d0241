package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// trueType is a parsed TrueType font program, enough to subset it for a
// simple font (ISO 32000-1 clause 9.6.3) and to give the PDF its metrics.
type trueType struct {
	tables     map[string][]byte
	unitsPerEm int
	bbox       [4]int
	ascent     int
	descent    int
	numGlyphs  int
	numHMetric int
	longLoca   bool
	cmap       map[rune]int // Unicode → glyph id, from the (3,1) format 4 subtable
}

func be16(b []byte, off int) int  { return int(binary.BigEndian.Uint16(b[off:])) }
func bes16(b []byte, off int) int { return int(int16(binary.BigEndian.Uint16(b[off:]))) }
func be32(b []byte, off int) int  { return int(binary.BigEndian.Uint32(b[off:])) }

func parseTrueType(data []byte) (*trueType, error) {
	if len(data) < 12 {
		return nil, errors.New("ttf: too short")
	}
	n := be16(data, 4)
	f := &trueType{tables: map[string][]byte{}}
	for i := 0; i < n; i++ {
		rec := 12 + 16*i
		if rec+16 > len(data) {
			return nil, errors.New("ttf: table directory truncated")
		}
		tag := string(data[rec : rec+4])
		off, l := be32(data, rec+8), be32(data, rec+12)
		if off+l > len(data) {
			return nil, fmt.Errorf("ttf: table %s out of range", tag)
		}
		f.tables[tag] = data[off : off+l]
	}
	for _, t := range []string{"head", "hhea", "maxp", "hmtx", "loca", "glyf", "cmap"} {
		if f.tables[t] == nil {
			return nil, fmt.Errorf("ttf: no %s table", t)
		}
	}
	head := f.tables["head"]
	f.unitsPerEm = be16(head, 18)
	f.bbox = [4]int{bes16(head, 36), bes16(head, 38), bes16(head, 40), bes16(head, 42)}
	f.longLoca = be16(head, 50) == 1
	hhea := f.tables["hhea"]
	f.ascent, f.descent, f.numHMetric = bes16(hhea, 4), bes16(hhea, 6), be16(hhea, 34)
	f.numGlyphs = be16(f.tables["maxp"], 4)
	return f, f.parseCmap()
}

// parseCmap reads the Windows Unicode BMP subtable (platform 3, encoding 1,
// format 4).
func (f *trueType) parseCmap() error {
	c := f.tables["cmap"]
	f.cmap = map[rune]int{}
	for i := 0; i < be16(c, 2); i++ {
		rec := 4 + 8*i
		if be16(c, rec) != 3 || be16(c, rec+2) != 1 {
			continue
		}
		st := c[be32(c, rec+4):]
		if be16(st, 0) != 4 {
			continue
		}
		segs := be16(st, 6) / 2
		ends, starts, deltas, ranges := 14, 16+2*segs, 16+4*segs, 16+6*segs
		for s := 0; s < segs; s++ {
			end, start := be16(st, ends+2*s), be16(st, starts+2*s)
			delta, ro := be16(st, deltas+2*s), be16(st, ranges+2*s)
			for ch := start; ch <= end && ch != 0xFFFF; ch++ {
				gid := 0
				if ro == 0 {
					gid = (ch + delta) & 0xFFFF
				} else if p := ranges + 2*s + ro + 2*(ch-start); p+2 <= len(st) {
					if g := be16(st, p); g != 0 {
						gid = (g + delta) & 0xFFFF
					}
				}
				if gid != 0 {
					f.cmap[rune(ch)] = gid
				}
			}
		}
		return nil
	}
	return errors.New("ttf: no (3,1) format 4 cmap subtable")
}

// advance is the advance width of glyph gid in font units.
func (f *trueType) advance(gid int) int {
	if gid >= f.numHMetric {
		gid = f.numHMetric - 1
	}
	return be16(f.tables["hmtx"], 4*gid)
}

// width is the PDF glyph width (1/1000 text space) of r, 0 if unmapped.
func (f *trueType) width(r rune) int {
	gid, ok := f.cmap[r]
	if !ok {
		return 0
	}
	return f.advance(gid) * 1000 / f.unitsPerEm
}

func (f *trueType) glyphRange(gid int) (int, int) {
	loca := f.tables["loca"]
	if f.longLoca {
		return be32(loca, 4*gid), be32(loca, 4*gid+4)
	}
	return 2 * be16(loca, 2*gid), 2 * be16(loca, 2*gid+2)
}

// subset returns a font program that keeps the glyph ids of the original
// but the outlines only of the glyphs for runes (and of .notdef and the
// components of composite glyphs), with the tables a PDF viewer needs
// (clause 9.9: glyf, head, hhea, hmtx, loca, maxp, cvt, fpgm, prep, and
// cmap for the simple font's encoding), and a format 3 post table.
func (f *trueType) subset(runes []rune) ([]byte, error) {
	keep := map[int]bool{0: true}
	var queue []int
	for _, r := range runes {
		if g, ok := f.cmap[r]; ok && !keep[g] {
			keep[g] = true
			queue = append(queue, g)
		}
	}
	glyf := f.tables["glyf"]
	for len(queue) > 0 {
		g := queue[0]
		queue = queue[1:]
		start, end := f.glyphRange(g)
		if end-start < 10 || bes16(glyf, start) >= 0 {
			continue
		}
		for p := start + 10; ; {
			flags, comp := be16(glyf, p), be16(glyf, p+2)
			if !keep[comp] {
				keep[comp] = true
				queue = append(queue, comp)
			}
			p += 4
			if flags&0x1 != 0 {
				p += 4
			} else {
				p += 2
			}
			switch {
			case flags&0x8 != 0:
				p += 2
			case flags&0x40 != 0:
				p += 4
			case flags&0x80 != 0:
				p += 8
			}
			if flags&0x20 == 0 {
				break
			}
		}
	}
	var newGlyf []byte
	loca := make([]byte, 4*(f.numGlyphs+1))
	for g := 0; g < f.numGlyphs; g++ {
		binary.BigEndian.PutUint32(loca[4*g:], uint32(len(newGlyf)))
		if keep[g] {
			s, e := f.glyphRange(g)
			newGlyf = append(newGlyf, glyf[s:e]...)
			for len(newGlyf)%4 != 0 {
				newGlyf = append(newGlyf, 0)
			}
		}
	}
	binary.BigEndian.PutUint32(loca[4*f.numGlyphs:], uint32(len(newGlyf)))
	head := append([]byte(nil), f.tables["head"]...)
	binary.BigEndian.PutUint16(head[50:], 1) // long loca
	binary.BigEndian.PutUint32(head[8:], 0)  // checkSumAdjustment, set below
	post := append([]byte(nil), f.tables["post"][:32]...)
	binary.BigEndian.PutUint32(post, 0x00030000)
	tables := map[string][]byte{
		"cmap": f.tables["cmap"], "glyf": newGlyf, "head": head, "hhea": f.tables["hhea"],
		"hmtx": f.tables["hmtx"], "loca": loca, "maxp": f.tables["maxp"], "post": post,
	}
	for _, t := range []string{"cvt ", "fpgm", "prep", "OS/2", "name"} {
		if f.tables[t] != nil {
			tables[t] = f.tables[t]
		}
	}
	out := assemble(tables)
	sum := checksum(out)
	headOff := tableOffset(out, "head")
	binary.BigEndian.PutUint32(out[headOff+8:], 0xB1B0AFBA-sum)
	return out, nil
}

func checksum(b []byte) uint32 {
	var s uint32
	for i := 0; i < len(b); i += 4 {
		var w [4]byte
		copy(w[:], b[i:])
		s += binary.BigEndian.Uint32(w[:])
	}
	return s
}

// assemble writes an sfnt with the tables in tag order, each 4-byte
// aligned, with its checksum.
func assemble(tables map[string][]byte) []byte {
	tags := make([]string, 0, len(tables))
	for t := range tables {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	n := len(tags)
	entrySel := 0
	for 1<<(entrySel+1) <= n {
		entrySel++
	}
	searchRange := (1 << entrySel) * 16
	out := make([]byte, 12+16*n)
	binary.BigEndian.PutUint32(out, 0x00010000)
	binary.BigEndian.PutUint16(out[4:], uint16(n))
	binary.BigEndian.PutUint16(out[6:], uint16(searchRange))
	binary.BigEndian.PutUint16(out[8:], uint16(entrySel))
	binary.BigEndian.PutUint16(out[10:], uint16(n*16-searchRange))
	for i, t := range tags {
		data := tables[t]
		rec := 12 + 16*i
		copy(out[rec:], t)
		binary.BigEndian.PutUint32(out[rec+4:], checksum(data))
		binary.BigEndian.PutUint32(out[rec+8:], uint32(len(out)))
		binary.BigEndian.PutUint32(out[rec+12:], uint32(len(data)))
		out = append(out, data...)
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
	}
	return out
}

func tableOffset(font []byte, tag string) int {
	for i := 0; i < be16(font, 4); i++ {
		rec := 12 + 16*i
		if string(font[rec:rec+4]) == tag {
			return be32(font, rec+8)
		}
	}
	return -1
}
