package pades

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// Change classes: what an incremental update after a signature did
// (ISO 32000-2 12.8.2.2.2, Table 257, and EN 319 142-1 clause 5.4: a DSS and
// document time-stamps are never changes; signing, form filling and
// annotations are allowed as far as the DocMDP permission P says).
const (
	ChangeDSS        = "dss"           // the Document Security Store
	ChangeSignature  = "signature"     // a later signature or document time-stamp with its field and widget
	ChangeFormFill   = "form-fill"     // a form field's value and appearance (P >= 2)
	ChangeAnnotation = "annotation"    // an annotation added (P = 3)
	ChangeMetadata   = "metadata"      // the Info dictionary or the XMP metadata stream
	ChangeStructure  = "structure"     // cross-reference and object streams
	ChangeForbidden  = "not-allowed"   // anything else
	ChangeXRefTrick  = "xref-trick"    // a cross-reference entry that points back into signed bytes
	ChangeDuplicate  = "duplicate"     // an object number defined twice in one update
	ChangeDangling   = "dangling-fill" // an object the signed revision referenced but lacked, supplied later
	ChangeDeleted    = "deleted"       // an object of the signed revision freed or dropped
)

// Change is one object that differs between a signed revision and the
// file as a whole.
type Change struct {
	Object  int      // object number
	Class   string   // one of the Change constants
	Role    string   // what the object was in the signed revision: "catalog", "page 1", "content of page 1", …
	Keys    []string // dictionary entries that differ, for dictionaries
	Allowed bool
	Reason  string
}

func (c Change) String() string {
	s := fmt.Sprintf("object %d", c.Object)
	if c.Role != "" {
		s += " (" + c.Role + ")"
	}
	if c.Reason != "" {
		s += ": " + c.Reason
	}
	return s
}

// ChangesAfter compares the revision that ends at Revisions()[rev] with the
// whole file and classifies every object that differs. perm is the DocMDP
// permission in force (1, 2 or 3; 0 for none, which is taken as 2: signing
// and form filling, the default P of ISO 32000-1 Table 254). A nil result
// means the revision is the whole file or nothing changed.
func (d *Document) ChangesAfter(ctx context.Context, rev, perm int) ([]Change, error) {
	if rev < 0 || rev >= len(d.st.revisions) {
		return nil, fmt.Errorf("pades: no revision %d", rev)
	}
	end := d.st.revisions[rev]
	if end == int64(len(d.data)) {
		return nil, nil
	}
	if perm == 0 {
		perm = 2
	}
	prev, err := OpenContext(ctx, d.data[:end])
	if err != nil {
		return nil, fmt.Errorf("pades: the signed revision: %w", err)
	}
	c := &comparer{d: d, prev: prev, end: end, perm: perm, roles: prev.roles()}
	out := c.duplicates()
	if d.root.ObjectNumber != prev.root.ObjectNumber {
		out = append(out, Change{Object: d.root.ObjectNumber.Value(), Class: ChangeForbidden, Role: "catalog",
			Reason: fmt.Sprintf("the trailer's /Root moved from object %d to %d", prev.root.ObjectNumber, d.root.ObjectNumber)})
	}
	nums := make([]int, 0, len(d.st.table))
	for n := range d.st.table {
		if d.st.table[n].kind != 0 || prev.inUse(n) {
			nums = append(nums, n)
		}
	}
	for n := len(d.st.table); n < len(prev.st.table); n++ {
		if prev.inUse(n) {
			nums = append(nums, n)
		}
	}
	sort.Ints(nums)
	for _, n := range nums {
		if n == 0 {
			continue
		}
		if ch, ok := c.object(n); ok {
			out = append(out, ch)
		}
	}
	return out, nil
}

type comparer struct {
	d, prev    *Document
	end        int64
	perm       int
	roles      map[int]role
	referenced map[int]bool // object numbers the signed revision refers to
}

type role struct {
	kind   string // catalog, page, annots, annot, widget, field, appearance, acroform, fields, dss, info, metadata, sigvalue, content, resource
	name   string // human-readable
	ftype  string // for fields, widgets and appearances
	subtyp string // for annotations
}

// object classifies object n; ok is false when it did not change.
func (c *comparer) object(n int) (Change, bool) {
	inPrev, inFinal := c.prev.inUse(n), c.d.inUse(n)
	r := c.roles[n]
	ch := Change{Object: n, Role: r.name}
	switch {
	case !inFinal && !inPrev:
		return ch, false
	case !inFinal:
		ch.Class, ch.Reason = ChangeDeleted, "deleted by a later update"
		return ch, true
	}
	fe, pe := c.d.st.table.lookup(n), c.prev.st.table.lookup(n)
	if fe.kind == entryInUse {
		if inPrev && pe.kind == entryInUse && pe.off == fe.off {
			return ch, false
		}
		if fe.off < c.end {
			ch.Class = ChangeXRefTrick
			ch.Reason = fmt.Sprintf("a later cross-reference section points at offset %d, inside the signed revision, not where the signed revision has it", fe.off)
			return ch, true
		}
	}
	// In an object stream, fe.off is the stream's object number.
	if inPrev && fe.kind == entryCompressed && pe.kind == entryCompressed && fe.off == pe.off && fe.idx == pe.idx {
		if c.sameOffset(int(fe.off)) {
			return ch, false
		}
	}
	fo := c.d.resolve(ref(n, c.d.generation(n)))
	if isStructural(fo) {
		return ch, false
	}
	if !inPrev {
		if c.wasReferenced(n) {
			ch.Class = ChangeDangling
			ch.Reason = "the signed revision refers to this object but did not have it; a later update supplies it"
			return ch, true
		}
		return ch, false // new objects matter only through the changed objects that refer to them
	}
	po := c.prev.resolve(ref(n, c.prev.generation(n)))
	if equalObjects(po, fo, 0) {
		return ch, false
	}
	ch.Keys = changedKeys(po, fo)
	c.classify(&ch, r, po, fo)
	return ch, true
}

// sameOffset reports whether object n is at the same place, outside any
// object stream, in both revisions: then it is the same signed bytes.
func (c *comparer) sameOffset(n int) bool {
	fe, pe := c.d.st.table.lookup(n), c.prev.st.table.lookup(n)
	return fe.kind == entryInUse && pe.kind == entryInUse && fe.off == pe.off
}

// isStructural reports cross-reference and object streams.
func isStructural(o types.Object) bool {
	sd, ok := o.(types.StreamDict)
	if !ok {
		return false
	}
	t := name(sd.Dict["Type"])
	return t == "XRef" || t == "ObjStm"
}

// classify decides whether a modified object's change is allowed.
func (c *comparer) classify(ch *Change, r role, po, fo types.Object) {
	forbid := func(reason string) {
		ch.Class, ch.Allowed, ch.Reason = ChangeForbidden, false, reason
	}
	allow := func(class, reason string) {
		ch.Class, ch.Allowed, ch.Reason = class, true, reason
	}
	onlyKeys := func(allowed ...string) bool {
		for _, k := range ch.Keys {
			ok := false
			for _, a := range allowed {
				ok = ok || k == a
			}
			if !ok {
				return false
			}
		}
		return true
	}
	switch r.kind {
	case "dss":
		allow(ChangeDSS, "the Document Security Store")
	case "info", "metadata":
		allow(ChangeMetadata, "document metadata")
	case "catalog":
		if !onlyKeys("DSS", "AcroForm", "Extensions", "Version") {
			forbid("catalog entries changed: /" + strings.Join(ch.Keys, " /"))
			return
		}
		if bad := c.newFields(c.prev.dict(c.prev.catalog["AcroForm"]), c.d.dict(c.d.catalog["AcroForm"])); bad != "" {
			forbid(bad)
			return
		}
		allow(ChangeSignature, "catalog: /"+strings.Join(ch.Keys, " /"))
	case "acroform":
		if !onlyKeys("Fields", "SigFlags", "DR", "DA", "NeedAppearances") {
			forbid("AcroForm entries changed: /" + strings.Join(ch.Keys, " /"))
			return
		}
		if bad := c.newFields(c.prev.dict(po), c.d.dict(fo)); bad != "" {
			forbid(bad)
			return
		}
		allow(ChangeSignature, "AcroForm: /"+strings.Join(ch.Keys, " /"))
	case "fields":
		pa, _ := po.(types.Array)
		fa, _ := fo.(types.Array)
		if bad := c.newFieldRefs(pa, fa); bad != "" {
			forbid(bad)
			return
		}
		allow(ChangeSignature, "AcroForm /Fields")
	case "page", "annots":
		if r.kind == "page" && !onlyKeys("Annots") {
			forbid("page entries changed: /" + strings.Join(ch.Keys, " /"))
			return
		}
		var pa, fa types.Array
		if r.kind == "page" {
			pa, _ = c.prev.resolve(c.prev.dict(po)["Annots"]).(types.Array)
			fa, _ = c.d.resolve(c.d.dict(fo)["Annots"]).(types.Array)
		} else {
			pa, _ = po.(types.Array)
			fa, _ = fo.(types.Array)
		}
		class, bad := c.newAnnots(pa, fa)
		if bad != "" {
			forbid(bad)
			return
		}
		allow(class, "annotations added")
	case "field", "widget":
		if r.ftype == "Sig" {
			if !onlyKeys("V", "AP", "F", "Lock", "SV") || c.prev.resolve(c.prev.dict(po)["V"]) != nil && containsKey(ch.Keys, "V") {
				forbid("signature field changed: /" + strings.Join(ch.Keys, " /"))
				return
			}
			if c.perm == 1 && !c.isDocTimeStamp(c.d.dict(fo)["V"]) {
				forbid("signing a field of a document certified with P=1 (no changes)")
				return
			}
			allow(ChangeSignature, "signature field filled")
			return
		}
		if !onlyKeys("V", "AS", "AP", "I", "RV", "M") {
			forbid("form field changed: /" + strings.Join(ch.Keys, " /"))
			return
		}
		if c.perm < 2 {
			forbid("form filling in a document certified with P=1 (no changes)")
			return
		}
		allow(ChangeFormFill, "form field value")
	case "appearance":
		if r.ftype == "Sig" {
			allow(ChangeSignature, "signature appearance")
			return
		}
		if c.perm < 2 {
			forbid("a form field's appearance changed in a document certified with P=1 (no changes)")
			return
		}
		allow(ChangeFormFill, "form field appearance")
	case "sigvalue":
		forbid("the signature dictionary was changed")
	case "":
		forbid("modified")
	default:
		forbid(r.name + " modified")
	}
}

func containsKey(keys []string, k string) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}

// newFields checks that an AcroForm's /Fields only gained signature fields.
func (c *comparer) newFields(pf, ff types.Dict) string {
	pa, _ := c.prev.resolve(pf["Fields"]).(types.Array)
	fa, _ := c.d.resolve(ff["Fields"]).(types.Array)
	return c.newFieldRefs(pa, fa)
}

func (c *comparer) newFieldRefs(pa, fa types.Array) string {
	old := map[int]bool{}
	for _, o := range pa {
		if r, ok := o.(types.IndirectRef); ok {
			old[r.ObjectNumber.Value()] = true
		}
	}
	now := map[int]bool{}
	for _, o := range fa {
		r, ok := o.(types.IndirectRef)
		if !ok {
			return "a direct field in /Fields"
		}
		now[r.ObjectNumber.Value()] = true
		if old[r.ObjectNumber.Value()] {
			continue
		}
		f := c.d.dict(r)
		if name(c.d.resolve(f["FT"])) != "Sig" {
			return fmt.Sprintf("form field %d (/FT /%s) added", r.ObjectNumber, name(c.d.resolve(f["FT"])))
		}
		if c.perm == 1 && !c.isDocTimeStamp(f["V"]) {
			return fmt.Sprintf("signature field %d added to a document certified with P=1 (no changes)", r.ObjectNumber)
		}
	}
	for n := range old {
		if !now[n] {
			return fmt.Sprintf("form field %d removed", n)
		}
	}
	return ""
}

// newAnnots checks the annotations a page gained: signature widgets always,
// other annotations under P=3 only; none may go.
func (c *comparer) newAnnots(pa, fa types.Array) (string, string) {
	key := func(o types.Object) string {
		if r, ok := o.(types.IndirectRef); ok {
			return strconv.Itoa(r.ObjectNumber.Value())
		}
		return fmt.Sprintf("direct %v", o)
	}
	old := map[string]bool{}
	for _, o := range pa {
		old[key(o)] = true
	}
	class := ChangeSignature
	now := map[string]bool{}
	for _, o := range fa {
		k := key(o)
		now[k] = true
		if old[k] {
			continue
		}
		a := c.d.dict(o)
		sub := name(c.d.resolve(a["Subtype"]))
		ft := name(c.d.resolve(a["FT"]))
		if ft == "" {
			ft = name(c.d.resolve(c.d.dict(a["Parent"])["FT"]))
		}
		if sub == "Widget" && ft == "Sig" {
			if c.perm == 1 && !c.isDocTimeStamp(a["V"]) && !c.isDocTimeStamp(c.d.dict(a["Parent"])["V"]) {
				return "", fmt.Sprintf("signature widget %s added to a document certified with P=1", k)
			}
			continue
		}
		if c.perm < 3 {
			return "", fmt.Sprintf("a /%s annotation (object %s) was added; the DocMDP permission P=%d does not allow annotations", sub, k, c.perm)
		}
		class = ChangeAnnotation
	}
	for k := range old {
		if !now[k] {
			return "", fmt.Sprintf("annotation %s removed", k)
		}
	}
	return class, ""
}

func (c *comparer) isDocTimeStamp(v types.Object) bool {
	s := c.d.dict(v)
	return s != nil && (name(c.d.resolve(s["Type"])) == "DocTimeStamp" || name(c.d.resolve(s["SubFilter"])) == "ETSI.RFC3161")
}

// wasReferenced reports whether the signed revision refers to object n
// anywhere (computed once, over every object of the revision).
func (c *comparer) wasReferenced(n int) bool {
	if c.referenced == nil {
		c.referenced = map[int]bool{}
		var walk func(o types.Object, depth int)
		walk = func(o types.Object, depth int) {
			if depth > maxTreeDepth {
				return
			}
			switch v := o.(type) {
			case types.IndirectRef:
				c.referenced[v.ObjectNumber.Value()] = true
			case types.Dict:
				for _, e := range v {
					walk(e, depth+1)
				}
			case types.StreamDict:
				walk(v.Dict, depth+1)
			case types.Array:
				for _, e := range v {
					walk(e, depth+1)
				}
			}
		}
		for num := range c.prev.st.table {
			if num == 0 || !c.prev.inUse(num) {
				continue
			}
			walk(c.prev.resolve(ref(num, c.prev.generation(num))), 0)
		}
		for _, sec := range c.prev.st.sections {
			walk(sec.trailer, 0)
		}
	}
	return c.referenced[n]
}

// roles names what each object of d is, as far as change classification
// needs to know.
func (d *Document) roles() map[int]role {
	out := map[int]role{}
	set := func(o types.Object, r role) {
		if ir, ok := o.(types.IndirectRef); ok {
			if _, dup := out[ir.ObjectNumber.Value()]; !dup {
				out[ir.ObjectNumber.Value()] = r
			}
		}
	}
	set(d.root, role{kind: "catalog", name: "catalog"})
	set(d.st.sections[0].trailer["Info"], role{kind: "info", name: "Info dictionary"})
	set(d.catalog["Metadata"], role{kind: "metadata", name: "XMP metadata"})
	if dss := d.dict(d.catalog["DSS"]); dss != nil {
		set(d.catalog["DSS"], role{kind: "dss", name: "DSS"})
		for _, k := range []string{"Certs", "OCSPs", "CRLs", "VRI"} {
			set(dss[k], role{kind: "dss", name: "DSS /" + k})
		}
	}
	// Form fields first: a merged field and widget is a field.
	if fs, err := d.reader().fields(); err == nil {
		set(d.catalog["AcroForm"], role{kind: "acroform", name: "AcroForm"})
		set(d.dict(d.catalog["AcroForm"])["Fields"], role{kind: "fields", name: "AcroForm /Fields"})
		for _, f := range fs {
			fr := role{kind: "field", name: "field " + f.name, ftype: f.ftype}
			if f.ref != (types.IndirectRef{}) {
				set(f.ref, fr)
			}
			if f.ftype == "Sig" {
				set(f.dict["V"], role{kind: "sigvalue", name: "signature value of " + f.name})
			}
			d.setAppearances(set, f.dict, f)
			kids, _ := d.resolve(f.dict["Kids"]).(types.Array)
			for _, k := range kids {
				set(k, role{kind: "widget", name: "widget of " + f.name, ftype: f.ftype})
				d.setAppearances(set, d.dict(k), f)
			}
		}
	}
	for i, p := range d.pages {
		page := d.dict(p)
		pn := "page " + strconv.Itoa(i+1)
		set(p, role{kind: "page", name: pn})
		set(page["Annots"], role{kind: "annots", name: "annotations of " + pn})
		if annots, ok := d.resolve(page["Annots"]).(types.Array); ok {
			for _, a := range annots {
				set(a, role{kind: "annot", name: "annotation on " + pn, subtyp: name(d.resolve(d.dict(a)["Subtype"]))})
			}
		}
		set(page["Contents"], role{kind: "content", name: "content of " + pn})
		if arr, ok := d.resolve(page["Contents"]).(types.Array); ok {
			for _, e := range arr {
				set(e, role{kind: "content", name: "content of " + pn})
			}
		}
		set(page["Resources"], role{kind: "resource", name: "resources of " + pn})
		if res := d.dict(page["Resources"]); res != nil {
			for k, v := range res {
				set(v, role{kind: "resource", name: "/" + k + " of " + pn})
				for rk, rv := range d.dict(v) {
					set(rv, role{kind: "resource", name: "/" + k + " /" + rk + " of " + pn})
				}
			}
		}
	}
	return out
}

func (d *Document) setAppearances(set func(types.Object, role), w types.Dict, f field) {
	ap := d.dict(w["AP"])
	if ap == nil {
		return
	}
	r := role{kind: "appearance", name: "appearance of " + f.name, ftype: f.ftype}
	set(w["AP"], r)
	for _, k := range []string{"N", "D", "R"} {
		set(ap[k], r)
		if states, ok := d.resolve(ap[k]).(types.Dict); ok {
			for _, s := range states {
				set(s, r)
			}
		}
	}
}

// changedKeys lists the entries that differ between two dictionaries.
func changedKeys(a, b types.Object) []string {
	da, okA := asDict(a)
	db, okB := asDict(b)
	if !okA || !okB {
		return nil
	}
	var keys []string
	for k, v := range da {
		if w, ok := db[k]; !ok || !equalObjects(v, w, 0) {
			keys = append(keys, k)
		}
	}
	for k := range db {
		if _, ok := da[k]; !ok {
			keys = append(keys, k)
		}
	}
	if sa, ok := a.(types.StreamDict); ok {
		if sb, ok := b.(types.StreamDict); ok && !bytes.Equal(sa.Raw, sb.Raw) {
			keys = append(keys, "(stream data)")
		}
	}
	sort.Strings(keys)
	return keys
}

func asDict(o types.Object) (types.Dict, bool) {
	switch v := o.(type) {
	case types.Dict:
		return v, true
	case types.StreamDict:
		return v.Dict, true
	}
	return nil, false
}

// equalObjects compares two PDF objects by value; references by number
// and generation, streams by dictionary and raw (encoded) data.
func equalObjects(a, b types.Object, depth int) bool {
	if depth > maxTreeDepth {
		return false
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case types.Dict:
		y, ok := b.(types.Dict)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equalObjects(v, w, depth+1) {
				return false
			}
		}
		return true
	case types.StreamDict:
		y, ok := b.(types.StreamDict)
		return ok && bytes.Equal(x.Raw, y.Raw) && equalObjects(x.Dict, y.Dict, depth+1)
	case types.Array:
		y, ok := b.(types.Array)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalObjects(x[i], y[i], depth+1) {
				return false
			}
		}
		return true
	case types.IndirectRef:
		y, ok := b.(types.IndirectRef)
		return ok && x.ObjectNumber == y.ObjectNumber && x.GenerationNumber == y.GenerationNumber
	}
	if b == nil {
		return false
	}
	return a.PDFString() == b.PDFString()
}

// duplicates finds object numbers defined more than once within one
// incremental update after the signed revision: readers disagree on which
// definition counts.
func (c *comparer) duplicates() []Change {
	var out []Change
	revs := c.d.st.revisions
	start := c.end
	for _, r := range revs {
		if r <= c.end {
			continue
		}
		seen := map[int]int{}
		for _, num := range objectHeaders(c.d.data[start:r]) {
			seen[num]++
			if seen[num] == 2 {
				out = append(out, Change{Object: num, Class: ChangeDuplicate,
					Reason: fmt.Sprintf("object %d is defined more than once in the update that ends at offset %d", num, r)})
			}
		}
		start = r
	}
	return out
}

// objectHeaders lists the numbers of the "n g obj" headers in seg, in order,
// skipping stream data so that text inside a stream does not count.
func objectHeaders(seg []byte) []int {
	var out []int
	for p := 0; p < len(seg); {
		i := bytes.Index(seg[p:], []byte("obj"))
		if i < 0 {
			break
		}
		at := p + i
		p = at + 3
		if p < len(seg) && !isDelimiterOrSpace(seg[p]) {
			continue
		}
		num, ok := headerBefore(seg, at)
		if !ok {
			continue
		}
		out = append(out, num)
		// Skip the object's body, stream data included.
		endobj := bytes.Index(seg[p:], []byte("endobj"))
		st := bytes.Index(seg[p:], []byte("stream"))
		if st >= 0 && (endobj < 0 || st < endobj) {
			if es := bytes.Index(seg[p+st:], []byte("endstream")); es >= 0 {
				p += st + es + len("endstream")
				continue
			}
		}
		if endobj >= 0 {
			p += endobj + len("endobj")
		}
	}
	return out
}

func isDelimiterOrSpace(b byte) bool {
	return isSpace(b) || strings.IndexByte("<[(/%", b) >= 0
}

// headerBefore reads "num gen " backwards from the "obj" keyword at at.
func headerBefore(seg []byte, at int) (int, bool) {
	p := at - 1
	readNum := func() (int, bool) {
		for p >= 0 && isSpace(seg[p]) {
			p--
		}
		e := p + 1
		for p >= 0 && seg[p] >= '0' && seg[p] <= '9' {
			p--
		}
		if e-(p+1) == 0 || e-(p+1) > 10 {
			return 0, false
		}
		n, err := strconv.Atoi(string(seg[p+1 : e]))
		return n, err == nil
	}
	if _, ok := readNum(); !ok {
		return 0, false
	}
	num, ok := readNum()
	if !ok || (p >= 0 && !isSpace(seg[p])) {
		return 0, false
	}
	return num, true
}

// DSSRevision is the index into Revisions() of the revision that wrote the
// catalog's /DSS as it is now, -1 when there is none. A document
// time-stamp of a later revision covers that validation data (EN 319 142-1
// clause 5.5, B-LTA).
func (d *Document) DSSRevision() int {
	r, ok := d.catalog["DSS"].(types.IndirectRef)
	if !ok {
		if d.catalog["DSS"] != nil {
			return d.revisionAt(d.objectOffset(d.root.ObjectNumber.Value()))
		}
		return -1
	}
	return d.revisionAt(d.objectOffset(r.ObjectNumber.Value()))
}

// revisionAt is the index of the revision whose bytes hold offset off.
func (d *Document) revisionAt(off int64) int {
	if off < 0 {
		return -1
	}
	for i, end := range d.st.revisions {
		if off < end {
			return i
		}
	}
	return -1
}

// inUse reports whether object n is in use (in the file or in an object
// stream) in the document's merged cross-reference table.
func (d *Document) inUse(n int) bool {
	k := d.st.table.lookup(n).kind
	return k == entryInUse || k == entryCompressed
}

// generation is object n's generation (0 in an object stream).
func (d *Document) generation(n int) int {
	e := d.st.table.lookup(n)
	if e.kind == entryInUse {
		return int(e.gen)
	}
	return 0
}
