package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/citizen"
)

// Self-service: the citizen's certificates (each can be suspended), the
// code card (keys left, order a new one), the code app, the password.

// meData is the account page.
type meData struct {
	Certificates []certRow
	Summary      *citizen.Summary
}

// certRow is one certificate as the citizen sees it.
type certRow struct {
	Serial    string
	Profile   string
	Status    string // a catalogue key
	Good      bool
	NotBefore time.Time
	NotAfter  time.Time
}

func (h *Handler) mePage(w http.ResponseWriter, r *http.Request, s *session) {
	h.sessions.with(s, func(s *session) { s.app = nil }) // the QR code is shown once
	p := h.newPage(r, s, "title.me")
	d, err := h.meData(r, s)
	if err != nil {
		h.errorPage(w, r, s, err)
		return
	}
	p.Data = d
	h.render(w, http.StatusOK, "me", p)
}

func (h *Handler) meData(r *http.Request, s *session) (*meData, error) {
	sum, err := h.svc.Show(r.Context(), s.userID)
	if err != nil {
		return nil, err
	}
	certs, err := h.svc.MyCertificates(r.Context(), s.citizenID)
	if err != nil {
		return nil, err
	}
	d := &meData{Summary: sum}
	now := h.now()
	for _, c := range certs {
		row := certRow{Serial: c.Serial.String(), Profile: c.Profile, NotBefore: c.NotBefore, NotAfter: c.NotAfter, Status: "me.status." + string(c.Status)}
		switch {
		case c.Status == ca.StatusGood && !now.Before(c.NotAfter):
			row.Status = "me.status.expired"
		case c.Status == ca.StatusGood:
			row.Good = true
		}
		d.Certificates = append(d.Certificates, row)
	}
	return d, nil
}

func (h *Handler) suspend(w http.ResponseWriter, r *http.Request, s *session) {
	cert, err := h.svc.SuspendMine(r.Context(), s.citizenID, r.PathValue("serial"))
	if err != nil {
		h.errorPage(w, r, s, err)
		return
	}
	h.sessions.with(s, func(s *session) {
		s.notice = fmt.Sprintf(text(language(r), "me.suspended"), cert.Serial.String())
	})
	seeOther(w, r, "/me")
}

func (h *Handler) orderCard(w http.ResponseWriter, r *http.Request, s *session) {
	if _, err := h.svc.OrderCard(r.Context(), s.citizenID); err != nil {
		h.errorPage(w, r, s, err)
		return
	}
	seeOther(w, r, "/me#card")
}

func (h *Handler) passwordPage(w http.ResponseWriter, r *http.Request, s *session) {
	h.render(w, http.StatusOK, "password", h.newPage(r, s, "title.password"))
}

func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request, s *session) {
	p := h.newPage(r, s, "title.password")
	current := r.PostFormValue("current")
	if current == "" {
		p.Errors = append(p.Errors, fieldError{"current", p.T("err.required")})
	}
	if !h.checkNewPassword(r, p) || current == "" {
		h.render(w, http.StatusBadRequest, "password", p)
		return
	}
	if err := h.svc.ChangeOwnPassword(r.Context(), s.citizenID, current, r.PostFormValue("new")); err != nil {
		h.passwordError(w, r, p, "password", err)
		return
	}
	h.sessions.with(s, func(s *session) { s.notice = text(language(r), "password.changed") })
	seeOther(w, r, "/me")
}

// appData is the code app's activation form.
type appData struct {
	Keys [2]string
	URI  string
	Done bool
}

func (h *Handler) appPage(w http.ResponseWriter, r *http.Request, s *session) {
	p := h.newPage(r, s, "title.app")
	keys, err := h.svc.AppChallenge(r.Context(), s.citizenID)
	if err != nil {
		h.errorPage(w, r, s, err)
		return
	}
	p.Data = appData{Keys: keys}
	h.render(w, http.StatusOK, "app", p)
}

func (h *Handler) activateApp(w http.ResponseWriter, r *http.Request, s *session) {
	p := h.newPage(r, s, "title.app")
	keys, err := h.svc.AppChallenge(r.Context(), s.citizenID)
	if err != nil {
		h.errorPage(w, r, s, err)
		return
	}
	p.Data = appData{Keys: keys}
	en, err := h.svc.ActivateApp(r.Context(), s.citizenID, r.PostFormValue("code1"), r.PostFormValue("code2"))
	if err != nil {
		h.fail(w, r, p, "app", "code1", err)
		return
	}
	h.sessions.with(s, func(s *session) { s.app = en })
	p.Title = "title.app_done"
	p.Data = appData{URI: en.URI, Done: true}
	h.render(w, http.StatusOK, "app", p)
}

// appQR serves the QR code of the activation just made, while the session
// holds it (until the account page is next shown).
func (h *Handler) appQR(w http.ResponseWriter, r *http.Request, s *session) {
	var png []byte
	h.sessions.with(s, func(s *session) {
		if s.app != nil {
			png = s.app.QR
		}
	})
	if png == nil {
		h.errorPage(w, r, s, citizen.ErrNotFound)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(png)
}
