package pades

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestWinAnsi(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"Jens Hansen", "Jens Hansen"},
		{"København Ø Æ å", "K\xf8benhavn \xd8 \xc6 \xe5"},
		{"a\u030a", "\xe5"}, // a + combining ring is å
		{"€ – “x”", "\x80 \x96 \x93x\x94"},
		{"Łódź 東京", "?\xf3d? ??"},
		{"tab\tnew\nline", "tab new line"},
		{"bad \xff utf-8", "bad ? utf-8"},
	}
	for _, tt := range tests {
		if got := string(winAnsi(tt.in)); got != tt.want {
			t.Errorf("winAnsi(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestVisibleSignature renders signed pages with pdftoppm and looks for
// the stamp: dark pixels of border and text inside the rectangle, none
// of it outside on a blank page. PADES_KEEP_RENDERING=dir keeps the PNGs.
func TestVisibleSignature(t *testing.T) {
	t.Parallel()
	pdftoppm := needTool(t, "pdftoppm")
	lines := []string{"Digitally signed by Jens Hansen", "PID:9208-2002-2-123456789012", "Date: 2026-11-30 10:00:00 UTC", "Reason: Godkendt, København"}
	tests := []struct {
		name   string
		spec   pdfSpec
		page   int
		rect   [4]float64
		region [4]float64 // where the stamp shows on the rendered page, in points from the top left
	}{
		{"upright", pdfSpec{Pages: 2}, 2, [4]float64{300, 60, 560, 160}, [4]float64{300, 841.89 - 160, 560, 841.89 - 60}},
		{"rotated page", pdfSpec{Rotate: 90}, 1, [4]float64{300, 60, 400, 320}, [4]float64{60, 300, 320, 400}},
		{"page upside down", pdfSpec{Rotate: 180}, 1, [4]float64{300, 60, 560, 160}, [4]float64{595.276 - 560, 60, 595.276 - 300, 160}},
		{"inherited rotation 270", pdfSpec{Rotate: 270, Inherit: true}, 1, [4]float64{300, 60, 400, 320}, [4]float64{841.89 - 320, 595.276 - 400, 841.89 - 60, 595.276 - 300}},
		{"object streams", pdfSpec{Inherit: true, Tree: true, Pages: 3}, 3, [4]float64{72, 72, 272, 132}, [4]float64{72, 841.89 - 132, 272, 841.89 - 72}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			orig := genPDF(t, tt.spec)
			if tt.name == "object streams" {
				orig = qpdfTransform(t, orig, "--object-streams=generate")
			}
			out := signPKCS7(t, mustOpen(t, orig), SignatureOptions{
				Appearance: &Appearance{Page: tt.page, Rect: tt.rect, Lines: lines},
			})
			checkPdfsig(t, out, 1)
			qpdfCheck(t, out)
			img := render(t, pdftoppm, out, tt.page)
			// 1 point is 1 pixel at 72 dpi.
			in, outside := darkPixels(img, tt.region)
			t.Logf("%s: %d dark pixels in the stamp, %d outside", tt.name, in, outside)
			area := (tt.region[2] - tt.region[0]) * (tt.region[3] - tt.region[1])
			if float64(in) < area/50 {
				t.Errorf("only %d dark pixels in the stamp of %.0f", in, area)
			}
			if outside > 3000 { // the page's own line of text
				t.Errorf("%d dark pixels outside the stamp", outside)
			}
		})
	}
}

func render(t *testing.T, pdftoppm string, data []byte, page int) image.Image {
	t.Helper()
	dir := t.TempDir()
	if keep := os.Getenv("PADES_KEEP_RENDERING"); keep != "" {
		dir = keep
	}
	in := filepath.Join(dir, filepath.Base(t.Name())+".pdf")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	prefix := filepath.Join(dir, fmt.Sprintf("page-%s", filepath.Base(t.Name())))
	cmd := exec.Command(pdftoppm, "-png", "-r", "72", "-f", fmt.Sprint(page), "-l", fmt.Sprint(page), "-singlefile", in, prefix)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	f, err := os.ReadFile(prefix + ".png")
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// darkPixels counts pixels darker than light grey inside and outside r.
func darkPixels(img image.Image, r [4]float64) (in, out int) {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if (cr+cg+cb)/3 > 0xc000 {
				continue
			}
			if float64(x) >= r[0] && float64(x) < r[2] && float64(y) >= r[1] && float64(y) < r[3] {
				in++
			} else {
				out++
			}
		}
	}
	return in, out
}

// TestSignExistingField signs an empty signature field a form brought:
// invisibly (its own appearance kept) and with lines drawn in its widget.
func TestSignExistingField(t *testing.T) {
	t.Parallel()
	orig := genPDF(t, pdfSpec{Form: true, EmptySig: true, Rotate: 0})
	before, err := mustOpen(t, orig).reader().fieldNames()
	if err != nil || !before["Underskrift"] {
		t.Fatalf("fixture fields %v, %v", before, err)
	}
	for _, lines := range [][]string{nil, {"Digitally signed by Jens Hansen", "Date: 2026-11-30"}} {
		t.Run(fmt.Sprintf("%d lines", len(lines)), func(t *testing.T) {
			t.Parallel()
			var a *Appearance
			if lines != nil {
				a = &Appearance{Lines: lines}
			}
			out := signPKCS7(t, mustOpen(t, orig), SignatureOptions{FieldName: "Underskrift", Appearance: a})
			d := mustOpen(t, out)
			after, err := d.reader().fieldNames()
			if err != nil || len(after) != len(before) {
				t.Errorf("fields %v after %v (%v)", after, before, err)
			}
			if s := mustSignatures(t, out); s[0].FieldName != "Underskrift" {
				t.Errorf("signed field %q", s[0].FieldName)
			}
			checkPdfsig(t, out, 1)
			checkPDFBox(t, out, 1)
			qpdfCheck(t, out)
			if lines != nil {
				img := render(t, needTool(t, "pdftoppm"), out, 1)
				in, _ := darkPixels(img, [4]float64{300, 841.89 - 170, 520, 841.89 - 100})
				if in < 300 {
					t.Errorf("%d dark pixels in the field's widget", in)
				}
			}
			// The field is signed now.
			err = d.Sign(context.Background(), io.Discard, SignatureOptions{FieldName: "Underskrift"},
				func(context.Context, []byte) ([]byte, error) { return []byte{0x30, 0}, nil })
			if err == nil || !strings.Contains(err.Error(), "signed already") {
				t.Errorf("signing the field twice: %v", err)
			}
		})
	}
	d := mustOpen(t, orig)
	for name, opts := range map[string]SignatureOptions{
		"a text field":                     {FieldName: "Navn"},
		"a place for a field that has one": {FieldName: "Underskrift", Appearance: &Appearance{Page: 1, Rect: [4]float64{0, 0, 100, 100}}},
	} {
		err := d.Sign(context.Background(), io.Discard, opts, func(context.Context, []byte) ([]byte, error) { return []byte{0x30, 0}, nil })
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
