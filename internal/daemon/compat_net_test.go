package daemon_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
)

// TestCompatNetSettings: Transmission's encryption and qBittorrent's
// encryption, anonymous_mode and proxy_* preferences act on the daemon's
// network settings, as the native API's session.get sees them, and read
// them back; a settings form sent back unchanged changes nothing.
func TestCompatNetSettings(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	tr := newTRPC(t, d)
	qb := newQB(t, d)
	qb.login()
	type tget struct {
		Encryption string `json:"encryption"`
	}
	transmissionEnc := func() string {
		t.Helper()
		var g tget
		if err := json.Unmarshal(tr.ok("session-get", map[string]any{"fields": []string{"encryption"}}), &g); err != nil {
			t.Fatal(err)
		}
		return g.Encryption
	}
	prefs := func() map[string]any {
		t.Helper()
		var m map[string]any
		qb.query("app/preferences", nil, &m)
		return m
	}
	qbSet := func(p map[string]any) (int, string) {
		t.Helper()
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		return qb.do("app/setPreferences", url.Values{"json": {string(b)}}, nil)
	}

	if e := transmissionEnc(); e != "preferred" {
		t.Fatalf("Transmission encryption at start: %q", e)
	}
	for _, tc := range []struct{ transmission, policy string }{{"required", "require"}, {"tolerated", "disable"}, {"preferred", "prefer"}} {
		tr.ok("session-set", map[string]any{"encryption": tc.transmission})
		if got := getSettings(t, c).Encryption; got != tc.policy {
			t.Errorf("session-set encryption %q: policy %q, want %q", tc.transmission, got, tc.policy)
		}
		if e := transmissionEnc(); e != tc.transmission {
			t.Errorf("session-get encryption after %q: %q", tc.transmission, e)
		}
	}
	if r := tr.call("session-set", map[string]any{"encryption": "always"}); r.Result == "success" {
		t.Error("encryption \"always\" was accepted")
	}

	if code, body := qbSet(map[string]any{"encryption": 1, "anonymous_mode": true}); code != http.StatusOK {
		t.Fatalf("setPreferences encryption: %d %q", code, body)
	}
	if st := getSettings(t, c); st.Encryption != "require" || !st.Anonymous {
		t.Fatalf("after setPreferences encryption 1, anonymous_mode: %+v", st)
	}
	if p := prefs(); p["encryption"] != 1.0 || p["anonymous_mode"] != true || p["proxy_type"] != "None" {
		t.Fatalf("preferences: encryption %v, anonymous_mode %v, proxy_type %v", p["encryption"], p["anonymous_mode"], p["proxy_type"])
	}
	if code, body := qbSet(map[string]any{"proxy_type": "SOCKS5", "proxy_ip": "127.0.0.1", "proxy_port": 1080,
		"proxy_auth_enabled": true, "proxy_username": "ana", "proxy_password": "s3cret"}); code != http.StatusOK {
		t.Fatalf("setPreferences proxy: %d %q", code, body)
	}
	const masked = "socks5://ana:***@127.0.0.1:1080"
	if st := getSettings(t, c); st.Proxy != masked {
		t.Fatalf("proxy after setPreferences: %q, want %q", st.Proxy, masked)
	}
	p := prefs()
	if p["proxy_type"] != "SOCKS5" || p["proxy_ip"] != "127.0.0.1" || p["proxy_port"] != 1080.0 || p["proxy_username"] != "ana" || p["proxy_password"] != "***" || p["proxy_auth_enabled"] != true {
		t.Fatalf("preferences' proxy: %v %v %v %v %v %v", p["proxy_type"], p["proxy_ip"], p["proxy_port"], p["proxy_username"], p["proxy_password"], p["proxy_auth_enabled"])
	}
	// The whole form back, as qBittorrent's web UI saves it: nothing
	// changes (the masked password is session.get's form, which keeps
	// the real one: TestNetSettingsProxyMasked).
	if code, body := qbSet(p); code != http.StatusOK {
		t.Fatalf("setPreferences with the preferences read: %d %q", code, body)
	}
	if st := getSettings(t, c); st.Proxy != masked || st.Encryption != "require" || !st.Anonymous {
		t.Fatalf("after the round trip: %+v", st)
	}
	if code, _ := qbSet(map[string]any{"proxy_type": "HTTP"}); code != http.StatusBadRequest {
		t.Errorf("an HTTP proxy: HTTP %d, want 400", code)
	}
	// The WebAPI's older numbers: -1 is none.
	if code, body := qbSet(map[string]any{"proxy_type": -1}); code != http.StatusOK {
		t.Fatalf("setPreferences proxy_type -1: %d %q", code, body)
	}
	if st := getSettings(t, c); st.Proxy != "" {
		t.Errorf("proxy after proxy_type -1: %q", st.Proxy)
	}
}
