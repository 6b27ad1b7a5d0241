package web

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/oces-pki/oces/citizen"
	"github.com/oces-pki/oces/internal/textpdf"
	"github.com/oces-pki/oces/validate"
)

// Signing: a document (uploaded, or a text made into a PDF) is shown page
// by page with its page count and SHA-256; the citizen confirms with the
// password and a fresh one-time code, which the citizen service binds to
// exactly that digest (Authorize), then signs in the one-time key model
// (SignDocument, PAdES B-LTA). The summary comes from the validation
// service.

// signData is the page that offers both ways in.
type signData struct {
	MaxSize  string
	MaxPages int
	Text     string
}

func (h *Handler) signData() signData {
	return signData{MaxSize: sizeText(h.cfg.MaxUploadBytes), MaxPages: h.cfg.MaxPages}
}

func (h *Handler) signPage(w http.ResponseWriter, r *http.Request, s *session) {
	p := h.newPage(r, s, "title.sign")
	p.Data = h.signData()
	h.render(w, http.StatusOK, "sign", p)
}

// upload reads the one file part of a multipart form, at most
// MaxUploadBytes of it, without temporary files.
func (h *Handler) upload(w http.ResponseWriter, r *http.Request, s *session) {
	p := h.newPage(r, s, "title.sign")
	p.Data = h.signData()
	r.Body = http.MaxBytesReader(w, r.Body, h.cfg.MaxUploadBytes+64<<10)
	name, data, err := h.readFile(r)
	if err != nil {
		h.fail(w, r, p, "sign", "file", err)
		return
	}
	d, err := h.newDocument(r.Context(), name, data)
	if err != nil {
		h.fail(w, r, p, "sign", "file", err)
		return
	}
	h.sessions.addDoc(s, d)
	seeOther(w, r, "/sign/"+d.id)
}

func (h *Handler) readFile(r *http.Request) (string, []byte, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return "", nil, errEmpty
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return "", nil, errEmpty
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", nil, errTooLarge
		}
		if err != nil {
			return "", nil, fmt.Errorf("%w: %v", errEmpty, err)
		}
		if part.FormName() != "file" {
			continue
		}
		return readPart(part, h.cfg.MaxUploadBytes)
	}
}

func readPart(part *multipart.Part, max int64) (string, []byte, error) {
	data, err := io.ReadAll(io.LimitReader(part, max+1))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe), int64(len(data)) > max:
		return "", nil, errTooLarge
	case err != nil:
		return "", nil, fmt.Errorf("%w: %v", errEmpty, err)
	}
	return part.FileName(), data, nil
}

// maxTextBytes bounds a pasted text.
const maxTextBytes = 256 << 10

func (h *Handler) text(w http.ResponseWriter, r *http.Request, s *session) {
	p := h.newPage(r, s, "title.sign")
	d := h.signData()
	r.Body = http.MaxBytesReader(w, r.Body, maxTextBytes+4<<10)
	d.Text = r.PostFormValue("text")
	p.Data = d
	if strings.TrimSpace(d.Text) == "" {
		h.fail(w, r, p, "sign", "text", errEmpty)
		return
	}
	pdf, err := textpdf.Render(d.Text, h.cfg.MaxPages)
	if errors.Is(err, textpdf.ErrTooLong) {
		err = errTooManyPages
	}
	if err != nil {
		h.fail(w, r, p, "sign", "text", err)
		return
	}
	doc, err := h.newDocument(r.Context(), "tekst.pdf", pdf)
	if err != nil {
		h.fail(w, r, p, "sign", "text", err)
		return
	}
	h.sessions.addDoc(s, doc)
	seeOther(w, r, "/sign/"+doc.id)
}

// previewData is the document as the citizen sees it before signing.
type previewData struct {
	ID        string
	Name      string
	Pages     []int // 1 … n
	PageCount int
	SHA256    string
	Challenge string
	CodeApp   bool
	Client    string // the service provider of a request
}

// docOf is the document named in the path, or nil after an error page.
func (h *Handler) docOf(w http.ResponseWriter, r *http.Request, s *session) *document {
	d := h.sessions.doc(s, r.PathValue("doc"))
	if d == nil {
		h.errorPage(w, r, s, fmt.Errorf("%w: no such document in this session", citizen.ErrNotFound))
	}
	return d
}

func (h *Handler) preview(w http.ResponseWriter, r *http.Request, s *session) {
	d := h.docOf(w, r, s)
	if d == nil {
		return
	}
	if signed, _ := h.sessions.signedOf(s, d); signed != nil {
		seeOther(w, r, "/sign/"+d.id+"/done")
		return
	}
	p := h.newPage(r, s, "title.preview")
	pd, err := h.previewData(r, s, d)
	if err != nil {
		h.errorPage(w, r, s, err)
		return
	}
	p.Data = pd
	h.allowReturn(w, d)
	h.render(w, http.StatusOK, "preview", p)
}

func (h *Handler) previewData(r *http.Request, s *session, d *document) (*previewData, error) {
	pd := &previewData{ID: d.id, Name: d.name, PageCount: d.pages, SHA256: hex.EncodeToString(d.sha256[:])}
	for i := range d.pages {
		pd.Pages = append(pd.Pages, i+1)
	}
	ch, err := h.svc.Challenge(r.Context(), s.userID)
	if err != nil {
		return nil, err
	}
	pd.Challenge = ch
	if cs, err := h.svc.Session(s.citizenID); err == nil {
		pd.CodeApp = cs.CodeApp
	}
	if d.request != "" && h.cfg.Requests != nil {
		if req, err := h.cfg.Requests.Pending(d.request); err == nil {
			pd.Client = req.Client
		}
	}
	return pd, nil
}

// allowReturn lets the forms of a service provider's document lead back
// to the provider: browsers apply form-action to the redirect that
// follows a form, so the return URL's origin is added to it on this page.
func (h *Handler) allowReturn(w http.ResponseWriter, d *document) {
	if d.request == "" || h.cfg.Requests == nil {
		return
	}
	req, err := h.cfg.Requests.Pending(d.request)
	if err != nil {
		return
	}
	u, err := url.Parse(req.ReturnURL)
	if err != nil {
		return
	}
	origin := u.Scheme + "://" + u.Host
	w.Header().Set("Content-Security-Policy", strings.Replace(contentSecurityPolicy, "form-action 'self'", "form-action 'self' "+origin, 1))
}

func (h *Handler) pageImage(w http.ResponseWriter, r *http.Request, s *session) {
	d := h.docOf(w, r, s)
	if d == nil {
		return
	}
	n, err := strconv.Atoi(strings.TrimSuffix(r.PathValue("n"), ".png"))
	if err != nil || n < 1 || n > len(d.images) {
		h.errorPage(w, r, s, fmt.Errorf("%w: no such page", citizen.ErrNotFound))
		return
	}
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(d.images[n-1])
}

func (h *Handler) confirm(w http.ResponseWriter, r *http.Request, s *session) {
	d := h.docOf(w, r, s)
	if d == nil {
		return
	}
	s.signing.Lock()
	defer s.signing.Unlock()
	if signed, _ := h.sessions.signedOf(s, d); signed != nil {
		seeOther(w, r, "/sign/"+d.id+"/done")
		return
	}
	pw, code := r.PostFormValue("password"), strings.TrimSpace(r.PostFormValue("code"))
	p := h.newPage(r, s, "title.preview")
	again := func(field string, err error) {
		pd, perr := h.previewData(r, s, d)
		if perr != nil {
			h.errorPage(w, r, s, perr)
			return
		}
		p.Data = pd
		h.allowReturn(w, d)
		if err == nil {
			h.render(w, http.StatusBadRequest, "preview", p)
			return
		}
		h.fail(w, r, p, "preview", field, err)
	}
	if pw == "" {
		p.Errors = append(p.Errors, fieldError{"password", p.T("err.required")})
	}
	if code == "" {
		p.Errors = append(p.Errors, fieldError{"code", p.T("err.required")})
	}
	if len(p.Errors) > 0 {
		again("", nil)
		return
	}
	sad, err := h.svc.Authorize(r.Context(), citizen.AuthorizeRequest{UserID: s.userID, Password: pw, Code: code, Hashes: [][]byte{d.sha256[:]}})
	if err != nil {
		again("code", err)
		return
	}
	signed, err := h.svc.SignDocument(r.Context(), citizen.DocumentRequest{UserID: s.userID, SAD: sad.Token, Document: d.data, PDF: true})
	if err != nil {
		again("", err)
		return
	}
	var report *validate.Report
	if h.cfg.Validator != nil {
		if report, err = h.cfg.Validator.ValidatePDF(r.Context(), signed.Data); err != nil {
			h.log.WarnContext(r.Context(), "web: validating the signed document failed", "err", err)
		}
	}
	h.sessions.with(s, func(*session) { d.signed, d.report = signed.Data, report })
	if d.request != "" && h.cfg.Requests != nil {
		back, err := h.cfg.Requests.Complete(r.Context(), d.request, s.userID, signed.Data)
		if err != nil {
			h.errorPage(w, r, s, err)
			return
		}
		h.sessions.dropDoc(s, d.id)
		seeOther(w, r, back)
		return
	}
	seeOther(w, r, "/sign/"+d.id+"/done")
}

// cancel discards a document, or refuses a service provider's request
// and sends the citizen back to the provider with status=cancelled.
func (h *Handler) cancel(w http.ResponseWriter, r *http.Request, s *session) {
	d := h.docOf(w, r, s)
	if d == nil {
		return
	}
	h.sessions.dropDoc(s, d.id)
	if signed, _ := h.sessions.signedOf(s, d); d.request != "" && h.cfg.Requests != nil && signed == nil {
		back, err := h.cfg.Requests.Cancel(r.Context(), d.request, s.userID)
		if err != nil {
			h.errorPage(w, r, s, err)
			return
		}
		seeOther(w, r, back)
		return
	}
	seeOther(w, r, "/sign")
}

// doneData is the summary of a signed document.
type doneData struct {
	ID         string
	Name       string
	SHA256     string
	Summary    bool
	Indication string
	Signer     string
	Time       time.Time
	Level      string
}

func (h *Handler) done(w http.ResponseWriter, r *http.Request, s *session) {
	d := h.docOf(w, r, s)
	if d == nil {
		return
	}
	signed, rep := h.sessions.signedOf(s, d)
	if signed == nil {
		seeOther(w, r, "/sign/"+d.id)
		return
	}
	p := h.newPage(r, s, "title.done")
	dd := doneData{ID: d.id, Name: signedName(d.name)}
	if rep != nil {
		dd.SHA256, dd.Indication = rep.DocumentSHA256, string(rep.Indication)
		for _, sr := range rep.Signatures {
			if sr.Type == "signature" {
				dd.Summary, dd.Level, dd.Time = true, sr.Level, sr.BestSignatureTime
				if sr.Signer != nil {
					dd.Signer = sr.Signer.CommonName
				}
				break
			}
		}
	}
	p.Data = dd
	h.render(w, http.StatusOK, "done", p)
}

func (h *Handler) download(w http.ResponseWriter, r *http.Request, s *session) {
	d := h.docOf(w, r, s)
	if d == nil {
		return
	}
	signed, _ := h.sessions.signedOf(s, d)
	if signed == nil {
		seeOther(w, r, "/sign/"+d.id)
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `attachment; filename="`+signedName(d.name)+`"`)
	_, _ = w.Write(signed)
}

// signedName is a safe file name for the signed copy of name.
func signedName(name string) string {
	base := strings.TrimSuffix(name, ".pdf")
	var b strings.Builder
	for _, r := range base {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 80 {
			break
		}
	}
	if b.Len() == 0 {
		b.WriteString("document")
	}
	return b.String() + "-signed.pdf"
}

// sizeText is n bytes in MiB or KiB.
func sizeText(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// request is a service provider's signing address: after login the
// request's document becomes a document of the session, shown as any
// other, and its confirmation or refusal goes back to the provider.
func (h *Handler) request(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s := h.sessions.get(r, h.now())
	if h.cfg.Requests == nil {
		h.errorPage(w, r, s, citizen.ErrRequestNotFound)
		return
	}
	req, err := h.cfg.Requests.Pending(id)
	if err != nil {
		h.errorPage(w, r, s, err)
		return
	}
	if s == nil || s.level < citizen.LevelSubstantial {
		seeOther(w, r, "/login?request="+url.QueryEscape(id))
		return
	}
	var have string
	h.sessions.with(s, func(s *session) {
		s.request = ""
		for _, d := range s.docs {
			if d.request == id && d.signed == nil { // under the table's lock
				have = d.id
			}
		}
	})
	if have != "" {
		seeOther(w, r, "/sign/"+have)
		return
	}
	d, err := h.newDocument(r.Context(), "dokument.pdf", req.Document)
	if err != nil {
		h.errorPage(w, r, s, err)
		return
	}
	d.request = id
	h.sessions.addDoc(s, d)
	seeOther(w, r, "/sign/"+d.id)
}
