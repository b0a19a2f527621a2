package daemon_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
	"github.com/lodestone-bt/lodestone/internal/socks/dantetest"
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
	// With an interface bound, a proxy is accepted: the connections to
	// it are bound too (bindproxy_linux_test.go).
	if got, err := c.SetSettings(ctxT(t, 10*time.Second), api.SessionSetParams{Proxy: sptr("socks5://127.0.0.1:1080")}); err != nil || got.Proxy != "socks5://127.0.0.1:1080" || got.BindInterface != "lsnotyet0" {
		t.Errorf("proxy beside bind_interface: %+v, %v", networkOf(got), err)
	}
	// What session.set stored wins over the flags at the next start.
	if _, err := c.SetSettings(ctxT(t, 10*time.Second), api.SessionSetParams{BindInterface: sptr(""), Proxy: sptr(""), Encryption: sptr("disable"), Anonymous: bptr(true)}); err != nil {
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

// pendingOrLive checks session.set's answer for a change of setting
// name: on the native core it is in force at once (restart_required
// empty); on the anacrolix core it is pending a restart, and one
// engine.alert (warning) names it. It reports whether it was live.
func pendingOrLive(t *testing.T, c *client.Client, got api.Settings, name string) bool {
	t.Helper()
	if daemontest.Core() != engine.CoreAnacrolix {
		if len(got.RestartRequired) != 0 {
			t.Fatalf("native core: restart_required %v after setting %s", got.RestartRequired, name)
		}
		return true
	}
	if !slices.Contains(got.RestartRequired, name) {
		t.Fatalf("anacrolix core: restart_required %v, want %s in it", got.RestartRequired, name)
	}
	ev := waitEvent(t, c, api.EventEngineAlert, 30*time.Second, alertMatching("", name, "restart"))
	if a := decode[api.EngineAlertData](t, ev.Data); a.Level != api.LevelWarning {
		t.Errorf("alert %+v, want level warning", a)
	}
	return false
}

// The proxy set and cleared at runtime: a download before goes to the
// seeder directly; after session.set proxy (dante with user/password)
// every new connection to the seeder is one dante made; after proxy ""
// they are direct again. On the anacrolix core the proxy is pending a
// restart (pendingOrLive), and in force after it. The seeder sits behind
// a front that records whom it accepted.
func TestNetSettingsProxyLive(t *testing.T) {
	dante := dantetest.Start(t)
	trs := make([]*enginetest.Torrent, 3)
	for i := range trs {
		trs[i] = enginetest.Generate(t, enginetest.Content{Name: fmt.Sprintf("live-proxy-%d.bin", i), Size: int64(700_001 + i), Seed: uint64(480 + i)})
	}
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{Host: "127.0.0.5", NoPEX: true}, trs...)
	seedFront := startFront(t, "127.0.0.6", seeder.Addr)
	// The daemon's own HTTP fetches follow the proxy setting too.
	web := startWebServer(t, "127.0.0.9", enginetest.Generate(t, enginetest.Content{Name: "live-proxy-web.bin", Size: 4099, Seed: 489}))
	dirs := daemontest.NewDirs(t)
	opts := daemontest.Options{Dirs: dirs, AllowPrivateURLs: true}
	dm := daemontest.Start(t, opts)
	c := dm.Client(t)
	fetch := func(c *client.Client, tr *enginetest.Torrent) {
		t.Helper()
		res := addMagnet(t, c, tr.Magnet([]string{seedFront.Addr()}))
		waitEvent(t, c, api.EventTaskFinished, 120*time.Second, forTask(res.TaskID))
	}
	viaDante := func(src string) bool { return strings.Contains(dante.Log(), src+" "+seedFront.dante()) }

	fetch(c, trs[0])
	direct := seedFront.accepted()
	if len(direct) == 0 || len(dante.Connects()) != 0 {
		t.Fatalf("before the proxy: the seeder accepted %v, dante connected %v", direct, dante.Connects())
	}

	start := time.Now()
	got, err := c.SetSettings(ctxT(t, 10*time.Second), api.SessionSetParams{Proxy: sptr(dante.URL())})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("measured: session.set proxy answered in %v", time.Since(start))
	if !got.ProxyOnly || strings.Contains(got.Proxy, dantetest.Password) {
		t.Errorf("session.set answered %+v", networkOf(got))
	}
	if !pendingOrLive(t, c, got, "proxy") {
		dm.Stop(t)
		dm = daemontest.Start(t, opts)
		c = dm.Client(t)
		if s := getSettings(t, c); len(s.RestartRequired) != 0 || s.Proxy == "" {
			t.Fatalf("after the restart: %+v", networkOf(s))
		}
	}
	if addrs := dm.PeerAddrs(); len(addrs) != 0 {
		t.Errorf("proxy-only: the daemon still listens for peers at %v", addrs)
	}
	fetch(c, trs[1])
	proxied := seedFront.accepted()[len(direct):]
	if len(proxied) == 0 {
		t.Fatal("no connection to the seeder through the proxy")
	}
	requireFromProxy(t, dante, "the seeder", &sinceFront{seedFront, len(direct)})
	if _, err := c.AddTask(ctxT(t, 30*time.Second), api.TaskAddParams{Type: api.TaskTypeURL, Data: web.srv.URL + "/web.torrent", Paused: true}); err != nil {
		t.Fatalf("task.add url through the proxy: %v", err)
	}
	requireFromProxy(t, dante, "the web server (task.add url)", web)

	got, err = c.SetSettings(ctxT(t, 10*time.Second), api.SessionSetParams{Proxy: sptr("")})
	if err != nil {
		t.Fatal(err)
	}
	if got.Proxy != "" {
		t.Errorf("proxy %q after clearing it", got.Proxy)
	}
	if !pendingOrLive(t, c, got, "proxy") {
		dm.Stop(t)
		dm = daemontest.Start(t, opts)
		c = dm.Client(t)
	}
	if addrs := dm.PeerAddrs(); len(addrs) == 0 {
		t.Error("without the proxy the daemon listens for no peer")
	}
	n := len(dante.Connects())
	fetch(c, trs[2])
	after := seedFront.accepted()[len(direct)+len(proxied):]
	if len(after) == 0 {
		t.Fatal("no connection to the seeder after the proxy was cleared")
	}
	for _, src := range after {
		if viaDante(src) {
			t.Errorf("a connection from %s through dante after the proxy was cleared", src)
		}
	}
	if m := len(dante.Connects()); m != n {
		t.Errorf("dante made %d more connections after the proxy was cleared", m-n)
	}
}

// sinceFront is a front's connections from the n-th on.
type sinceFront struct {
	*front
	n int
}

func (s *sinceFront) accepted() []string { return s.front.accepted()[s.n:] }

// Encryption set to require at runtime, against libtorrent peers that
// speak plaintext only (testdata/lt_enc.py): a libtorrent leecher that
// dialled Lodestone's seed connects before (task.peers and libtorrent
// agree: plaintext) and is dropped after, and its redials find no peer;
// a libtorrent seeder that Lodestone dials after the change is refused
// (libtorrent logs the connection closed and never a handshake). On the
// anacrolix core the change is enforced at once by closing what breaks
// it, but its handshakes follow the policy only after a restart
// (restart_required), so the refusal is checked after one. Then, on a
// restart, the setting is still reported and still in force: the
// restored task dials the seeder again and is refused again.
func TestNetSettingsEncryptionLive(t *testing.T) {
	dirs := daemontest.NewDirs(t)
	d := daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c := d.Client(t)
	// Long enough at libtorrent's 200 kB/s to last past the change.
	up := enginetest.Generate(t, enginetest.Content{Name: "enc-live-up.bin", Size: 8<<20 + 17, Seed: 501})
	seed(t, d, up)
	w := watchPeers(t, c, up.InfoHash)
	down := enginetest.Generate(t, enginetest.Content{Name: "enc-live-down.bin", Size: 1<<20 + 3, Seed: 502})
	lt := startLTEnc(t, fmt.Sprintf("leech-live leech plain %s %s %s\nseed-live seed plain %s %s\n",
		enginetest.WriteTorrentFile(t, up), t.TempDir(), peerAddr(t, d), enginetest.WriteTorrentFile(t, down), down.Root))
	connected(t, lt, "leech-live", w, engine.CryptoPlaintext)

	start := time.Now()
	got, err := c.SetSettings(ctxT(t, 10*time.Second), api.SessionSetParams{Encryption: sptr("require")})
	if err != nil {
		t.Fatal(err)
	}
	answered := time.Since(start)
	if got.Encryption != "require" {
		t.Fatalf("encryption %q", got.Encryption)
	}
	live := pendingOrLive(t, c, got, "encryption")
	waitUntilAPI(t, "the plaintext leecher dropped", 60*time.Second, func() bool {
		peers, err := c.TaskPeers(ctxT(t, 10*time.Second), up.InfoHash)
		return err == nil && len(peers) == 0
	})
	t.Logf("measured: session.set encryption answered in %v; the plaintext peer gone from task.peers %v after the call", answered, time.Since(start))
	if !live {
		d.Stop(t)
		d = daemontest.Start(t, daemontest.Options{Dirs: dirs})
		c = d.Client(t)
	}
	port := strings.TrimPrefix(lt.wait(t, "seed-live", "port ", 30*time.Second), "port ")
	res := addMagnet(t, c, down.Magnet([]string{"127.0.0.1:" + port}))
	refused(t, lt, "seed-live", c, res.TaskID)

	// Kept, and in force after a restart.
	d.Stop(t)
	closedBefore := lt.count("seed-live", "closed ")
	d = daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c = d.Client(t)
	if s := getSettings(t, c); s.Encryption != "require" || len(s.RestartRequired) != 0 {
		t.Fatalf("after the restart: %+v", networkOf(s))
	}
	for deadline := time.Now().Add(60 * time.Second); lt.count("seed-live", "closed ") == closedBefore; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the restarted daemon did not dial the libtorrent seeder again")
		}
	}
	refused(t, lt, "seed-live", c, res.TaskID)
}

// count returns how many lines of session name start with prefix.
func (lt *ltEnc) count(name, prefix string) int {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	n := 0
	for _, l := range lt.lines[name] {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// A daemon started proxy-only runs without the DHT and uTP its flags
// ask for; clearing the proxy at runtime brings them back only at a
// restart, which restart_required says, on either core. A restart
// clears it.
func TestNetSettingsProxyOnlyStartPending(t *testing.T) {
	dante := dantetest.Start(t)
	dm := proxyDaemon(t, dante.URL())
	dirs := dm.Dirs
	c := dm.Client(t)
	got, err := c.SetSettings(ctxT(t, 10*time.Second), api.SessionSetParams{Proxy: sptr("")})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got.RestartRequired, "proxy") {
		t.Errorf("restart_required %v after clearing the proxy of a proxy-only start: want proxy in it", got.RestartRequired)
	}
	dm.Stop(t)
	dm = daemontest.Start(t, daemontest.Options{Dirs: dirs, Configure: func(c *daemon.Config) { c.Proxy = dante.URL() }})
	if s := getSettings(t, dm.Client(t)); s.Proxy != "" || len(s.RestartRequired) != 0 {
		t.Errorf("after the restart (the stored proxy \"\" wins over the flag): %+v", networkOf(s))
	}
	if addrs := dm.PeerAddrs(); len(addrs) == 0 {
		t.Error("after the restart the daemon listens for no peer")
	}
}
