package benchscript

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const root = "../.."

// benchmarks returns the names of the Benchmark functions of the package
// in dir.
func benchmarks(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, dir, "*_test.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("%s: no test files (%v)", dir, err)
	}
	var names []string
	fset := token.NewFileSet()
	for _, f := range files {
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Benchmark") {
				names = append(names, fn.Name.Name)
			}
		}
	}
	return names
}

var (
	runLine = regexp.MustCompile(`(?m)^run (\S+) (\S+) '([^']+)' (\S+)`)
	goRun   = regexp.MustCompile(`go run (\./[\w/]+)`)
	docName = regexp.MustCompile(`\bBenchmark[A-Z]\w*`)
)

// TestBenchScript: each alternative of each benchmark pattern the script
// runs matches a benchmark of its package, each program it runs exists,
// and each benchmark named in docs/benchmarks.md is run by the script.
func TestBenchScript(t *testing.T) {
	script, err := os.ReadFile(filepath.Join(root, "scripts/bench.sh"))
	if err != nil {
		t.Fatal(err)
	}
	run := map[string]bool{} // benchmarks the script runs
	lines := runLine.FindAllStringSubmatch(string(script), -1)
	if len(lines) == 0 {
		t.Fatal("no run lines in scripts/bench.sh")
	}
	for _, m := range lines {
		group, pkg, pattern := m[1], m[2], m[3]
		names := benchmarks(t, pkg)
		for _, alt := range strings.Split(pattern, "|") {
			re, err := regexp.Compile(alt)
			if err != nil {
				t.Fatalf("%s: %v", group, err)
			}
			found := false
			for _, n := range names {
				if re.MatchString(n) {
					found, run[n] = true, true
				}
			}
			if !found {
				t.Errorf("bench.sh group %s: %q matches no benchmark of %s (it has %v)", group, alt, pkg, names)
			}
		}
	}
	for _, m := range goRun.FindAllStringSubmatch(string(script), -1) {
		if _, err := os.Stat(filepath.Join(root, m[1], "main.go")); err != nil {
			t.Errorf("bench.sh runs %s, which has no main.go", m[1])
		}
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs/benchmarks.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range docName.FindAllStringSubmatch(string(doc), -1) {
		if name := m[0]; !run[name] {
			t.Errorf("docs/benchmarks.md takes figures from %s, which make bench does not run", name)
		}
	}
}
