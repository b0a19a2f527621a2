package qbittorrent

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"time"
)

// SIDCookie is the session cookie auth/login sets, as qBittorrent names it.
const SIDCookie = "SID"

// Session limits: qBittorrent's default WebUI session timeout, and a cap
// on live sessions so that logins in a loop cannot grow memory without
// bound (the oldest session is dropped first).
const (
	sessionTimeout = time.Hour
	maxSessions    = 1024
)

// bannedMessage is qBittorrent's answer to a login from an address that
// failed too often.
const bannedMessage = "Your IP address has been banned after too many failed authentication attempts."

var authRoutes = map[string]route{
	"auth/login":  {fn: (*Handler).login, change: true},
	"auth/logout": {fn: (*Handler).logout, change: true},
}

// sessions are the live login sessions, by SID, each with the time it
// expires; using a session extends it.
type sessions struct {
	mu   sync.Mutex
	byID map[string]time.Time
	now  func() time.Time
}

func newSessions() *sessions {
	return &sessions{byID: map[string]time.Time{}, now: time.Now}
}

// create starts a session and returns its SID.
func (s *sessions) create() string {
	var b [24]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	sid := base64.RawURLEncoding.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if len(s.byID) >= maxSessions {
		oldest, when := "", time.Time{}
		for id, exp := range s.byID {
			if !exp.After(now) {
				delete(s.byID, id)
				continue
			}
			if oldest == "" || exp.Before(when) {
				oldest, when = id, exp
			}
		}
		if len(s.byID) >= maxSessions {
			delete(s.byID, oldest)
		}
	}
	s.byID[sid] = now.Add(sessionTimeout)
	return sid
}

// valid reports whether sid is a live session, extending it if so.
// Every SID cookie of r is tried, so one planted by another page of this
// host cannot shadow the right one.
func (s *sessions) valid(r *http.Request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, c := range r.Cookies() {
		if c.Name != SIDCookie {
			continue
		}
		exp, ok := s.byID[c.Value]
		if !ok {
			continue
		}
		if !exp.After(now) {
			delete(s.byID, c.Value)
			continue
		}
		s.byID[c.Value] = now.Add(sessionTimeout)
		return true
	}
	return false
}

// end drops the sessions r carries.
func (s *sessions) end(r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range r.Cookies() {
		if c.Name == SIDCookie {
			delete(s.byID, c.Value)
		}
	}
}

// authorized lets r pass if it carries a live SID or the right bearer
// token; otherwise it answers as qBittorrent does (403 "Forbidden") and
// returns false. A wrong bearer token counts against the address's
// backoff like any wrong token, and one sent while the address waits is
// answered 429 by the Guard.
func (h *Handler) authorized(w http.ResponseWriter, r *http.Request) bool {
	if h.sessions.valid(r) {
		if h.admit != nil {
			h.admit(r)
		}
		return true
	}
	if r.Header.Get("Authorization") != "" {
		ref := h.guard.Check(r)
		if ref == nil {
			return true
		}
		if ref.Status == http.StatusTooManyRequests {
			h.guard.Refuse(w, r, ref)
			return false
		}
	}
	writeStatus(w, http.StatusForbidden, "Forbidden")
	return false
}

// login is auth/login: the form's password is the API token (the user
// name is ignored). Right: "Ok." and a SID cookie. Wrong: "Fails.", and
// the address's backoff counts it; while it waits, 403 with qBittorrent's
// ban message.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(r); err != nil {
		writeStatus(w, http.StatusBadRequest, err.Error())
		return
	}
	pass := r.FormValue("password")
	if strings.TrimSpace(pass) == "" {
		writeText(w, "Fails.")
		return
	}
	// The guard judges the password as a bearer token, so wrong ones are
	// counted and backed off exactly as on every other endpoint.
	gr := r.Clone(r.Context())
	gr.Header.Set("Authorization", "Bearer "+pass)
	gr.Header.Del("Cookie")
	if ref := h.guard.Check(gr); ref != nil {
		if ref.Status == http.StatusTooManyRequests {
			writeStatus(w, http.StatusForbidden, bannedMessage)
			return
		}
		writeText(w, "Fails.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     SIDCookie,
		Value:    h.sessions.create(),
		Path:     "/",
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	writeText(w, "Ok.")
}

// logout is auth/logout: it ends the session and expires the cookie.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	h.sessions.end(r)
	http.SetCookie(w, &http.Cookie{Name: SIDCookie, Path: "/", MaxAge: -1})
	writeText(w, "")
}

// maxMemory is how much of a multipart form is held in memory; the rest
// goes to temporary files, removed when the request ends.
const maxMemory = 8 << 20

// parseForm parses r's query and body, urlencoded or multipart, as
// qBittorrent accepts either.
func parseForm(r *http.Request) error {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		if r.MultipartForm != nil {
			return nil
		}
		return r.ParseMultipartForm(maxMemory)
	}
	return r.ParseForm()
}
