package textpdf_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/oces-pki/oces/internal/pdfcheck"
	"github.com/oces-pki/oces/internal/textpdf"
	"github.com/oces-pki/oces/pades"
)

// tool finds an independent tool or skips (fails under OCES_REQUIRE_TOOLS).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if pdfcheck.Require() {
			t.Fatalf("%s not installed; scripts/deps.sh --test", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

var xMax = regexp.MustCompile(`<word [^>]*xMax="([0-9.]+)"`)

func TestRenderAgreesWithQpdfAndPdftotext(t *testing.T) {
	long := strings.Repeat("Ærøskøbing og Århus har både æbler, øl og åer. ", 40)
	word := strings.Repeat("x", 300) // longer than a line: broken inside
	var many strings.Builder
	for i := range 130 {
		many.WriteString("Linje ")
		many.WriteString(strings.Repeat("a", i%7))
		many.WriteString("\n")
	}
	cases := []struct {
		name  string
		text  string
		pages int
		want  []string // what pdftotext must find, in order
	}{
		{"danish", "Hej Søren,\n\nblåbærgrød (med fløde) \\ 100 € – tak!", 1, []string{"Hej Søren,", "blåbærgrød (med fløde) \\ 100 € – tak!"}},
		{"wrapped", long, 1, []string{"Ærøskøbing og Århus", "åer."}},
		{"long word", word, 1, []string{strings.Repeat("x", 80)}},
		{"pages", many.String(), 3, []string{"Linje", "Linje aaaaaa"}},
		{"empty", "", 1, nil},
		{"outside winansi", "π ≈ 3", 1, []string{"?", "?", "3"}},
	}
	qpdf, pdftotext := tool(t, "qpdf"), tool(t, "pdftotext")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pdf, err := textpdf.Render(tc.text, 10)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "t.pdf")
			if err := os.WriteFile(path, pdf, 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(qpdf, "--check", path).CombinedOutput(); err != nil || !strings.Contains(string(out), "No syntax or stream encoding errors") {
				t.Fatalf("qpdf --check: %v\n%s", err, out)
			}
			out, err := exec.Command(pdftotext, "-enc", "UTF-8", "-layout", path, "-").Output()
			if err != nil {
				t.Fatal(err)
			}
			got := string(out)
			if n := strings.Count(got, "\f"); n != tc.pages {
				t.Errorf("pdftotext sees %d pages, want %d", n, tc.pages)
			}
			rest := got
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("pdftotext output lacks %q:\n%s", w, got)
				}
				rest = rest[i+len(w):]
			}
			// Every line fits the page: no character was cut off at the
			// right margin (pdftotext's text ends with the words we wrote).
			if tc.name == "wrapped" && strings.Count(got, "Ærøskøbing") != 40 {
				t.Errorf("pdftotext finds %d of 40 sentences", strings.Count(got, "Ærøskøbing"))
			}
			// pdftotext's word boxes: nothing is set beyond the right margin
			// (595 - 56 points), so the wrapping used the right metrics.
			box, err := exec.Command(pdftotext, "-bbox", path, "-").Output()
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range xMax.FindAllStringSubmatch(string(box), -1) {
				if x, _ := strconv.ParseFloat(m[1], 64); x > 539.5 {
					t.Fatalf("a word ends at x=%.1f, past the right margin", x)
				}
			}
			doc, err := pades.Open(pdf)
			if err != nil {
				t.Fatalf("pades (pdfcpu) cannot read it: %v", err)
			}
			if doc.PageCount() != tc.pages {
				t.Errorf("pades: %d pages, want %d", doc.PageCount(), tc.pages)
			}
		})
	}
}

func TestRenderBounds(t *testing.T) {
	if _, err := textpdf.Render(strings.Repeat("x\n", 500), 3); !errors.Is(err, textpdf.ErrTooLong) {
		t.Errorf("500 lines in 3 pages: %v", err)
	}
	if _, err := textpdf.Render("\xff", 3); err == nil {
		t.Error("invalid UTF-8 accepted")
	}
	a, _ := textpdf.Render("same", 1)
	b, _ := textpdf.Render("same", 1)
	if string(a) != string(b) {
		t.Error("the same text gives different files")
	}
}

// FuzzRender: any text gives a PDF that pdfcpu reads, or a clean error.
func FuzzRender(f *testing.F) {
	f.Add("Hej Søren,\n\nblåbærgrød € – tak!")
	f.Add(strings.Repeat("x", 500))
	f.Add("(\\)\r\n\t\x00")
	f.Fuzz(func(t *testing.T, text string) {
		pdf, err := textpdf.Render(text, 5)
		if err != nil {
			return
		}
		if _, err := pades.Open(pdf); err != nil {
			t.Fatalf("pades cannot read the PDF of %q: %v", text, err)
		}
	})
}
