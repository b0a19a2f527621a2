package qbittorrent

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// probe is one request of the security test: how it is built and what
// qBittorrent's rules make of it.
type probe struct {
	name string
	// withSID sends the cookie of a good login.
	withSID bool
	method  string
	path    string
	form    url.Values
	edit    func(srv *server, r *http.Request)
	// refused is true when the server must not serve it (any 4xx).
	refused bool
}

func foreignOrigin(_ *server, r *http.Request) { r.Header.Set("Origin", "http://evil.example") }
func foreignReferer(_ *server, r *http.Request) {
	r.Header.Set("Referer", "http://evil.example/page")
}
func sameOrigin(srv *server, r *http.Request) { r.Header.Set("Origin", "http://"+srv.hostPort) }
func reboundHost(srv *server, r *http.Request) {
	_, port, _ := strings.Cut(srv.hostPort, ":")
	r.Host = "rebound.example:" + port
}

// securityProbes are the requests qBittorrent's WebUI refuses (or lets
// pass, to show the check is not blunt), in order; the answers of both
// servers are compared.
func securityProbes(srv *server) []probe {
	good := url.Values{"username": {srv.user}, "password": {srv.pass}}
	return []probe{
		{name: "webapiVersion without cookie", method: "GET", path: "app/webapiVersion", refused: true},
		{name: "torrents/info without cookie", method: "GET", path: "torrents/info", refused: true},
		{name: "createCategory without cookie", method: "POST", path: "torrents/createCategory", form: url.Values{"category": {"x"}}, refused: true},
		{name: "stale cookie", method: "GET", path: "app/version", edit: func(_ *server, r *http.Request) {
			r.AddCookie(&http.Cookie{Name: "SID", Value: "stale0123456789abcdefghijklmnop"})
		}, refused: true},
		{name: "login with a wrong password", method: "POST", path: "auth/login", form: url.Values{"username": {srv.user}, "password": {"wrong"}}},
		{name: "login by GET", method: "GET", path: "auth/login?" + good.Encode(), refused: true},
		{name: "login from a foreign Origin", method: "POST", path: "auth/login", form: good, edit: foreignOrigin, refused: true},
		{name: "login to a rebound Host", method: "POST", path: "auth/login", form: good, edit: reboundHost, refused: true},
		{name: "POST from a foreign Origin", withSID: true, method: "POST", path: "torrents/createCategory", form: url.Values{"category": {"csrf"}}, edit: foreignOrigin, refused: true},
		{name: "POST from a foreign Referer", withSID: true, method: "POST", path: "torrents/createCategory", form: url.Values{"category": {"csrf"}}, edit: foreignReferer, refused: true},
		{name: "GET from a foreign Origin", withSID: true, method: "GET", path: "app/version", edit: foreignOrigin, refused: true},
		{name: "GET to a rebound Host", withSID: true, method: "GET", path: "app/version", edit: reboundHost, refused: true},
		{name: "POST from the same Origin", withSID: true, method: "POST", path: "torrents/createCategory", form: url.Values{"category": {"same"}}, edit: sameOrigin},
		{name: "GET on a POST endpoint", withSID: true, method: "GET", path: "torrents/pause?hashes=all", refused: true},
		{name: "Basic credentials without cookie", method: "GET", path: "app/version", edit: func(srv *server, r *http.Request) {
			r.SetBasicAuth(srv.user, srv.pass)
		}, refused: true},
	}
}

// securityAnswers runs securityProbes against srv, then a logout, then
// the ban: refMaxFails wrong passwords and the right one.
func securityAnswers(t *testing.T, srv *server) map[string]reply {
	t.Helper()
	got := map[string]reply{}
	s := &session{t: t, srv: srv}
	r := s.login(srv.user, srv.pass)
	if r.status != http.StatusOK || r.body != "Ok." || s.sid == "" {
		t.Fatalf("%s: login: %v, SID %q; want 200 Ok. and a cookie", srv.name, r, s.sid)
	}
	cookie := ""
	for _, c := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "SID=") {
			cookie = c
		}
	}
	if !strings.Contains(cookie, "HttpOnly") {
		t.Errorf("%s: the SID cookie %q is not HttpOnly", srv.name, cookie)
	}
	sid := s.sid
	for _, p := range securityProbes(srv) {
		ps := &session{t: t, srv: srv}
		if p.withSID {
			ps.sid = sid
		}
		var body *strings.Reader
		ct := ""
		if p.form != nil {
			body, ct = strings.NewReader(p.form.Encode()), "application/x-www-form-urlencoded"
		} else {
			body = strings.NewReader("")
		}
		path, query, _ := strings.Cut(p.path, "?")
		q, _ := url.ParseQuery(query)
		r := ps.do(p.method, path, q, body, ct, func(r *http.Request) {
			if p.edit != nil {
				p.edit(srv, r)
			}
		})
		got[p.name] = r
		if p.refused != (r.status >= 400) {
			t.Errorf("%s: %s: %v; want it %s", srv.name, p.name, r, map[bool]string{true: "refused", false: "served"}[p.refused])
		}
		if p.name == "login with a wrong password" && r.body != "Fails." {
			t.Errorf("%s: %s: %v; want Fails.", srv.name, p.name, r)
		}
	}

	// A logout ends the session.
	got["logout"] = s.post("auth/logout", nil)
	got["cookie after logout"] = s.get("app/version", nil)
	if r := got["cookie after logout"]; r.status != http.StatusForbidden {
		t.Errorf("%s: the cookie after logout: %v, want 403", srv.name, r)
	}

	// A wrong password from a client that holds a live session.
	b := &session{t: t, srv: srv}
	b.login(srv.user, srv.pass)
	got["wrong password with a live cookie"] = b.login(srv.user, "wrong")

	// Repeated failures after a good login (which clears the count on
	// both), without a cookie: each is Fails., then the address is
	// banned.
	b = &session{t: t, srv: srv}
	got["login before the failures"] = b.login(srv.user, srv.pass)
	b.sid = ""
	for i := range refMaxFails + 2 {
		got[fmt.Sprintf("wrong password %d", i+1)] = b.login(srv.user, "wrong")
	}
	if r := got[fmt.Sprintf("wrong password %d", refMaxFails+2)]; r.status != http.StatusForbidden {
		t.Errorf("%s: wrong password %d: %v; want 403 (banned)", srv.name, refMaxFails+2, r)
	}
	// qBittorrent bans the address, right password or not; Lodestone
	// never locks out its token (docs/COMPAT.md).
	got["right password after the failures"] = b.login(srv.user, srv.pass)
	if r := got["right password after the failures"]; (r.status == http.StatusForbidden) != (srv.name == referenceName) {
		t.Errorf("%s: the right password after the failures: %v", srv.name, r)
	}
	return got
}

// TestSecurity sends qBittorrent's refused requests (no cookie, a stale
// one, a wrong password, a login by GET, a foreign Origin or Referer, a
// rebound Host, GET on a POST endpoint, then repeated failures to a ban)
// to qbittorrent-nox 4.5.2 and to Lodestone: each must refuse what the
// reference refuses, and the statuses and bodies must agree but for the
// allow-listed differences. Lodestone also takes its token as a Bearer.
func TestSecurity(t *testing.T) {
	t.Parallel()
	seen := map[string]map[string]reply{}
	for _, start := range []func(*testing.T) *server{startReference, startLodestone} {
		srv := start(t)
		t.Run(srv.name, func(t *testing.T) {
			seen[srv.name] = securityAnswers(t, srv)
			if srv.name != lodestoneName {
				return
			}
			// Lodestone only: newer Sonarr sends an API key as a Bearer
			// token, which Lodestone takes as it takes its API token.
			s := &session{t: t, srv: srv}
			r := s.do("GET", "app/webapiVersion", nil, nil, "", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+srv.pass) })
			if r.status != http.StatusOK || len(parseVersion(r.body)) < 2 {
				t.Errorf("lodestone: webapiVersion with the token as Bearer: %v, want 200 and a version", r)
			}
			r = s.do("GET", "app/webapiVersion", nil, nil, "", func(r *http.Request) { r.Header.Set("Authorization", "Bearer wrong-token") })
			if r.status != http.StatusForbidden {
				t.Errorf("lodestone: webapiVersion with a wrong Bearer: %v, want 403", r)
			}
		})
	}
	ref, lod := seen[referenceName], seen[lodestoneName]
	if ref == nil || lod == nil {
		t.Fatal("a server's answers are missing; nothing to compare")
	}
	diff := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(ref)) {
		r, l := ref[name], lod[name]
		if r.status != l.status || r.body != l.body {
			diff["security "+name] = fmt.Sprintf("%v, qbittorrent-nox: %v", l, r)
		}
	}
	checkDiffs(t, diff, func(id string) bool { return strings.HasPrefix(id, "security ") })
}
