// Package pdfw writes PDF files object by object for the test corpus: the
// file structure of ISO 32000-1 clause 7.5 (header, body, cross-reference
// table or stream, trailer) and incremental updates (clause 7.5.6), with
// nothing hidden, so each fixture has exactly the structure its generator
// asks for.
package pdfw

import (
	"bytes"
	"compress/zlib"
	"crypto/md5"
	"fmt"
	"sort"
	"strings"
)

// Writer appends a PDF file section by section. Objects written since the
// last cross-reference section belong to the next one.
type Writer struct {
	buf        bytes.Buffer
	size       int           // highest object number allocated + 1
	pending    map[int]int64 // objects of the current section: number → offset
	compressed map[int][2]int
	lastXRef   int64 // offset of the previous cross-reference section, -1 if none
}

// New starts a file with the header of version ("1.7", "2.0") and the
// binary comment line clause 7.5.2 recommends.
func New(version string) *Writer {
	w := &Writer{size: 1, pending: map[int]int64{}, compressed: map[int][2]int{}, lastXRef: -1}
	fmt.Fprintf(&w.buf, "%%PDF-%s\n%%\xe2\xe3\xcf\xd3\n", version)
	return w
}

// Alloc reserves the next object number.
func (w *Writer) Alloc() int {
	n := w.size
	w.size++
	return n
}

// Len is the number of bytes written so far.
func (w *Writer) Len() int { return w.buf.Len() }

// Obj writes object n (generation 0) with the given body.
func (w *Writer) Obj(n int, body string) {
	if n >= w.size {
		w.size = n + 1
	}
	w.pending[n] = int64(w.buf.Len())
	fmt.Fprintf(&w.buf, "%d 0 obj\n%s\nendobj\n", n, body)
}

// Add allocates an object number and writes body as that object.
func (w *Writer) Add(body string) int {
	n := w.Alloc()
	w.Obj(n, body)
	return n
}

// Stream writes object n as a stream whose dictionary holds the entries
// in dict and a /Length computed from data, which is written as it is
// (filters are the caller's: see Deflate).
func (w *Writer) Stream(n int, dict string, data []byte) {
	if n >= w.size {
		w.size = n + 1
	}
	w.pending[n] = int64(w.buf.Len())
	fmt.Fprintf(&w.buf, "%d 0 obj\n<<%s /Length %d>>\nstream\n", n, dict, len(data))
	w.buf.Write(data)
	w.buf.WriteString("\nendstream\nendobj\n")
}

// AddStream allocates an object number and writes a stream there.
func (w *Writer) AddStream(dict string, data []byte) int {
	n := w.Alloc()
	w.Stream(n, dict, data)
	return n
}

// FlateStream writes object n as a FlateDecode stream of data.
func (w *Writer) FlateStream(n int, dict string, data []byte) {
	w.Stream(n, dict+" /Filter /FlateDecode", Deflate(data))
}

// ObjStm writes object n as an object stream (clause 7.5.7) holding the
// given objects, which are then listed as compressed (type 2) entries by
// the next XRefStream or HybridXRefStream.
func (w *Writer) ObjStm(n int, objs map[int]string) {
	nums := make([]int, 0, len(objs))
	for k := range objs {
		nums = append(nums, k)
	}
	sort.Ints(nums)
	var head, body strings.Builder
	for i, k := range nums {
		fmt.Fprintf(&head, "%d %d ", k, body.Len())
		body.WriteString(objs[k])
		body.WriteString("\n")
		w.compressed[k] = [2]int{n, i}
		if k >= w.size {
			w.size = k + 1
		}
	}
	data := head.String() + body.String()
	w.FlateStream(n, fmt.Sprintf("/Type /ObjStm /N %d /First %d", len(nums), head.Len()), []byte(data))
}

// XRefTable ends the current section with a classic cross-reference table
// of the objects written in it (plus object 0 in the first section) and a
// trailer holding extra (for example "/Root 1 0 R /Info 2 0 R"), /Size and,
// in an update, /Prev. It returns the table's offset.
func (w *Writer) XRefTable(extra string) int64 {
	off := int64(w.buf.Len())
	entries := map[int]string{}
	for n, o := range w.pending {
		entries[n] = fmt.Sprintf("%010d 00000 n\r\n", o)
	}
	if w.lastXRef < 0 {
		entries[0] = "0000000000 65535 f\r\n"
	}
	w.buf.WriteString("xref\n")
	writeSubsections(&w.buf, entries)
	trailer := fmt.Sprintf("/Size %d %s", w.size, extra)
	if w.lastXRef >= 0 {
		trailer += fmt.Sprintf(" /Prev %d", w.lastXRef)
	}
	fmt.Fprintf(&w.buf, "trailer\n<<%s>>\nstartxref\n%d\n%%%%EOF\n", trailer, off)
	w.endSection(off)
	return off
}

// HybridXRef ends the current section the way clause 7.5.8.4 describes for
// hybrid-reference files: a cross-reference stream (object n) lists the
// objects in object streams, a classic table lists every other object of
// the section, and the table's trailer points to the stream with
// /XRefStm. A PDF 1.4 reader sees only the table.
func (w *Writer) HybridXRef(n int, extra string) int64 {
	streamOff := int64(w.buf.Len())
	w.pending[n] = streamOff
	if n >= w.size {
		w.size = n + 1
	}
	rows := map[int][3]int{}
	for k, c := range w.compressed {
		rows[k] = [3]int{2, c[0], c[1]}
	}
	w.writeXRefStream(n, rows, "")
	off := w.XRefTable(extra + fmt.Sprintf(" /XRefStm %d", streamOff))
	w.compressed = map[int][2]int{}
	return off
}

// XRefStream ends the current section with a cross-reference stream
// (clause 7.5.8), object n, listing the section's objects (compressed ones
// as type 2). extra goes into the stream dictionary, which is also the
// trailer. It returns the stream's offset.
func (w *Writer) XRefStream(n int, extra string) int64 {
	off := int64(w.buf.Len())
	w.pending[n] = off
	if n >= w.size {
		w.size = n + 1
	}
	rows := map[int][3]int{}
	for k, o := range w.pending {
		rows[k] = [3]int{1, int(o), 0}
	}
	for k, c := range w.compressed {
		rows[k] = [3]int{2, c[0], c[1]}
	}
	if w.lastXRef < 0 {
		rows[0] = [3]int{0, 0, 65535}
	}
	if w.lastXRef >= 0 {
		extra += fmt.Sprintf(" /Prev %d", w.lastXRef)
	}
	w.writeXRefStream(n, rows, extra)
	fmt.Fprintf(&w.buf, "startxref\n%d\n%%%%EOF\n", off)
	w.endSection(off)
	w.compressed = map[int][2]int{}
	return off
}

// writeXRefStream writes the stream object itself, with /W [1 4 2].
func (w *Writer) writeXRefStream(n int, rows map[int][3]int, extra string) {
	nums := make([]int, 0, len(rows))
	for k := range rows {
		nums = append(nums, k)
	}
	sort.Ints(nums)
	var index strings.Builder
	var data []byte
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		fmt.Fprintf(&index, "%d %d ", nums[i], j-i+1)
		i = j + 1
	}
	for _, k := range nums {
		r := rows[k]
		data = append(data, byte(r[0]), byte(r[1]>>24), byte(r[1]>>16), byte(r[1]>>8), byte(r[1]), byte(r[2]>>8), byte(r[2]))
	}
	dict := fmt.Sprintf("/Type /XRef /Size %d /W [1 4 2] /Index [%s] %s", w.size, strings.TrimSpace(index.String()), extra)
	w.pending[n] = int64(w.buf.Len())
	w.FlateStream(n, dict, data)
}

func (w *Writer) endSection(off int64) {
	w.pending = map[int]int64{}
	w.lastXRef = off
}

// writeSubsections writes the table's entries grouped in runs of
// consecutive object numbers (clause 7.5.4).
func writeSubsections(buf *bytes.Buffer, entries map[int]string) {
	nums := make([]int, 0, len(entries))
	for k := range entries {
		nums = append(nums, k)
	}
	sort.Ints(nums)
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		fmt.Fprintf(buf, "%d %d\n", nums[i], j-i+1)
		for _, k := range nums[i : j+1] {
			buf.WriteString(entries[k])
		}
		i = j + 1
	}
}

// Bytes returns the file written so far.
func (w *Writer) Bytes() []byte { return w.buf.Bytes() }

// Deflate compresses data with zlib at the best compression level, which
// is deterministic for a given Go release.
func Deflate(data []byte) []byte {
	var b bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&b, zlib.BestCompression)
	_, _ = zw.Write(data)
	_ = zw.Close()
	return b.Bytes()
}

// ID returns a file identifier array (clause 14.4) derived from seed, the
// same in both halves as for a file that was never updated.
func ID(seed string) string {
	sum := md5.Sum([]byte(seed))
	return fmt.Sprintf("[<%X> <%X>]", sum, sum)
}

// Text escapes s as a PDF literal string, parentheses included.
func Text(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`, "\r", `\r`, "\n", `\n`)
	return "(" + r.Replace(s) + ")"
}
