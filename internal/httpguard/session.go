package httpguard

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

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

// sessionValue draws this process's session key and derives the token's
// session cookie value from token with it: HMAC-SHA256, base64url. A
// restart (or a new token, which needs one) changes it, revoking every
// session.
func sessionValue(token string) (key []byte, value string, err error) {
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, "", fmt.Errorf("httpguard: session key: %w", err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(token))
	return key, base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

// keySessionPrefix starts the session cookie value of an API key:
// "k.<key_id>.<mac>", the MAC (HMAC-SHA256 with the session key, base64url)
// being of "key\x00<key_id>". The key's secret is not in it; the cookie is
// worth nothing once the key is revoked or the daemon restarts.
const keySessionPrefix = "k."

// keySession returns the session cookie value of API key id.
func (g *Guard) keySession(id string) string {
	return keySessionPrefix + id + "." + g.keySessionMAC(id)
}

func (g *Guard) keySessionMAC(id string) string {
	m := hmac.New(sha256.New, g.sessionKey)
	m.Write([]byte("key\x00" + id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// sessionCookieValue returns the session cookie value that p's sessions
// carry.
func (g *Guard) sessionCookieValue(p Principal) string {
	if p.IsToken() {
		return g.session
	}
	return g.keySession(p.ID)
}

// sessionPrincipal returns who r's session cookie (either name) was issued
// to, if r carries one of this process's whose key, if any, is still
// live. Every cookie of those names is tried, so one planted by another
// page of this host cannot shadow the right one.
func (g *Guard) sessionPrincipal(r *http.Request) (Principal, bool) {
	for _, c := range r.Cookies() {
		if c.Name != SessionCookie && c.Name != SecureSessionCookie {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(c.Value), []byte(g.session)) == 1 {
			return tokenPrincipal, true
		}
		rest, ok := strings.CutPrefix(c.Value, keySessionPrefix)
		if !ok || g.keys == nil {
			continue
		}
		id, mac, ok := strings.Cut(rest, ".")
		if !ok || subtle.ConstantTimeCompare([]byte(mac), []byte(g.keySessionMAC(id))) != 1 {
			continue
		}
		if scope, revoked, ok := g.keys.Lookup(id); ok {
			return Principal{ID: id, Scope: scope, revoked: revoked}, true
		}
	}
	return Principal{}, false
}

// SessionHandler serves the web UI's /session. POST passes Authenticate
// (so it needs the token or an API key, and wrong ones count as anywhere
// else) and answers 204 with the session cookie of that credential (a
// key's session has the key's scope and ends with its revocation): HttpOnly, SameSite=Strict, Path=/, and
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
		var p Principal
		if ref == nil && r.Method == http.MethodPost {
			p, ref = g.Authenticate(r)
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
			c.Value = g.sessionCookieValue(p)
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
