package pades

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// bigPDF writes a file of about size bytes: pages with incompressible
// images (how large PDFs mostly are: scans and photos), or, with objects
// set, pages with many small annotation objects (the worst case for a
// parser's per-object overhead).
func bigPDF(tb testing.TB, size int, objects bool) []byte {
	tb.Helper()
	var b bytes.Buffer
	var offs []int
	obj := func(format string, args ...any) int {
		offs = append(offs, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n", len(offs))
		fmt.Fprintf(&b, format, args...)
		b.WriteString("\nendobj\n")
		return len(offs)
	}
	b.WriteString("%PDF-1.7\n%\xe5\xf8\xe6\xc5\n")
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj("") // the page tree, written at the end
	var pages []int
	img := make([]byte, 1<<20)
	for b.Len() < size {
		if objects {
			var annots bytes.Buffer
			for i := 0; i < 200; i++ {
				n := obj("<< /Type /Annot /Subtype /Link /Rect [%d %d %d %d] /Border [0 0 0] /A << /S /URI /URI (https://example.dk/%d) >> >>",
					i, i, i+10, i+10, i)
				fmt.Fprintf(&annots, "%d 0 R ", n)
			}
			pages = append(pages, obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Annots [%s] >>", annots.String()))
			continue
		}
		rand.Read(img)
		im := len(offs) + 1
		offs = append(offs, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n<< /Type /XObject /Subtype /Image /Width 512 /Height 682 /ColorSpace /DeviceRGB /BitsPerComponent 8 /Length %d >>\nstream\n", im, len(img))
		b.Write(img)
		b.WriteString("\nendstream\nendobj\n")
		c := obj("<< /Length 36 >>\nstream\nq 500 0 0 666 47 88 cm /Im1 Do Q   \nendstream")
		pages = append(pages, obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R /Resources << /XObject << /Im1 %d 0 R >> >> >>", c, im))
	}
	var kids bytes.Buffer
	for _, p := range pages {
		fmt.Fprintf(&kids, "%d 0 R ", p)
	}
	offs[1] = b.Len()
	fmt.Fprintf(&b, "2 0 obj\n<< /Type /Pages /Count %d /Kids [%s] >>\nendobj\n", len(pages), kids.String())
	x := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offs)+1, x)
	return b.Bytes()
}

// TestMemory signs large files in a child process under /usr/bin/time -v
// and holds its peak RSS to the budget: twice the file plus 64 MiB for the
// whole process, Go runtime and test binary included.
func TestMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	timeCmd := "/usr/bin/time"
	if _, err := os.Stat(timeCmd); err != nil {
		t.Skip("no /usr/bin/time")
	}
	tests := []struct {
		name string
		make func(testing.TB) []byte
	}{
		{"20 MB of images", func(tb testing.TB) []byte { return bigPDF(tb, 20<<20, false) }},
		{"20 MB of small objects", func(tb testing.TB) []byte { return bigPDF(tb, 20<<20, true) }},
		{"70,000 small objects in object streams", func(tb testing.TB) []byte {
			return qpdfTransform(tb, bigPDF(tb, 10<<20, true), "--object-streams=generate")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			data := tt.make(t)
			in := filepath.Join(dir, "big.pdf")
			if err := os.WriteFile(in, data, 0o600); err != nil {
				t.Fatal(err)
			}
			data = nil
			cmd := exec.Command(timeCmd, "-v", os.Args[0], "-test.run=^TestMemoryChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), "PADES_MEMORY_CHILD="+in, "GOGC=100")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			m := regexp.MustCompile(`Maximum resident set size \(kbytes\): (\d+)`).FindSubmatch(out)
			if m == nil {
				t.Fatalf("no RSS in:\n%s", out)
			}
			kb, _ := strconv.Atoi(string(m[1]))
			fi, _ := os.Stat(in)
			size := fi.Size()
			budget := 2*size + 64<<20
			t.Logf("%s: file %.1f MiB, peak RSS %.1f MiB, budget %.1f MiB; %s", tt.name,
				float64(size)/(1<<20), float64(kb)/1024, float64(budget)/(1<<20), childTime(out))
			if int64(kb)*1024 > budget {
				t.Errorf("peak RSS %d KiB exceeds the budget of %d KiB", kb, budget/1024)
			}
		})
	}
}

func childTime(out []byte) string {
	m := regexp.MustCompile(`Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)`).FindSubmatch(out)
	if m == nil {
		return ""
	}
	return "wall " + string(m[1])
}

// TestMemoryChild is TestMemory's child: open, sign to a file, exit.
func TestMemoryChild(t *testing.T) {
	in := os.Getenv("PADES_MEMORY_CHILD")
	if in == "" {
		t.Skip("run by TestMemory")
	}
	data, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(data)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(in + ".signed")
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	der := bytes.Repeat([]byte{0xab}, 6000)
	der[0], der[1], der[2], der[3] = 0x30, 0x82, byte((len(der)-4)>>8), byte(len(der)-4)
	if err := d.Sign(context.Background(), w, SignatureOptions{SigningTime: fixedTime}, func(context.Context, []byte) ([]byte, error) {
		return der, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// BenchmarkSign opens and signs a 20 MiB file of many small objects, the
// harder case for the reader; the callback returns a fixed DER at once.
func BenchmarkSign(b *testing.B) {
	for _, objects := range []bool{false, true} {
		data := bigPDF(b, 20<<20, objects)
		der := []byte{0x30, 0x03, 1, 2, 3}
		b.Run(fmt.Sprintf("objects=%v", objects), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				d, err := Open(data)
				if err != nil {
					b.Fatal(err)
				}
				if err := d.Sign(context.Background(), io.Discard, SignatureOptions{SigningTime: fixedTime},
					func(context.Context, []byte) ([]byte, error) { return der, nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
