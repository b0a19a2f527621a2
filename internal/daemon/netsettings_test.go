package daemon_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/store"
)

func sptr(s string) *string { return &s }
func bptr(b bool) *bool     { return &b }

// networkOf is the network part of s.
func networkOf(s api.Settings) api.Settings {
	return api.Settings{
		BindInterface: s.BindInterface, BindAddress: s.BindAddress, Proxy: s.Proxy,
		ProxyOnly: s.ProxyOnly, Encryption: s.Encryption, Anonymous: s.Anonymous,
		RestartRequired: s.RestartRequired,
	}
}

func getSettings(t *testing.T, c *client.Client) api.Settings {
	t.Helper()
	s, err := c.Settings(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Bad network values fail the whole session.set with invalid_params and
// change nothing: not the other fields of the same call, not the store
// (a restart reads the same settings back). An interface that does not
// exist (yet) is accepted.
func TestNetSettingsRefused(t *testing.T) {
	dirs := daemontest.NewDirs(t)
	d := daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c := d.Client(t)
	before := getSettings(t, c)
	if before.Encryption != "prefer" || !before.ProxyOnly || before.Proxy != "" || before.RestartRequired == nil {
		t.Fatalf("defaults: %+v", networkOf(before))
	}
	rate := int64(12345)
	bad := map[string]api.SessionSetParams{
		"proxy not a URL":      {Proxy: sptr("127.0.0.1:1080")},
		"proxy scheme":         {Proxy: sptr("http://127.0.0.1:1080")},
		"proxy without port":   {Proxy: sptr("socks5://127.0.0.1")},
		"encryption word":      {Encryption: sptr("always")},
		"encryption empty":     {Encryption: sptr("")},
		"address not here":     {BindAddress: sptr("198.18.77.77")},
		"address not an IP":    {BindAddress: sptr("eth0")},
		"interface name":       {BindInterface: sptr("a/b")},
		"bind with proxy":      {BindInterface: sptr("wg0"), Proxy: sptr("socks5://127.0.0.1:1080")},
		"address with proxy":   {BindAddress: sptr("127.0.0.1"), Proxy: sptr("socks5://127.0.0.1:1080")},
		"one bad among good":   {Encryption: sptr("require"), Anonymous: bptr(true), Proxy: sptr("socks5://u:p@")},
		"good rate, bad proxy": {DownloadRateLimit: &rate, Proxy: sptr("socks4://127.0.0.1:1080")},
	}
	for name, p := range bad {
		_, err := c.SetSettings(ctxT(t, 10*time.Second), p)
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Code != api.CodeInvalidParams {
			t.Errorf("%s: err %v, want invalid_params", name, err)
		}
	}
	if got := getSettings(t, c); !reflect.DeepEqual(got, before) {
		t.Errorf("settings changed by refused calls:\n%+v\nwas\n%+v", got, before)
	}
	// An interface that is not there is fine: it may appear later.
	got, err := c.SetSettings(ctxT(t, 10*time.Second), api.SessionSetParams{BindInterface: sptr("lsnotyet0")})
	if err != nil {
		t.Fatal(err)
	}
	if got.BindInterface != "lsnotyet0" {
		t.Errorf("bind_interface %q", got.BindInterface)
	}
	// With an interface bound, a proxy is refused.
	if _, err := c.SetSettings(ctxT(t, 10*time.Second), api.SessionSetParams{Proxy: sptr("socks5://127.0.0.1:1080")}); err == nil {
		t.Error("proxy accepted beside bind_interface")
	}
	// What session.set stored wins over the flags at the next start.
	if _, err := c.SetSettings(ctxT(t, 10*time.Second), api.SessionSetParams{BindInterface: sptr(""), Encryption: sptr("disable"), Anonymous: bptr(true)}); err != nil {
		t.Fatal(err)
	}
	d.Stop(t)
	d = daemontest.Start(t, daemontest.Options{Dirs: dirs, Configure: func(c *daemon.Config) { c.Encryption = "require" }})
	got = getSettings(t, d.Client(t))
	if got.BindInterface != "" || got.Encryption != "disable" || !got.Anonymous || len(got.RestartRequired) != 0 || got.DownloadRateLimit != before.DownloadRateLimit {
		t.Errorf("after restart: %+v", networkOf(got))
	}
}

// session.get masks the proxy's password; giving the masked URL back
// (as a UI that round-trips session.get does) keeps the password: the
// store still holds it after the round trip. (TestNetSettingsProxyLive
// shows a proxy with a password at work.)
func TestNetSettingsProxyMasked(t *testing.T) {
	dirs := daemontest.NewDirs(t)
	d := daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c := d.Client(t)
	got, err := c.SetSettings(ctxT(t, 10*time.Second), api.SessionSetParams{Proxy: sptr("socks5://alice:s3cret@127.0.0.1:1")})
	if err != nil {
		t.Fatal(err)
	}
	const masked = "socks5://alice:***@127.0.0.1:1"
	if got.Proxy != masked || !got.ProxyOnly {
		t.Fatalf("session.set answered %+v", networkOf(got))
	}
	// The round trip: everything session.get said, given back.
	s := getSettings(t, c)
	if s.Proxy != masked {
		t.Fatalf("session.get proxy %q", s.Proxy)
	}
	if _, err := c.SetSettings(ctxT(t, 10*time.Second), api.SessionSetParams{
		Proxy: &s.Proxy, ProxyOnly: &s.ProxyOnly, Encryption: &s.Encryption, Anonymous: &s.Anonymous,
		BindInterface: &s.BindInterface, BindAddress: &s.BindAddress,
	}); err != nil {
		t.Fatal(err)
	}
	d.Stop(t)
	if p := storedNetwork(t, dirs.Data)["proxy"]; p != "socks5://alice:s3cret@127.0.0.1:1" {
		t.Errorf("stored proxy %v: the password was lost in the round trip", p)
	}
}

// storedNetwork reads the network settings session.set stored in the
// data dir of a stopped daemon.
func storedNetwork(t *testing.T, dataDir string) map[string]any {
	t.Helper()
	st, err := store.Open(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	raw, err := st.Setting("network")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("stored network settings %q: %v", raw, err)
	}
	return m
}
