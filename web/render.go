package web

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/oces-pki/oces/api"
	"github.com/oces-pki/oces/citizen"
	"github.com/oces-pki/oces/pades"
	"github.com/oces-pki/oces/signer"
)

// Errors of documents, each wrapping the kind the one error table
// (api.StatusOf) knows, for its status.
var (
	errTooLarge     = fmt.Errorf("web: the document is too large: %w", api.ErrTooLarge)
	errTooManyPages = fmt.Errorf("web: the document has too many pages: %w", api.ErrTooLarge)
	errNotPDF       = fmt.Errorf("web: the file is not a readable PDF: %w", signer.ErrInvalidDocument)
	errRender       = fmt.Errorf("web: drawing the pages took too long: %w", context.DeadlineExceeded)
	errEmpty        = fmt.Errorf("web: no document: %w", citizen.ErrInvalidRequest)
)

// previewDPI is the resolution of the page images: at 100 dpi an A4 page
// is 827 pixels wide and 11 pt text is readable (at 60 dpi it is 9 pixels
// high and is not).
const previewDPI = 100

// newDocument reads a PDF, counts its pages (pades, through pdfcpu),
// refuses more than MaxPages, and draws each page as a PNG with poppler's
// pdftoppm at previewDPI, all within RenderTimeout.
func (h *Handler) newDocument(ctx context.Context, name string, data []byte) (*document, error) {
	if len(data) == 0 {
		return nil, errEmpty
	}
	if int64(len(data)) > h.cfg.MaxUploadBytes {
		return nil, errTooLarge
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.RenderTimeout)
	defer cancel()
	doc, err := pades.OpenContext(ctx, data)
	if err != nil {
		if ctx.Err() != nil {
			return nil, errRender
		}
		return nil, fmt.Errorf("%w: %v", errNotPDF, err)
	}
	n := doc.PageCount()
	switch {
	case n == 0:
		return nil, errNotPDF
	case n > h.cfg.MaxPages:
		return nil, fmt.Errorf("%w: %d pages, at most %d", errTooManyPages, n, h.cfg.MaxPages)
	}
	images, err := h.drawPages(ctx, data, n)
	if err != nil {
		return nil, err
	}
	return &document{id: newID()[:22], name: name, data: data, sha256: sha256.Sum256(data), pages: n, images: images}, nil
}

// drawPages runs pdftoppm in a temporary directory that is removed at
// once; the images stay in memory with the session.
func (h *Handler) drawPages(ctx context.Context, data []byte, pages int) ([][]byte, error) {
	dir, err := os.MkdirTemp("", "oces-web-")
	if err != nil {
		return nil, fmt.Errorf("web: a directory for the pages: %w", err)
	}
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, "in.pdf")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		return nil, fmt.Errorf("web: writing the document for pdftoppm: %w", err)
	}
	cmd := exec.CommandContext(ctx, h.cfg.Pdftoppm, "-png", "-r", fmt.Sprint(previewDPI), "-f", "1", "-l", fmt.Sprint(pages), in, filepath.Join(dir, "p"))
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return nil, errRender
	}
	if err != nil {
		return nil, fmt.Errorf("%w: pdftoppm: %v: %s", errNotPDF, err, strings.TrimSpace(string(out)))
	}
	files, err := filepath.Glob(filepath.Join(dir, "p-*.png"))
	if err != nil {
		return nil, err
	}
	slices.Sort(files) // p-01.png … p-12.png: pdftoppm pads to the same width
	if len(files) != pages {
		return nil, fmt.Errorf("%w: pdftoppm drew %d of %d pages", errNotPDF, len(files), pages)
	}
	images := make([][]byte, 0, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, errors.Join(errNotPDF, err)
		}
		images = append(images, b)
	}
	return images, nil
}
