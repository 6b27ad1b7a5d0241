package pades

import (
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// update builds one incremental update (ISO 32000-1 7.5.6): the objects it
// adds or replaces, then a cross-reference section and trailer in the style
// of the file's last section.
type update struct {
	d       *Document
	buf     bytes.Buffer
	base    int64 // offset of buf[0] in the output: len(d.data)
	offsets map[int]int64
	gens    map[int]int
	next    int // next new object number

	catalog types.Dict // the catalog to write, when changed
}

func (d *Document) newUpdate() *update {
	u := &update{d: d, base: int64(len(d.data)), offsets: map[int]int64{}, gens: map[int]int{}, next: d.size}
	if n := len(d.data); n > 0 && d.data[n-1] != '\n' && d.data[n-1] != '\r' {
		u.buf.WriteByte('\n') // the update starts on a line of its own
	}
	return u
}

// alloc reserves a new object number.
func (u *update) alloc() types.IndirectRef {
	r := ref(u.next, 0)
	u.next++
	return r
}

// changedCatalog returns the catalog as it will be written, for changing.
func (u *update) changedCatalog() types.Dict {
	if u.catalog == nil {
		u.catalog = copyDict(u.d.catalog)
	}
	return u.catalog
}

// begin starts indirect object r and records its offset.
func (u *update) begin(r types.IndirectRef) {
	num := r.ObjectNumber.Value()
	u.offsets[num] = u.base + int64(u.buf.Len())
	u.gens[num] = r.GenerationNumber.Value()
	fmt.Fprintf(&u.buf, "%d %d obj\n", num, r.GenerationNumber.Value())
}

// putDict writes r as a dictionary object, keys in first first.
func (u *update) putDict(r types.IndirectRef, d types.Dict, first ...string) error {
	u.begin(r)
	if err := writeDictOrdered(&u.buf, d, first); err != nil {
		return err
	}
	u.buf.WriteString("\nendobj\n")
	return nil
}

// putObject writes r as any direct object.
func (u *update) putObject(r types.IndirectRef, o types.Object) error {
	u.begin(r)
	if err := writeObject(&u.buf, o); err != nil {
		return err
	}
	u.buf.WriteString("\nendobj\n")
	return nil
}

// putStream writes r as a stream with dictionary d and data, compressed
// with /FlateDecode when flate is set.
func (u *update) putStream(r types.IndirectRef, d types.Dict, data []byte, flate bool) error {
	d = copyDict(d)
	if flate {
		var z bytes.Buffer
		zw := zlib.NewWriter(&z)
		zw.Write(data)
		zw.Close()
		data = z.Bytes()
		d["Filter"] = types.Name("FlateDecode")
	}
	d["Length"] = types.Integer(len(data))
	u.begin(r)
	if err := writeDictOrdered(&u.buf, d, []string{"Type", "Subtype"}); err != nil {
		return err
	}
	u.buf.WriteString("\nstream\n")
	u.buf.Write(data)
	u.buf.WriteString("\nendstream\nendobj\n")
	return nil
}

// trailerSkip are entries of the previous trailer not carried over: those
// this update sets itself and those describing the previous section only.
var trailerSkip = map[string]bool{
	"Prev": true, "Size": true, "ID": true, "XRefStm": true,
	// cross-reference stream dictionary entries (ISO 32000-1 7.5.8.2, 7.3.8.2)
	"Type": true, "W": true, "Index": true, "Length": true, "Filter": true,
	"DecodeParms": true, "F": true, "FFilter": true, "FDecodeParms": true, "DL": true,
}

// finish writes the changed catalog, the cross-reference section and the
// trailer. ISO 32000-1 7.5.6: the new trailer holds every entry of the
// previous one but /Prev, which points at the previous section.
func (u *update) finish() error {
	if u.catalog != nil {
		if err := u.putDict(u.d.root, u.catalog, "Type"); err != nil {
			return err
		}
	}
	last := u.d.st.sections[0]
	tr := types.Dict{}
	for k, v := range last.trailer {
		if !trailerSkip[k] {
			tr[k] = v
		}
	}
	tr["Root"] = u.d.root
	tr["Prev"] = types.Integer(u.d.st.startxref)
	tr["ID"] = u.fileID(last.trailer["ID"])
	if last.stream {
		return u.finishStream(tr)
	}
	return u.finishClassic(tr)
}

// fileID keeps the first element of /ID and makes a new second one
// (ISO 32000-1 14.4) from the update's content, so output is reproducible.
func (u *update) fileID(old types.Object) types.Array {
	h := sha256.New()
	fmt.Fprintf(h, "%d\n", u.base)
	h.Write(u.buf.Bytes())
	second := h.Sum(nil)[:16]
	var first []byte
	if a, ok := u.d.resolve(old).(types.Array); ok && len(a) == 2 {
		first, _ = stringBytes(u.d.resolve(a[0]))
	}
	if len(first) == 0 {
		h.Write([]byte("first"))
		first = h.Sum(nil)[:16]
	}
	return types.Array{
		types.HexLiteral(strings.ToUpper(hex.EncodeToString(first))),
		types.HexLiteral(strings.ToUpper(hex.EncodeToString(second))),
	}
}

// objectNumbers returns the numbers of the objects written, sorted.
func (u *update) objectNumbers() []int {
	nums := make([]int, 0, len(u.offsets))
	for n := range u.offsets {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	return nums
}

// subsections groups sorted numbers into runs of consecutive ones.
func subsections(nums []int) [][2]int {
	var runs [][2]int
	for i := 0; i < len(nums); {
		j := i + 1
		for j < len(nums) && nums[j] == nums[j-1]+1 {
			j++
		}
		runs = append(runs, [2]int{nums[i], j - i})
		i = j
	}
	return runs
}

// finishClassic writes a cross-reference table and trailer (ISO 32000-1
// 7.5.4, 7.5.5). Hybrid files also get one: a reader of cross-reference
// streams follows /Prev to the hybrid section and its /XRefStm there.
func (u *update) finishClassic(tr types.Dict) error {
	tr["Size"] = types.Integer(max(u.next, u.d.size))
	xref := u.base + int64(u.buf.Len())
	nums := u.objectNumbers()
	u.buf.WriteString("xref\n")
	for _, run := range subsections(nums) {
		fmt.Fprintf(&u.buf, "%d %d\n", run[0], run[1])
		for n := run[0]; n < run[0]+run[1]; n++ {
			fmt.Fprintf(&u.buf, "%010d %05d n\r\n", u.offsets[n], u.gens[n])
		}
	}
	u.buf.WriteString("trailer\n")
	if err := writeDictOrdered(&u.buf, tr, []string{"Size", "Root", "Info", "Prev"}); err != nil {
		return err
	}
	fmt.Fprintf(&u.buf, "\nstartxref\n%d\n%%%%EOF\n", xref)
	return nil
}

// finishStream writes a cross-reference stream (ISO 32000-1 7.5.8) that
// lists itself, uncompressed, with /W [1 n 2].
func (u *update) finishStream(tr types.Dict) error {
	self := u.alloc()
	selfOff := u.base + int64(u.buf.Len())
	u.offsets[self.ObjectNumber.Value()] = selfOff
	u.gens[self.ObjectNumber.Value()] = 0
	tr["Size"] = types.Integer(max(u.next, u.d.size))
	nums := u.objectNumbers()
	w := 4
	if selfOff >= 1<<32 {
		w = 8
	}
	var data []byte
	var index types.Array
	for _, run := range subsections(nums) {
		index = append(index, types.Integer(run[0]), types.Integer(run[1]))
		for n := run[0]; n < run[0]+run[1]; n++ {
			var off [8]byte
			binary.BigEndian.PutUint64(off[:], uint64(u.offsets[n]))
			data = append(data, 1)
			data = append(data, off[8-w:]...)
			data = append(data, byte(u.gens[n]>>8), byte(u.gens[n]))
		}
	}
	tr["Type"] = types.Name("XRef")
	tr["W"] = types.Array{types.Integer(1), types.Integer(w), types.Integer(2)}
	tr["Index"] = index
	tr["Length"] = types.Integer(len(data))
	delete(u.offsets, self.ObjectNumber.Value()) // begin records it again
	u.begin(self)
	if err := writeDictOrdered(&u.buf, tr, []string{"Type", "Size", "W", "Index", "Root", "Info", "Prev", "Length"}); err != nil {
		return err
	}
	u.buf.WriteString("\nstream\n")
	u.buf.Write(data)
	u.buf.WriteString("\nendstream\nendobj\n")
	fmt.Fprintf(&u.buf, "startxref\n%d\n%%%%EOF\n", selfOff)
	return nil
}
