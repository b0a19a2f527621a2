package httpguard

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// sessionRequest sends method /session to srv with the headers in kv
// (name, value, …) and returns the answer and its cookies by name.
func sessionRequest(t *testing.T, srv *httptest.Server, method string, kv ...string) (*http.Response, map[string]*http.Cookie) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+"/session", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	cookies := map[string]*http.Cookie{}
	for _, c := range resp.Cookies() {
		cookies[c.Name] = c
	}
	return resp, cookies
}

// getWithCookie sends GET / with one cookie and returns the status.
func getWithCookie(t *testing.T, srv *httptest.Server, c *http.Cookie) int {
	t.Helper()
	req, err := http.NewRequest("GET", srv.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// sessionServer serves g's /session and, on every other path, g.Authorize.
func sessionServer(g *Guard, tls bool) *httptest.Server {
	mux := http.NewServeMux()
	mux.Handle("/session", g.SessionHandler())
	mux.Handle("/", g.Authorize(passed))
	if tls {
		return httptest.NewTLSServer(mux)
	}
	return httptest.NewServer(mux)
}

// The web UI trades its token for an HttpOnly session cookie, which no
// script can read; the token itself is never in a cookie again, and the
// old script-readable one is expired. A restart (a new Guard, even with
// the same token) revokes every session (issue 15, item 8).
func TestSessionCookie(t *testing.T) {
	for _, tc := range []struct {
		tls    bool
		name   string
		secure bool
	}{
		{false, SessionCookie, false},
		{true, SecureSessionCookie, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuard(t, Config{AuthFailures: 1})
			srv := sessionServer(g, tc.tls)
			t.Cleanup(srv.Close)
			if resp, _ := sessionRequest(t, srv, "POST"); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("POST /session without a token: %s, want 401", resp.Status)
			}
			if resp, _ := sessionRequest(t, srv, "POST", "Authorization", "Bearer "+token, "Origin", "http://evil.example"); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("POST /session from a foreign origin: %s, want 403", resp.Status)
			}
			resp, cookies := sessionRequest(t, srv, "POST", "Authorization", "Bearer "+token, "Origin", srv.URL)
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("POST /session with the token: %s, want 204", resp.Status)
			}
			c := cookies[tc.name]
			if c == nil {
				t.Fatalf("no %s cookie set: %v", tc.name, resp.Header["Set-Cookie"])
			}
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" || c.Secure != tc.secure || c.MaxAge != 0 {
				t.Errorf("session cookie %q: want HttpOnly, SameSite=Strict, Path=/, no Domain, Secure=%v, no Max-Age", c, tc.secure)
			}
			if c.Value == token || c.Value == "" {
				t.Errorf("session cookie value %q: want one derived from the token", c.Value)
			}
			if old := cookies["lodestone_token"]; old == nil || old.MaxAge >= 0 {
				t.Errorf("the old token cookie is not expired: %v", resp.Header["Set-Cookie"])
			}
			if got := getWithCookie(t, srv, c); got != http.StatusOK {
				t.Fatalf("a request with the session cookie: %d, want 200", got)
			}
			// A restart draws a new key: the old session is refused, and
			// is not counted as a wrong guess (AuthFailures is 1).
			g2 := newGuard(t, Config{AuthFailures: 1})
			srv2 := sessionServer(g2, tc.tls)
			t.Cleanup(srv2.Close)
			for range 3 {
				if got := getWithCookie(t, srv2, c); got != http.StatusUnauthorized {
					t.Fatalf("the session of an earlier run: %d, want 401", got)
				}
			}
			if w := g2.auth.wait(ClientKey("127.0.0.1:1")); w != 0 {
				t.Fatalf("stale session cookies were counted as guesses: wait %v", w)
			}
			resp, cookies = sessionRequest(t, srv, "DELETE", "Origin", srv.URL)
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("DELETE /session: %s, want 204", resp.Status)
			}
			if c := cookies[tc.name]; c == nil || c.MaxAge >= 0 {
				t.Errorf("DELETE /session did not expire the cookie: %v", resp.Header["Set-Cookie"])
			}
		})
	}
}
