package pades

import (
	"fmt"
	"math"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// ESIC extension levels (EN 319 142-1 clause 5; BaseVersion 1.7).
const (
	esicLTV   = 1 // DSS and document time-stamps
	esicCAdES = 2 // ETSI.CAdES.detached signatures
)

// Annotation flags (ISO 32000-1 12.5.3, Table 165): Print and Locked.
const widgetFlags = 4 | 128

// addSigField adds a signature field that is also its widget annotation
// (ISO 32000-1 12.7.4.5, 12.5.6.19, and 12.7.3.1 on merged field and
// widget dictionaries) with value sigRef, puts the widget on its page and
// the field in the AcroForm with /SigFlags 3 (SignaturesExist, AppendOnly;
// Table 219).
func (d *reader) addSigField(u *update, fieldName string, sigRef types.IndirectRef, a *Appearance) error {
	if len(d.pages) == 0 {
		return fmt.Errorf("%w: the document has no pages", ErrMalformed)
	}
	pageIdx := 0
	rect := types.Array{types.Integer(0), types.Integer(0), types.Integer(0), types.Integer(0)}
	if a != nil {
		if a.Page < 1 || a.Page > len(d.pages) {
			return fmt.Errorf("pades: appearance on page %d: the document has %d", a.Page, len(d.pages))
		}
		r := a.Rect
		for _, v := range r {
			if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1e6 {
				return fmt.Errorf("pades: appearance rectangle %v is not a rectangle", r)
			}
		}
		if r[2]-r[0] < 1 || r[3]-r[1] < 1 {
			return fmt.Errorf("pades: appearance rectangle %v: need llx < urx and lly < ury", r)
		}
		pageIdx = a.Page - 1
		rect = types.Array{types.Float(r[0]), types.Float(r[1]), types.Float(r[2]), types.Float(r[3])}
	}
	pageRef := d.pages[pageIdx]
	page := d.dict(pageRef)
	widgetRef := u.alloc()
	apRef := u.alloc()
	widget := types.Dict{
		"Type":    types.Name("Annot"),
		"Subtype": types.Name("Widget"),
		"FT":      types.Name("Sig"),
		"T":       pdfString(fieldName),
		"V":       sigRef,
		"F":       types.Integer(widgetFlags),
		"Rect":    rect,
		"P":       pageRef,
		"AP":      types.Dict{"N": apRef},
	}
	if a == nil {
		// An invisible signature still gets an (empty) appearance, as
		// PDF/A and ISO 32000-2 12.5.5 want one for every widget.
		empty := types.Dict{
			"Type": types.Name("XObject"), "Subtype": types.Name("Form"),
			"BBox": types.Array{types.Integer(0), types.Integer(0), types.Integer(0), types.Integer(0)},
		}
		if err := u.putStream(apRef, empty, nil, false); err != nil {
			return err
		}
	} else {
		rot := d.rotation(page)
		if rot != 0 {
			widget["MK"] = types.Dict{"R": types.Integer(rot)}
		}
		if err := u.putAppearance(apRef, a, rot); err != nil {
			return err
		}
	}
	if err := u.putDict(widgetRef, widget, "Type", "Subtype", "FT", "T", "V"); err != nil {
		return err
	}
	if err := d.addAnnot(u, pageRef, page, widgetRef); err != nil {
		return err
	}
	return d.addToForm(u, widgetRef, true)
}

// fillSigField signs an existing empty signature field (ISO 32000-1
// 12.7.4.5): its /V becomes sigRef; with lines to draw, its widget gets a
// new normal appearance in its own rectangle, else it keeps its own.
func (d *reader) fillSigField(u *update, f field, sigRef types.IndirectRef, a *Appearance) error {
	fd := copyDict(f.dict)
	fd["V"] = sigRef
	if a != nil {
		// The widget: the field itself when merged, else its first kid.
		wRef, wd := f.ref, fd
		if name(d.resolve(f.dict["Subtype"])) != "Widget" {
			kids, _ := d.resolve(f.dict["Kids"]).(types.Array)
			var ok bool
			if len(kids) > 0 {
				wRef, ok = kids[0].(types.IndirectRef)
			}
			if !ok || d.dict(wRef) == nil {
				return fmt.Errorf("%w: the signature field %q has no widget", ErrMalformed, f.name)
			}
			wd = copyDict(d.dict(wRef))
		}
		rect, ok := d.resolve(wd["Rect"]).(types.Array)
		var r [4]float64
		for i := 0; ok && i < 4 && len(rect) == 4; i++ {
			r[i], ok = number(d.resolve(rect[i]))
		}
		llx, urx := min(r[0], r[2]), max(r[0], r[2])
		lly, ury := min(r[1], r[3]), max(r[1], r[3])
		if !ok || len(rect) != 4 || urx-llx < 1 || ury-lly < 1 {
			return fmt.Errorf("pades: the signature field %q has no rectangle to draw in", f.name)
		}
		rot := d.rotation(d.dict(d.widgetPage(wRef, wd)))
		if rot != 0 {
			wd["MK"] = types.Dict{"R": types.Integer(rot)}
		}
		apRef := u.alloc()
		wd["AP"] = types.Dict{"N": apRef}
		drawn := *a
		drawn.Rect = [4]float64{llx, lly, urx, ury}
		if err := u.putAppearance(apRef, &drawn, rot); err != nil {
			return err
		}
		if wRef != f.ref {
			if err := u.putDict(wRef, wd, "Type", "Subtype"); err != nil {
				return err
			}
		}
	}
	if err := u.putDict(f.ref, fd, "Type", "Subtype", "FT", "T", "V"); err != nil {
		return err
	}
	return d.addToForm(u, f.ref, false)
}

// widgetPage returns the page a widget is on: its /P, or the page whose
// /Annots lists it.
func (d *reader) widgetPage(wRef types.IndirectRef, wd types.Dict) types.IndirectRef {
	if p, ok := wd["P"].(types.IndirectRef); ok {
		return p
	}
	for _, p := range d.pages {
		annots, _ := d.resolve(d.dict(p)["Annots"]).(types.Array)
		if containsRef(annots, wRef) {
			return p
		}
	}
	return types.IndirectRef{}
}

// rotation returns the page's /Rotate, inherited (ISO 32000-1 7.7.3.4),
// as 0, 90, 180 or 270.
func (d *reader) rotation(page types.Dict) int {
	node := page
	for i := 0; node != nil && i < maxTreeDepth; i++ {
		if v, ok := integer(d.resolve(node["Rotate"])); ok {
			return int(((v%360)+360)%360) / 90 * 90
		}
		node = d.dict(node["Parent"])
	}
	return 0
}

// addAnnot appends widget to the page's /Annots: in the page when the
// array is direct or absent, in the array object when it is indirect.
func (d *reader) addAnnot(u *update, pageRef types.IndirectRef, page types.Dict, widget types.IndirectRef) error {
	if page == nil {
		return fmt.Errorf("%w: page object %d is not a dictionary", ErrMalformed, pageRef.ObjectNumber)
	}
	switch a := page["Annots"].(type) {
	case types.IndirectRef:
		arr, _ := d.resolve(a).(types.Array)
		return u.putObject(a, appendRef(arr, widget))
	case types.Array, nil:
		arr, _ := page["Annots"].(types.Array)
		p := copyDict(page)
		p["Annots"] = appendRef(arr, widget)
		return u.putDict(pageRef, p, "Type", "Parent")
	default:
		return fmt.Errorf("%w: /Annots of page object %d is a %T", ErrMalformed, pageRef.ObjectNumber, a)
	}
}

// addToForm sets /SigFlags 3 (ISO 32000-1 12.7.2, Tables 218 and 219)
// and, with add, adds the field to /AcroForm /Fields, creating the AcroForm
// if need be.
func (d *reader) addToForm(u *update, fieldRef types.IndirectRef, add bool) error {
	change := func(form types.Dict) (types.Dict, error) {
		f := copyDict(form)
		flags, _ := integer(d.resolve(form["SigFlags"]))
		f["SigFlags"] = types.Integer(flags | 3)
		if !add {
			return f, nil
		}
		switch fl := form["Fields"].(type) {
		case types.IndirectRef:
			arr, _ := d.resolve(fl).(types.Array)
			if err := u.putObject(fl, appendRef(arr, fieldRef)); err != nil {
				return nil, err
			}
		case types.Array:
			f["Fields"] = appendRef(fl, fieldRef)
		default:
			f["Fields"] = types.Array{fieldRef}
		}
		return f, nil
	}
	switch af := d.catalog["AcroForm"].(type) {
	case types.IndirectRef:
		if form := d.dict(af); form != nil {
			f, err := change(form)
			if err != nil {
				return err
			}
			return u.putDict(af, f, "Fields", "SigFlags")
		}
	case types.Dict:
		f, err := change(af)
		if err != nil {
			return err
		}
		u.changedCatalog()["AcroForm"] = f
		return nil
	}
	f, err := change(types.Dict{})
	if err != nil {
		return err
	}
	r := u.alloc()
	if err := u.putDict(r, f, "Fields", "SigFlags"); err != nil {
		return err
	}
	u.changedCatalog()["AcroForm"] = r
	return nil
}

// appendRef returns a copy of arr with r appended.
func appendRef(arr types.Array, r types.IndirectRef) types.Array {
	out := make(types.Array, 0, len(arr)+1)
	out = append(out, arr...)
	return append(out, r)
}

// addPerms names the certification signature in the catalog's /Perms
// /DocMDP (ISO 32000-1 12.8.4, Table 258).
func (d *reader) addPerms(u *update, sigRef types.IndirectRef) error {
	if pr, ok := d.catalog["Perms"].(types.IndirectRef); ok {
		if perms := d.dict(pr); perms != nil {
			p := copyDict(perms)
			p["DocMDP"] = sigRef
			return u.putDict(pr, p)
		}
	}
	p := types.Dict{}
	if perms := d.dict(d.catalog["Perms"]); perms != nil {
		p = copyDict(perms)
	}
	p["DocMDP"] = sigRef
	u.changedCatalog()["Perms"] = p
	return nil
}

// declareESIC declares the ETSI developer extension in files before PDF
// 2.0 (ISO 32000-1 7.12.2; EN 319 142-1 clause 5) unless an equal or higher
// level is declared, and raises the catalog /Version to the extension's base
// version 1.7 (ISO 32000-1 7.12.3: BaseVersion is at most the file's).
func (d *reader) declareESIC(u *update, level int) {
	v := d.Version()
	if !versionLess(v, "2.0") {
		return // ISO 32000-2 has PAdES built in
	}
	if versionLess(v, "1.7") {
		u.changedCatalog()["Version"] = types.Name("1.7")
	}
	ext := d.dict(d.catalog["Extensions"])
	if esicLevel(d, ext["ESIC"]) >= level {
		return
	}
	e := types.Dict{}
	if ext != nil {
		e = copyDict(ext)
	}
	e["ESIC"] = types.Dict{
		"BaseVersion":    types.Name("1.7"),
		"ExtensionLevel": types.Integer(level),
	}
	// ISO 32000-1 7.12.1: the extensions dictionary is direct.
	u.changedCatalog()["Extensions"] = e
}

// esicLevel returns the highest ESIC extension level declared in o, a
// developer extensions dictionary or (PDF 2.0) an array of them.
func esicLevel(d *reader, o types.Object) int {
	best := 0
	consider := func(x types.Object) {
		if e := d.dict(x); e != nil {
			if n, ok := integer(d.resolve(e["ExtensionLevel"])); ok && n > int64(best) && n < 1000 {
				best = int(n)
			}
		}
	}
	if arr, ok := d.resolve(o).(types.Array); ok {
		for _, x := range arr {
			consider(x)
		}
	} else {
		consider(o)
	}
	return best
}
