package transmission_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestSecuritySideBySide sends the same hostile or clumsy requests to
// Lodestone and to transmission-daemon 3.00 (password and IP whitelist
// on) and asserts each one's answer. Where they differ, Lodestone is the
// stricter one, on purpose; docs/COMPAT.md lists each case.
func TestSecuritySideBySide(t *testing.T) {
	t.Parallel()
	for _, srv := range bothServers(t) {
		t.Run(srv.name, func(t *testing.T) {
			c := newRPC(t, srv)
			body := `{"method":"session-get"}`
			wrong := func(r *http.Request) { r.SetBasicAuth(srv.user, "wrong-password") }

			// No credentials, or a wrong password: 401 with a Basic
			// challenge, before anything else is looked at.
			for name, edit := range map[string]func(*http.Request){
				"no auth":        func(r *http.Request) { r.Header.Del("Authorization") },
				"wrong password": wrong,
			} {
				status, h, _ := c.post(body, edit)
				if status != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic ") {
					t.Errorf("%s: %s: HTTP %d, WWW-Authenticate %q; want 401 with a Basic challenge", srv.name, name, status, h.Get("WWW-Authenticate"))
				}
			}

			// The session id: missing, then stale, gets 409 with the
			// current one; with it the request passes.
			status, h, _ := c.post(body, nil)
			id := h.Get("X-Transmission-Session-Id")
			if status != http.StatusConflict || id == "" {
				t.Fatalf("%s: no session id: HTTP %d, id %q; want 409 with the id", srv.name, status, id)
			}
			c.session = "stale-" + id
			if status, h, _ := c.post(body, nil); status != http.StatusConflict || h.Get("X-Transmission-Session-Id") != id {
				t.Errorf("%s: stale session id: HTTP %d, id %q; want 409 with %q", srv.name, status, h.Get("X-Transmission-Session-Id"), id)
			}
			c.session = id
			if status, _, b := c.post(body, nil); status != http.StatusOK {
				t.Fatalf("%s: with the session id: HTTP %d %s", srv.name, status, b)
			}

			// Every case below has the right password and session id.
			for _, tc := range []struct {
				name string
				edit func(*http.Request)
				// want is the status from Lodestone and from the
				// reference.
				want map[string]int
			}{
				// DNS rebinding: a page of evil.example, resolved to
				// 127.0.0.1, posting with the browser's Host. 3.00
				// lets any Host through once a password is set;
				// Lodestone accepts loopback names and IP literals
				// only.
				{"rebound Host", func(r *http.Request) { r.Host = "evil.example:9091" },
					map[string]int{lodestone: http.StatusForbidden, transmission: http.StatusOK}},
				{"localhost Host", func(r *http.Request) { r.Host = "localhost:" + strings.Split(srv.host, ":")[1] },
					map[string]int{lodestone: http.StatusOK, transmission: http.StatusOK}},
				// A cross-site browser request: 3.00 relies on the
				// session id alone and ignores Origin.
				{"foreign Origin", func(r *http.Request) { r.Header.Set("Origin", "http://evil.example") },
					map[string]int{lodestone: http.StatusForbidden, transmission: http.StatusOK}},
				// A GET without a query is no RPC call.
				{"GET", func(r *http.Request) { r.Method = http.MethodGet; r.Body = http.NoBody; r.ContentLength = 0 },
					map[string]int{lodestone: http.StatusMethodNotAllowed, transmission: http.StatusMethodNotAllowed}},
			} {
				status, _, b := c.post(body, tc.edit)
				if want := tc.want[srv.name]; status != want {
					t.Errorf("%s: %s: HTTP %d %.100s; want %d", srv.name, tc.name, status, b, want)
				}
			}

			// Guessing the password: 3.00 answers 401 until its 100th
			// failure, then 403 to everyone until it restarts;
			// Lodestone tolerates 5 from an address, then answers 429
			// with Retry-After (a backoff that doubles), while the right
			// password still gets through.
			var statuses []int
			var retry string
			for range 7 {
				status, h, _ := c.post(body, wrong)
				statuses = append(statuses, status)
				retry = h.Get("Retry-After")
			}
			last := map[string]int{lodestone: http.StatusTooManyRequests, transmission: http.StatusUnauthorized}[srv.name]
			if statuses[0] != http.StatusUnauthorized || statuses[len(statuses)-1] != last || (last == http.StatusTooManyRequests && retry == "") {
				t.Errorf("%s: 7 wrong passwords: %v (last Retry-After %q); want 401 first and %d last", srv.name, statuses, retry, last)
			}
			if status, _, b := c.post(body, nil); status != http.StatusOK {
				t.Errorf("%s: the right password after the wrong ones: HTTP %d %s", srv.name, status, b)
			}
		})
	}
}
