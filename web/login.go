package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/oces-pki/oces/citizen"
	"github.com/oces-pki/oces/internal/ratelimit"
)

// The login: user ID and password (level low), then a one-time code from
// the code card key the page names, or from the code app (level
// substantial). An initial password is changed between the two.

func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	if s := h.sessions.get(r, h.now()); s != nil && s.level >= citizen.LevelSubstantial {
		seeOther(w, r, "/sign")
		return
	}
	seeOther(w, r, "/login")
}

// loginData is the login form.
type loginData struct {
	UserID  string
	Request string // a service provider's request ID
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	s := h.sessions.get(r, h.now())
	if s != nil && s.level >= citizen.LevelSubstantial {
		seeOther(w, r, "/sign")
		return
	}
	p := h.newPage(r, nil, "title.login")
	d := loginData{Request: r.URL.Query().Get("request")}
	if d.Request != "" && h.cfg.Requests != nil {
		if req, err := h.cfg.Requests.Pending(d.Request); err == nil {
			d.UserID = req.UserHint
		} else {
			d.Request = ""
		}
	}
	if r.URL.Query().Has("bye") {
		p.Notice = p.T("logout.done")
	}
	if r.URL.Query().Has("expired") {
		p.Notice = p.T("err.session")
	}
	p.Data = d
	h.render(w, http.StatusOK, "login", p)
}

func (h *Handler) loginPassword(w http.ResponseWriter, r *http.Request) {
	p := h.newPage(r, nil, "title.login")
	d := loginData{UserID: strings.TrimSpace(r.PostFormValue("user_id")), Request: r.PostFormValue("request")}
	p.Data = d
	pw := r.PostFormValue("password")
	if d.UserID == "" {
		p.Errors = append(p.Errors, fieldError{"user_id", p.T("err.required")})
	}
	if pw == "" {
		p.Errors = append(p.Errors, fieldError{"password", p.T("err.required")})
	}
	if len(p.Errors) > 0 {
		h.render(w, http.StatusBadRequest, "login", p)
		return
	}
	if l := h.cfg.LoginLimit; l != nil && !l.Allow(ratelimit.ClientAddr(r), h.now()) {
		w.Header().Set("Retry-After", "60")
		p.Errors = append(p.Errors, fieldError{"", p.T("err.too_many")})
		h.render(w, http.StatusTooManyRequests, "login", p)
		return
	}
	cs, err := h.svc.Password(r.Context(), strings.ToLower(d.UserID), pw)
	if err != nil {
		h.fail(w, r, p, "login", "password", err)
		return
	}
	if old := h.sessions.get(r, h.now()); old != nil {
		h.sessions.end(old.id, h.now())
	}
	s := h.sessions.create(cs, d.Request, h.now())
	setSession(w, s.id)
	if cs.MustChangePassword {
		seeOther(w, r, "/login/new-password")
		return
	}
	seeOther(w, r, "/login/code")
}

// lowSession is the session between password and code, or nil.
func (h *Handler) lowSession(w http.ResponseWriter, r *http.Request) (*session, *citizen.Session) {
	s := h.sessions.get(r, h.now())
	if s == nil {
		seeOther(w, r, "/login")
		return nil, nil
	}
	if s.level >= citizen.LevelSubstantial {
		seeOther(w, r, "/sign")
		return nil, nil
	}
	cs, err := h.svc.Session(s.citizenID)
	if err != nil {
		h.sessions.end(s.id, h.now())
		setSession(w, "")
		seeOther(w, r, "/login?expired=1")
		return nil, nil
	}
	return s, cs
}

// codeData is the second factor's form.
type codeData struct {
	Challenge string
	CodeApp   bool
}

func (h *Handler) codePage(w http.ResponseWriter, r *http.Request) {
	s, cs := h.lowSession(w, r)
	if s == nil {
		return
	}
	if cs.MustChangePassword {
		seeOther(w, r, "/login/new-password")
		return
	}
	p := h.newPage(r, nil, "title.code")
	p.Data = codeData{Challenge: cs.Challenge, CodeApp: cs.CodeApp}
	if cs.Challenge == "" && !cs.CodeApp {
		h.fail(w, r, p, "code", "", citizen.ErrCardSuspended)
		return
	}
	h.render(w, http.StatusOK, "code", p)
}

func (h *Handler) loginCode(w http.ResponseWriter, r *http.Request) {
	s, cs := h.lowSession(w, r)
	if s == nil {
		return
	}
	p := h.newPage(r, nil, "title.code")
	p.Data = codeData{Challenge: cs.Challenge, CodeApp: cs.CodeApp}
	code := strings.TrimSpace(r.PostFormValue("code"))
	if code == "" {
		p.Errors = []fieldError{{"code", p.T("err.required")}}
		h.render(w, http.StatusBadRequest, "code", p)
		return
	}
	up, err := h.svc.Code(r.Context(), s.citizenID, code)
	if err != nil {
		if errors.Is(err, citizen.ErrLevel) {
			seeOther(w, r, "/login?expired=1")
			return
		}
		h.fail(w, r, p, "code", "code", err)
		return
	}
	var next string
	h.sessions.with(s, func(s *session) {
		s.level = up.Level
		next = "/sign"
		if s.request != "" {
			next = "/request/" + url.PathEscape(s.request)
		}
	})
	seeOther(w, r, next)
}

func (h *Handler) initialPasswordPage(w http.ResponseWriter, r *http.Request) {
	s, cs := h.lowSession(w, r)
	if s == nil {
		return
	}
	if !cs.MustChangePassword {
		seeOther(w, r, "/login/code")
		return
	}
	p := h.newPage(r, nil, "title.new_password")
	p.User = s.userID
	h.render(w, http.StatusOK, "newpassword", p)
}

func (h *Handler) initialPassword(w http.ResponseWriter, r *http.Request) {
	s, _ := h.lowSession(w, r)
	if s == nil {
		return
	}
	p := h.newPage(r, nil, "title.new_password")
	p.User = s.userID
	if !h.checkNewPassword(r, p) {
		h.render(w, http.StatusBadRequest, "newpassword", p)
		return
	}
	if err := h.svc.ChangePassword(r.Context(), s.citizenID, r.PostFormValue("new")); err != nil {
		h.passwordError(w, r, p, "newpassword", err)
		return
	}
	seeOther(w, r, "/login/code")
}

// checkNewPassword checks the form's two new passwords are given and
// equal; the rules themselves are the citizen service's.
func (h *Handler) checkNewPassword(r *http.Request, p *page) bool {
	nw, again := r.PostFormValue("new"), r.PostFormValue("repeat")
	switch {
	case nw == "":
		p.Errors = append(p.Errors, fieldError{"new", p.T("err.required")})
	case nw != again:
		p.Errors = append(p.Errors, fieldError{"repeat", p.T("err.password_repeat")})
	}
	return len(p.Errors) == 0
}

// passwordError shows a refused new password: the rules, or the error.
func (h *Handler) passwordError(w http.ResponseWriter, r *http.Request, p *page, name string, err error) {
	if errors.Is(err, citizen.ErrInvalidRequest) {
		p.Errors = append(p.Errors, fieldError{"new", p.T("err.password_rules")})
		h.render(w, http.StatusBadRequest, name, p)
		return
	}
	h.fail(w, r, p, name, "current", err)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if s := h.sessions.get(r, h.now()); s != nil {
		h.sessions.end(s.id, h.now())
	}
	setSession(w, "")
	seeOther(w, r, "/login?bye=1")
}
