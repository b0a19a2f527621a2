package qbittorrent

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/lodestone-bt/lodestone/internal/httpguard"
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
// expires and who logged in; using a session extends it.
type sessions struct {
	mu   sync.Mutex
	byID map[string]*session
	now  func() time.Time
}

// session is one login: when it expires, and the credential it was opened
// with (the token, or an API key: its scope, and its end at the key's
// revocation).
type session struct {
	exp time.Time
	p   httpguard.Principal
}

func newSessions() *sessions {
	return &sessions{byID: map[string]*session{}, now: time.Now}
}

// create starts a session for p and returns its SID.
func (s *sessions) create(p httpguard.Principal) string {
	var b [24]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	sid := base64.RawURLEncoding.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if len(s.byID) >= maxSessions {
		oldest, when := "", time.Time{}
		for id, ss := range s.byID {
			if !ss.exp.After(now) || !ss.p.Live() {
				delete(s.byID, id)
				continue
			}
			if oldest == "" || ss.exp.Before(when) {
				oldest, when = id, ss.exp
			}
		}
		if len(s.byID) >= maxSessions {
			delete(s.byID, oldest)
		}
	}
	s.byID[sid] = &session{exp: now.Add(sessionTimeout), p: p}
	return sid
}

// valid returns who r's session logged in as, if r carries a live
// session, extending it. A session whose key was revoked ends here.
// Every SID cookie of r is tried, so one planted by another page of this
// host cannot shadow the right one.
func (s *sessions) valid(r *http.Request) (httpguard.Principal, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, c := range r.Cookies() {
		if c.Name != SIDCookie {
			continue
		}
		ss, ok := s.byID[c.Value]
		if !ok {
			continue
		}
		if !ss.exp.After(now) || !ss.p.Live() {
			delete(s.byID, c.Value)
			continue
		}
		ss.exp = now.Add(sessionTimeout)
		return ss.p, true
	}
	return httpguard.Principal{}, false
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
// token or a live API key, and returns who it authenticated as; otherwise
// it answers as qBittorrent does (403 "Forbidden") and returns false. A
// wrong bearer token or key counts against the address's backoff like any
// wrong token, and one sent while the address waits is answered 429 by
// the Guard.
func (h *Handler) authorized(w http.ResponseWriter, r *http.Request) (httpguard.Principal, bool) {
	if p, ok := h.sessions.valid(r); ok {
		h.guard.Touch(p)
		if h.admit != nil {
			h.admit(r)
		}
		return p, true
	}
	if r.Header.Get("Authorization") != "" {
		p, ref := h.guard.Authenticate(r)
		if ref == nil {
			return p, true
		}
		if ref.Status == http.StatusTooManyRequests {
			h.guard.Refuse(w, r, ref)
			return httpguard.Principal{}, false
		}
	}
	writeStatus(w, http.StatusForbidden, "Forbidden")
	return httpguard.Principal{}, false
}

// login is auth/login: the form's password is the API token or an API key
// (the user name is ignored); the session has that credential's scope. Right: "Ok." and a SID cookie. Wrong: "Fails.", and
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
	p, ref := h.guard.Authenticate(gr)
	if ref != nil {
		if ref.Status == http.StatusTooManyRequests {
			writeStatus(w, http.StatusForbidden, bannedMessage)
			return
		}
		writeText(w, "Fails.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     SIDCookie,
		Value:    h.sessions.create(p),
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
