package pades

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// shape is a test file of some real-world shape.
type shape struct {
	name string
	make func(testing.TB) []byte
	form bool // has the text field "Navn"
}

func plain(s pdfSpec) func(testing.TB) []byte {
	return func(tb testing.TB) []byte { return genPDF(tb, s) }
}

func viaQPDF(s pdfSpec, args ...string) func(testing.TB) []byte {
	return func(tb testing.TB) []byte { return qpdfTransform(tb, genPDF(tb, s), args...) }
}

var shapes = []shape{
	{"pdf-1.3 classic", plain(pdfSpec{Version: "1.3", Info: true}), false},
	{"pdf-1.4 no ID no EOL", plain(pdfSpec{Version: "1.4", NoID: true, NoEOL: true}), false},
	{"pdf-1.7 CRLF three pages", plain(pdfSpec{Pages: 3, CRLF: true, Info: true}), false},
	{"pdf-2.0", plain(pdfSpec{Version: "2.0", Info: true}), false},
	{"catalog version 1.6 over header 1.4", plain(pdfSpec{Version: "1.4", CatalogVersion: "1.6"}), false},
	{"inherited attributes, page tree", plain(pdfSpec{Pages: 5, Tree: true, Inherit: true, Image: true}), false},
	{"form with indirect fields", plain(pdfSpec{Form: true, Info: true}), true},
	{"indirect annots", plain(pdfSpec{AnnotsRef: true, Pages: 2}), false},
	{"hybrid", plain(pdfSpec{Version: "1.5", Hybrid: true, Info: true}), false},
	{"hybrid with the form in an object stream", plain(pdfSpec{Version: "1.6", Hybrid: true, Form: true}), true},
	{"padding after %%EOF", func(tb testing.TB) []byte {
		return append(genPDF(tb, pdfSpec{}), "\r\n\x00\x00 \x1a"...)
	}, false},
	{"earlier incremental update", func(tb testing.TB) []byte {
		return appendInfoUpdate(tb, genPDF(tb, pdfSpec{Info: true, Pages: 2}))
	}, false},
	{"object streams (qpdf)", viaQPDF(pdfSpec{Form: true, Pages: 3, Image: true, Info: true}, "--object-streams=generate"), true},
	{"object streams, form, inherited (qpdf)", viaQPDF(pdfSpec{Form: true, Inherit: true, Tree: true, Pages: 4}, "--object-streams=generate"), true},
	{"linearized (qpdf)", viaQPDF(pdfSpec{Pages: 3, Image: true, Info: true}, "--linearize"), false},
	{"linearized with object streams (qpdf)", viaQPDF(pdfSpec{Pages: 3, Form: true}, "--linearize", "--object-streams=generate"), true},
}

// TestSignShapes signs every shape and has pdfsig and qpdf judge the result.
func TestSignShapes(t *testing.T) {
	t.Parallel()
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			orig := sh.make(t)
			d := mustOpen(t, orig)
			out := signPKCS7(t, d, SignatureOptions{Name: "Jens Hansen", Reason: "Godkendt", Location: "København"})
			if !bytes.HasPrefix(out, orig) {
				t.Fatal("the signed file does not start with the original bytes")
			}
			checkStructure(t, d, out)
			if names, _ := mustOpen(t, out).reader().fieldNames(); sh.form != names["Navn"] {
				t.Errorf("field Navn present %v, want %v", names["Navn"], sh.form)
			}
			checkPdfsig(t, out, 1)
			qpdfCheck(t, out)
			pdfcpuValidate(t, out)
		})
	}
}

func shapesNamed(tb testing.TB, names ...string) []shape {
	var out []shape
	for _, n := range names {
		for _, s := range shapes {
			if s.name == n {
				out = append(out, s)
			}
		}
	}
	if len(out) != len(names) {
		tb.Fatalf("shapes %q: found %d", names, len(out))
	}
	return out
}

// checkStructure reopens a signed file and checks what Sign promises.
func checkStructure(t *testing.T, orig *Document, out []byte) {
	t.Helper()
	d := mustOpen(t, out)
	if got, want := len(d.Revisions()), len(orig.Revisions())+1; got != want {
		t.Errorf("revisions: %d, want %d", got, want)
	}
	if d.PageCount() != orig.PageCount() {
		t.Errorf("page count %d, was %d", d.PageCount(), orig.PageCount())
	}
	sigs, err := d.Signatures()
	if err != nil {
		t.Fatal(err)
	}
	s := sigs[len(sigs)-1]
	if !s.CoversWholeFile || s.Revision != len(d.Revisions())-1 {
		t.Errorf("last signature: covers whole file %v, revision %d of %d", s.CoversWholeFile, s.Revision, len(d.Revisions()))
	}
	if s.Type != "Sig" || s.SubFilter != "ETSI.CAdES.detached" || !s.SigningTime.Equal(fixedTime) {
		t.Errorf("last signature: %s %s %v", s.Type, s.SubFilter, s.SigningTime)
	}
	if s.Name != "Jens Hansen" || s.Location != "København" || s.Reason != "Godkendt" {
		t.Errorf("last signature: name %q location %q reason %q", s.Name, s.Location, s.Reason)
	}
	// Every field of the original is still in the form, and the new one.
	before, err := orig.reader().fieldNames()
	if err != nil {
		t.Fatal(err)
	}
	after, err := d.reader().fieldNames()
	if err != nil {
		t.Fatal(err)
	}
	for n := range before {
		if !after[n] {
			t.Errorf("field %q lost", n)
		}
	}
	if !after[s.FieldName] || len(after) != len(before)+1 {
		t.Errorf("fields %v after %v", after, before)
	}
	// The style of the new cross-reference section follows the last one.
	if orig.st.sections[0].stream != d.st.sections[0].stream {
		t.Errorf("cross-reference stream %v after %v", d.st.sections[0].stream, orig.st.sections[0].stream)
	}
	// /Size is one more than the highest object number (ISO 32000-1 7.5.5).
	highest := 0
	for num, e := range d.st.table {
		if e.kind != 0 {
			highest = num
		}
	}
	size, _ := integer(d.st.sections[0].trailer["Size"])
	oldSize, _ := integer(orig.st.sections[0].trailer["Size"])
	if int(size) != highest+1 || size < oldSize {
		t.Errorf("/Size %d: highest object %d, previous /Size %d", size, highest, oldSize)
	}
	// /ID keeps its first element.
	oldID, _ := orig.st.sections[0].trailer["ID"].(types.Array)
	newID, _ := d.st.sections[0].trailer["ID"].(types.Array)
	if len(newID) != 2 {
		t.Errorf("/ID %v", newID)
	} else if len(oldID) == 2 {
		a, _ := stringBytes(oldID[0])
		b, _ := stringBytes(newID[0])
		if !bytes.Equal(a, b) {
			t.Errorf("/ID %v after %v", newID, oldID)
		}
	}
	if v := d.Version(); versionLess(v, "1.7") {
		t.Errorf("version %s after signing", v)
	}
	if versionLess(orig.Version(), "2.0") && esicLevel(d.reader(), d.dict(d.catalog["Extensions"])["ESIC"]) != esicCAdES {
		t.Errorf("no ESIC extension level %d in %v", esicCAdES, d.catalog["Extensions"])
	}
}

// TestSignTwice signs, then signs again: pdfsig must find both valid.
func TestSignTwice(t *testing.T) {
	t.Parallel()
	for _, sh := range shapesNamed(t, "pdf-1.7 CRLF three pages", "form with indirect fields",
		"object streams (qpdf)", "linearized (qpdf)", "hybrid with the form in an object stream") {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			one := signPKCS7(t, mustOpen(t, sh.make(t)), SignatureOptions{})
			two := signPKCS7(t, mustOpen(t, one), SignatureOptions{Name: "Second"})
			d := mustOpen(t, two)
			sigs, err := d.Signatures()
			if err != nil || len(sigs) != 2 {
				t.Fatalf("Signatures: %v, %d", err, len(sigs))
			}
			if sigs[0].FieldName != "Signature1" || sigs[1].FieldName != "Signature2" {
				t.Errorf("field names %q, %q", sigs[0].FieldName, sigs[1].FieldName)
			}
			if sigs[0].CoversWholeFile || sigs[0].Revision != len(d.Revisions())-2 {
				t.Errorf("first signature: whole %v revision %d", sigs[0].CoversWholeFile, sigs[0].Revision)
			}
			checkPdfsig(t, two, 2)
			qpdfCheck(t, two)
		})
	}
}

// TestSignConcurrent signs one Document from several goroutines: the same
// options give the same bytes.
func TestSignConcurrent(t *testing.T) {
	t.Parallel()
	d := mustOpen(t, qpdfTransform(t, genPDF(t, pdfSpec{Form: true, Pages: 2}), "--object-streams=generate"))
	outs := make([][]byte, 4)
	errs := make(chan error, len(outs))
	for i := range outs {
		go func() {
			var b bytes.Buffer
			err := d.Sign(context.Background(), &b, SignatureOptions{SigningTime: fixedTime, Appearance: &Appearance{Page: 2, Rect: [4]float64{10, 10, 200, 80}, Lines: []string{"x"}}},
				func(context.Context, []byte) ([]byte, error) { return []byte{0x30, 0}, nil })
			outs[i] = b.Bytes()
			errs <- err
		}()
	}
	for range outs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i := range outs {
		if !bytes.Equal(outs[i], outs[0]) {
			t.Errorf("output %d differs", i)
		}
	}
}

// TestSignRetry checks the size rule: one call when the DER fits, one
// rebuild with the real size when it does not, an error on a second miss.
func TestSignRetry(t *testing.T) {
	t.Parallel()
	data := genPDF(t, pdfSpec{})
	d := mustOpen(t, data)
	tests := []struct {
		name      string
		size      int
		lens      []int // DER length returned by each call
		wantCalls int
		wantErr   bool
	}{
		{"fits", 100, []int{100}, 1, false},
		{"too large once", 100, []int{101, 101}, 2, false},
		{"grows on the retry within the margin", 100, []int{300, 300 + contentsMargin}, 2, false},
		{"misses twice", 100, []int{300, 300 + contentsMargin + 1}, 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var digests [][]byte
			var out bytes.Buffer
			err := d.Sign(context.Background(), &out, SignatureOptions{ContentsSize: tt.size, SigningTime: fixedTime},
				func(_ context.Context, digest []byte) ([]byte, error) {
					n := tt.lens[min(len(digests), len(tt.lens)-1)]
					digests = append(digests, digest)
					der := append([]byte{0x30, 0x82, byte((n - 4) >> 8), byte(n - 4)}, bytes.Repeat([]byte{0xab}, n-4)...)
					return der, nil
				})
			if len(digests) != tt.wantCalls {
				t.Errorf("%d calls, want %d", len(digests), tt.wantCalls)
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("Sign: %v", err)
			}
			if err != nil {
				if out.Len() != 0 {
					t.Error("output written despite the error")
				}
				return
			}
			if len(digests) == 2 && bytes.Equal(digests[0], digests[1]) {
				t.Error("the rebuilt update has the same digest")
			}
			s := mustSignatures(t, out.Bytes())
			if n := tt.lens[len(digests)-1]; len(s[0].Contents) != n {
				t.Errorf("Contents %d bytes, want %d", len(s[0].Contents), n)
			}
		})
	}
}

func mustSignatures(tb testing.TB, data []byte) []Signature {
	tb.Helper()
	s, err := mustOpen(tb, data).Signatures()
	if err != nil || len(s) == 0 {
		tb.Fatalf("Signatures: %v, %d", err, len(s))
	}
	return s
}

// TestSignErrors covers refusals that write nothing.
func TestSignErrors(t *testing.T) {
	t.Parallel()
	d := mustOpen(t, genPDF(t, pdfSpec{Form: true}))
	ok := func(context.Context, []byte) ([]byte, error) { return []byte{0x30, 0}, nil }
	boom := errors.New("hsm down")
	tests := []struct {
		name string
		opts SignatureOptions
		fn   ContentsFunc
		want error
	}{
		{"existing field name", SignatureOptions{FieldName: "Navn"}, ok, nil},
		{"field name with a period", SignatureOptions{FieldName: "a.b"}, ok, nil},
		{"page out of range", SignatureOptions{Appearance: &Appearance{Page: 2, Rect: [4]float64{0, 0, 100, 50}}}, ok, nil},
		{"empty rectangle", SignatureOptions{Appearance: &Appearance{Page: 1, Rect: [4]float64{100, 100, 100, 150}}}, ok, nil},
		{"bad DocMDP", SignatureOptions{DocMDP: 4}, ok, nil},
		{"callback fails", SignatureOptions{}, func(context.Context, []byte) ([]byte, error) { return nil, boom }, boom},
		{"callback returns nothing", SignatureOptions{}, func(context.Context, []byte) ([]byte, error) { return nil, nil }, nil},
		{"unavailable hash", SignatureOptions{Hash: 99}, ok, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := d.Sign(context.Background(), &out, tt.opts, tt.fn)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("Sign: %v, want an error (%v)", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "pades: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if out.Len() != 0 {
				t.Error("output written despite the error")
			}
		})
	}
}

// TestDamagedObjects: an object the update would build on cannot be read.
// Treating it as null would drop what it holds (here the form's fields);
// Sign, AddDSS and Signatures must fail instead.
func TestDamagedObjects(t *testing.T) {
	t.Parallel()
	good := genPDF(t, pdfSpec{Form: true})
	// Same length, so that the cross-reference offsets stay right.
	bad := bytes.Replace(good, []byte("/DA (/Helv 0 Tf 0 g) /DR"), []byte("/DA "+strings.Repeat("[", 17)+"/DR"), 1)
	if bytes.Equal(bad, good) || len(bad) != len(good) {
		t.Fatal("fixture not damaged")
	}
	d := mustOpen(t, bad)
	if _, err := d.Signatures(); !errors.Is(err, ErrMalformed) {
		t.Errorf("Signatures: %v", err)
	}
	var out bytes.Buffer
	err := d.Sign(context.Background(), &out, SignatureOptions{}, func(context.Context, []byte) ([]byte, error) { return []byte{0x30, 0}, nil })
	if !errors.Is(err, ErrMalformed) || out.Len() != 0 {
		t.Errorf("Sign: %v, %d bytes", err, out.Len())
	}
	t.Log(err)
}

// TestSignAdbeSubFilter: a caller's other SubFilter is written as asked,
// without the ETSI extension that only ETSI.CAdES.detached needs.
func TestSignAdbeSubFilter(t *testing.T) {
	t.Parallel()
	d := mustOpen(t, genPDF(t, pdfSpec{Version: "1.6"}))
	out := signPKCS7(t, d, SignatureOptions{SubFilter: "adbe.pkcs7.detached"})
	s := mustSignatures(t, out)
	if s[0].SubFilter != "adbe.pkcs7.detached" {
		t.Errorf("SubFilter %q", s[0].SubFilter)
	}
	if ext := mustOpen(t, out).catalog["Extensions"]; ext != nil {
		t.Errorf("extensions %v", ext)
	}
	checkPdfsig(t, out, 1)
}
