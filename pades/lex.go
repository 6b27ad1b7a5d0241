package pades

import (
	"bytes"
	"fmt"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// This file has the lexical level: white space, integers, object headers,
// and dictionaries parsed by pdfcpu's object parser (ISO 32000-1 7.2, 7.3).

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
