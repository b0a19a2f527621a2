package httpguard

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"

	"github.com/lodestone-bt/lodestone/api"
)

// The web UI's session cookie. The UI trades the token for it once
// (POST /session), so that plain links (a file streamed into a <video>
// tag) are authorised without the token ever being in a cookie. It is
// HttpOnly: no script, of this page or of another port of the same host
// (cookies are not separated by port), can read it. Over TLS it carries
// the __Host- prefix, which also keeps other hosts of the domain and
// plain-HTTP pages from setting it.
const (
	SessionCookie       = "lodestone_session"
	SecureSessionCookie = "__Host-lodestone_session"
)

// legacyTokenCookie is the cookie earlier web UIs set from script, with
// the token itself in it. It is no longer accepted, and POST /session
// expires it.
const legacyTokenCookie = "lodestone_token"

// sessionValue derives the session cookie's value from token with a key
// drawn for this process: HMAC-SHA256, base64url. A restart (or a new
// token, which needs one) changes it, revoking every session.
func sessionValue(token string) (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("httpguard: session key: %w", err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(token))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

// hasSession reports whether r carries this process's session cookie,
// under either name. Every cookie of those names is compared, so one
// planted by another page of this host cannot shadow the right one.
func (g *Guard) hasSession(r *http.Request) bool {
	for _, c := range r.Cookies() {
		if (c.Name == SessionCookie || c.Name == SecureSessionCookie) &&
			subtle.ConstantTimeCompare([]byte(c.Value), []byte(g.session)) == 1 {
			return true
		}
	}
	return false
}

// SessionHandler serves the web UI's /session. POST passes Check (so it
// needs the token, and wrong tokens count as anywhere else) and answers
// 204 with the session cookie: HttpOnly, SameSite=Strict, Path=/, and
// Secure with the __Host- name when r came over TLS; it also expires the
// old script-readable token cookie. DELETE passes the Host and Origin
// gates only (a browser whose token is no longer right may still log
// out) and answers 204, expiring the session cookie in that browser; the
// value stays valid until the daemon restarts.
func (g *Guard) SessionHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ref := g.CheckHost(r)
		if ref == nil {
			ref = g.checkOrigin(r)
		}
		if ref == nil && r.Method == http.MethodPost {
			ref = g.Check(r)
		}
		if ref != nil {
			g.Refuse(w, r, ref)
			return
		}
		name, secure := SessionCookie, r.TLS != nil
		if secure {
			name = SecureSessionCookie
		}
		c := &http.Cookie{Name: name, Path: "/", HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode}
		switch r.Method {
		case http.MethodPost:
			c.Value = g.session
			http.SetCookie(w, c)
			http.SetCookie(w, &http.Cookie{Name: legacyTokenCookie, Path: "/", MaxAge: -1})
		case http.MethodDelete:
			c.MaxAge = -1
			http.SetCookie(w, c)
		default:
			w.Header().Set("Allow", "POST, DELETE")
			WriteError(w, http.StatusMethodNotAllowed, api.CodeInvalidRequest, "method not allowed")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	})
}
