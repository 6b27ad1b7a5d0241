package web

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/oces-pki/oces/api"
	"github.com/oces-pki/oces/citizen"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFS embed.FS

// staticFiles serves the CSS and the small script; they hold nothing
// personal and may be cached.
func staticFiles() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// pages are the parsed templates, one set per page with the layout.
type pages struct{ m map[string]*template.Template }

func loadPages() (*pages, error) {
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{m: map[string]*template.Template{}}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New(name).ParseFS(templateFiles, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("web: parsing %s: %w", n, err)
		}
		p.m[name] = t
	}
	return p, nil
}

// page is what every template gets.
type page struct {
	Lang  string
	Title string // a catalogue key
	Path  string // the current path, for the language switch
	User  string // the logged-in user ID, "" before login
	// Level is the session's NSIS level name when logged in.
	Level  string
	Notice string // a catalogue key or a formatted message
	Errors []fieldError
	Data   any

	loc *time.Location // dates are shown in this zone
}

// fieldError is a message for a field ("" for the whole form), shown in
// the summary at the top and next to its field.
type fieldError struct {
	Field string
	Msg   string
}

// T is the catalogue entry key in the page's language.
func (p *page) T(key string) string { return text(p.Lang, key) }

// Tf formats the catalogue entry key with args.
func (p *page) Tf(key string, args ...any) string { return fmt.Sprintf(text(p.Lang, key), args...) }

// Err is the message for a field, or "".
func (p *page) Err(field string) string {
	for _, e := range p.Errors {
		if e.Field == field {
			return e.Msg
		}
	}
	return ""
}

// Profile names a certificate profile for a citizen, or gives its name.
func (p *page) Profile(name string) string {
	if _, ok := catalogue["me.profile."+name]; ok {
		return text(p.Lang, "me.profile."+name)
	}
	return name
}

// Other is the language the switch offers.
func (p *page) Other() string {
	if p.Lang == "en" {
		return "da"
	}
	return "en"
}

// Date formats a time for the page's language.
func (p *page) Date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	if p.Lang == "en" {
		return t.In(p.loc).Format("2 Jan 2006 15:04 MST")
	}
	return t.In(p.loc).Format("2.1.2006 kl. 15.04 MST")
}

// newPage starts the page of a request.
func (h *Handler) newPage(r *http.Request, s *session, title string) *page {
	p := &page{Lang: language(r), Title: title, Path: r.URL.Path, loc: h.cfg.Location}
	if s != nil {
		p.User, p.Level = s.userID, s.level.String()
		h.sessions.with(s, func(s *session) { p.Notice, s.notice = s.notice, "" })
	}
	return p
}

// render writes page name with status.
func (h *Handler) render(w http.ResponseWriter, status int, name string, p *page) {
	t, ok := h.pages.m[name]
	if !ok {
		h.log.Error("web: no such template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", p); err != nil {
		h.log.Error("web: rendering a page failed", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", p.Lang)
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// messages maps domain errors to catalogue keys; the status comes from
// the one error table (api.StatusOf).
var messages = []struct {
	err error
	key string
}{
	{citizen.ErrAuthFailed, "err.auth"},
	{citizen.ErrCardSuspended, "err.card_suspended"},
	{citizen.ErrSuspended, "err.account_suspended"},
	{citizen.ErrLevel, "err.session"},
	{citizen.ErrSAD, "err.sad"},
	{citizen.ErrPasswordChange, "err.password_change"},
	{citizen.ErrRequestNotFound, "err.request_not_found"},
	{citizen.ErrRequestGone, "err.request_gone"},
	{errTooLarge, "err.too_large"},
	{errTooManyPages, "err.too_many_pages"},
	{errNotPDF, "err.not_pdf"},
	{errRender, "err.render"},
	{errEmpty, "err.empty"},
	{citizen.ErrNotFound, "err.not_found"},
}

// messageOf is the catalogue key of err, "err.internal" for an
// unexpected one.
func messageOf(err error) string {
	for _, m := range messages {
		if errors.Is(err, m.err) {
			return m.key
		}
	}
	return "err.internal"
}

// fail renders page name again with err's message on field, at err's
// status. An unexpected error is logged, and the citizen told only that
// something went wrong.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, p *page, name, field string, err error) {
	key := messageOf(err)
	status := api.StatusOf(err)
	if key == "err.internal" || status >= 500 {
		h.log.ErrorContext(r.Context(), "web: request failed", "path", r.URL.Path, "err", err)
	}
	p.Errors = append(p.Errors, fieldError{Field: field, Msg: p.T(key)})
	h.render(w, status, name, p)
}

// errorPage renders a page with one message and no form.
func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, s *session, err error) {
	p := h.newPage(r, s, "title.error")
	h.fail(w, r, p, "error", "", err)
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.errorPage(w, r, h.sessions.get(r, h.now()), fmt.Errorf("%w: no page at %s", citizen.ErrNotFound, r.URL.Path))
}

// crossOrigin answers a refused cross-origin request.
func (h *Handler) crossOrigin(w http.ResponseWriter, r *http.Request) {
	p := h.newPage(r, nil, "title.error")
	p.Errors = []fieldError{{Msg: p.T("err.cross_origin")}}
	h.render(w, http.StatusForbidden, "error", p)
}

// seeOther redirects after a POST (303, so the browser GETs).
func seeOther(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// authed runs fn for a session at level substantial; any other request
// goes to the login page.
func (h *Handler) authed(fn func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := h.sessions.get(r, h.now())
		if s == nil || s.level < citizen.LevelSubstantial {
			seeOther(w, r, "/login")
			return
		}
		fn(w, r, s)
	}
}

// setSession sets the session cookie; an empty id clears it.
func setSession(w http.ResponseWriter, id string) {
	c := &http.Cookie{Name: sessionCookie, Value: id, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode}
	if id == "" {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// localPath is next if it is a path on this site, else "/".
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/"
	}
	return next
}
