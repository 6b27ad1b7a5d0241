package pdfcheck

import (
	"fmt"
	"strings"
	"testing"
)

// QpdfOutcome is the verdict of `qpdf --check`, from its exit status.
type QpdfOutcome int

const (
	// QpdfClean: exit 0, no errors and no warnings.
	QpdfClean QpdfOutcome = iota
	// QpdfWarnings: exit 3, the file was read but qpdf warned (a damaged
	// file it reconstructed, a bad stream, a linearization problem).
	QpdfWarnings
	// QpdfErrors: exit 2, qpdf could not read the file.
	QpdfErrors
)

func (o QpdfOutcome) String() string {
	switch o {
	case QpdfClean:
		return "clean"
	case QpdfWarnings:
		return "warnings"
	case QpdfErrors:
		return "errors"
	}
	return fmt.Sprintf("QpdfOutcome(%d)", int(o))
}

// QpdfResult is what `qpdf --check` said.
type QpdfResult struct {
	Outcome    QpdfOutcome
	Version    string   // "PDF Version: …"
	Encrypted  bool     // qpdf printed the security handler's "R = …"
	Linearized bool     // "File is linearized"
	Warnings   []string // the "WARNING: …" lines
	Errors     []string // the "qpdf: …" lines other than the summary of warnings
	Output     string   // stdout and stderr
}

// QpdfCheck runs `qpdf --check path` and fails tb on any error or warning.
func QpdfCheck(tb testing.TB, path string) QpdfResult {
	tb.Helper()
	return QpdfCheckExpect(tb, path, QpdfClean)
}

// QpdfCheckExpect runs `qpdf --check [args] path` (args such as
// "--password=user") and fails tb unless the outcome is want.
func QpdfCheckExpect(tb testing.TB, path string, want QpdfOutcome, args ...string) QpdfResult {
	tb.Helper()
	r := Qpdf(tb, path, args...)
	if r.Outcome != want {
		tb.Fatalf("pdfcheck: qpdf --check %s: %s, want %s:\n%s", path, r.Outcome, want, r.Output)
	}
	return r
}

// Qpdf runs `qpdf --check [args] path` and returns its verdict.
func Qpdf(tb testing.TB, path string, args ...string) QpdfResult {
	tb.Helper()
	bin := lookPath(tb, "qpdf")
	r := run(tb, nil, bin, append(append([]string{"--check"}, args...), path)...)
	res := QpdfResult{Output: r.combined()}
	switch r.code {
	case 0:
		res.Outcome = QpdfClean
	case 3:
		res.Outcome = QpdfWarnings
	case 2:
		res.Outcome = QpdfErrors
	default:
		tb.Fatalf("pdfcheck: qpdf --check %s: unexpected exit status %d:\n%s", path, r.code, res.Output)
	}
	for _, line := range strings.Split(res.Output, "\n") {
		switch {
		case strings.HasPrefix(line, "PDF Version: "):
			res.Version = strings.TrimPrefix(line, "PDF Version: ")
		case strings.HasPrefix(line, "R = "):
			res.Encrypted = true
		case line == "File is linearized":
			res.Linearized = true
		case strings.HasPrefix(line, "WARNING: "):
			res.Warnings = append(res.Warnings, strings.TrimPrefix(line, "WARNING: "))
		case strings.HasPrefix(line, "qpdf: ") && !strings.HasSuffix(line, "operation succeeded with warnings"):
			res.Errors = append(res.Errors, strings.TrimPrefix(line, "qpdf: "))
		}
	}
	return res
}
