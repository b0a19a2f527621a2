package daemon_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/qbittorrent"
)

// qbClient is a client of the qBittorrent API as qBittorrent's own
// clients behave: a cookie jar for the SID.
type qbClient struct {
	t    *testing.T
	base string
	http *http.Client
}

func newQB(t *testing.T, d *daemontest.Daemon) *qbClient {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &qbClient{t: t, base: "http://" + d.APIAddr() + qbittorrent.Prefix, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// do sends one request to endpoint (e.g. "auth/login"): a form POST when
// form is not nil, else a GET. edit may change the request before it is
// sent. It returns the status and body.
func (c *qbClient) do(endpoint string, form url.Values, edit func(*http.Request)) (int, string) {
	c.t.Helper()
	method, body := http.MethodGet, io.Reader(nil)
	if form != nil {
		method, body = http.MethodPost, strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctxT(c.t, 30*time.Second), method, c.base+endpoint, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if edit != nil {
		edit(req)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// login logs in with the daemon's token.
func (c *qbClient) login() {
	c.t.Helper()
	if code, body := c.do("auth/login", url.Values{"username": {"admin"}, "password": {daemontest.Token}}, nil); code != http.StatusOK || body != "Ok." {
		c.t.Fatalf("login: %d %q", code, body)
	}
}

// TestQBittorrentAuth checks the qBittorrent API's gates as qBittorrent
// answers them: 403 "Forbidden" before login (which is how Sonarr tells
// it must log in), "Fails." for a wrong password and a ban after many, a
// SID cookie or a bearer token after, qBittorrent's CSRF rule, the Host
// gate, POST-only changes, and logout.
func TestQBittorrentAuth(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	c := newQB(t, d)

	if code, body := c.do("app/webapiVersion", nil, nil); code != http.StatusForbidden || body != "Forbidden" {
		t.Fatalf("webapiVersion before login: %d %q, want 403 Forbidden", code, body)
	}
	if code, body := c.do("auth/login", url.Values{"username": {"admin"}, "password": {"wrong"}}, nil); code != http.StatusOK || body != "Fails." {
		t.Fatalf("wrong password: %d %q, want 200 Fails.", code, body)
	}
	if code, body := c.do("auth/login", url.Values{"username": {"admin"}, "password": {daemontest.Token}}, nil); code != http.StatusOK || body != "Ok." {
		t.Fatalf("right password: %d %q", code, body)
	}
	u, _ := url.Parse(c.base)
	var sid string
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == qbittorrent.SIDCookie {
			sid = ck.Value
		}
	}
	if sid == "" {
		t.Fatal("login set no SID cookie")
	}
	if code, body := c.do("app/webapiVersion", nil, nil); code != http.StatusOK || body != qbittorrent.WebAPIVersion {
		t.Fatalf("webapiVersion after login: %d %q", code, body)
	}
	if code, body := c.do("app/version", nil, nil); code != http.StatusOK || !strings.HasPrefix(body, "v") {
		t.Fatalf("app/version: %d %q", code, body)
	}

	// qBittorrent's CSRF rule: a foreign Origin or Referer is refused
	// even with the session cookie.
	for _, h := range []string{"Origin", "Referer"} {
		code, _ := c.do("auth/logout", url.Values{}, func(r *http.Request) { r.Header.Set(h, "http://evil.example/x") })
		if code != http.StatusUnauthorized {
			t.Errorf("logout with a foreign %s: %d, want 401", h, code)
		}
	}
	// A same-host Referer passes.
	if code, _ := c.do("app/version", nil, func(r *http.Request) { r.Header.Set("Referer", "http://"+d.APIAddr()+"/") }); code != http.StatusOK {
		t.Errorf("same-host Referer: %d, want 200", code)
	}
	// A name rebound to the daemon is refused by the Host gate.
	if code, _ := c.do("app/version", nil, func(r *http.Request) { r.Host = "evil.example" }); code != http.StatusForbidden {
		t.Errorf("rebound Host: %d, want 403", code)
	}
	if code, _ := c.do("auth/logout", nil, nil); code != http.StatusMethodNotAllowed {
		t.Errorf("GET auth/logout: %d, want 405", code)
	}
	if code, _ := c.do("no/such", nil, nil); code != http.StatusNotFound {
		t.Errorf("unknown endpoint: %d, want 404", code)
	}

	// A bearer token passes without a session; a wrong one does not.
	bare := &qbClient{t: t, base: c.base, http: &http.Client{Timeout: 30 * time.Second}}
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	if code, _ := bare.do("app/version", nil, bearer(daemontest.Token)); code != http.StatusOK {
		t.Errorf("bearer token: %d, want 200", code)
	}
	if code, _ := bare.do("app/version", nil, bearer("wrong")); code != http.StatusForbidden {
		t.Errorf("wrong bearer token: %d, want 403", code)
	}

	// Logout ends the session: the old SID no longer works.
	if code, _ := c.do("auth/logout", url.Values{}, nil); code != http.StatusOK {
		t.Fatalf("logout: %d", code)
	}
	old := func(r *http.Request) { r.AddCookie(&http.Cookie{Name: qbittorrent.SIDCookie, Value: sid}) }
	if code, _ := bare.do("app/version", nil, old); code != http.StatusForbidden {
		t.Errorf("SID after logout: %d, want 403", code)
	}

	// Wrong passwords in a row end in qBittorrent's ban message.
	var banned bool
	for range 30 {
		code, body := bare.do("auth/login", url.Values{"username": {"admin"}, "password": {"guess"}}, nil)
		if code == http.StatusForbidden && strings.Contains(body, "banned") {
			banned = true
			break
		}
		if code != http.StatusOK || body != "Fails." {
			t.Fatalf("wrong password: %d %q", code, body)
		}
	}
	if !banned {
		t.Error("30 wrong passwords in a row were never banned")
	}
}
