package daemon_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
	"github.com/lodestone-bt/lodestone/internal/socks/dantetest"
)

// TestBindInterfaceProxy: --bind-interface with --proxy (issue 18), in
// bind_linux_test.go's namespaces. dante listens in the second namespace
// on bt0's far end (198.18.0.2:1080), beside the libtorrent seeder; the
// daemon, bound to bt0 and proxy-only, downloads through it: the seeder
// sees dante's address only. When bt0 goes down, the routing table
// would take the proxy's address through alt0; the connections to the
// proxy are bound to bt0, so neither the engine's nor the daemon's own
// fetch through the proxy leaves by alt0 (nftables and /proc/net/dev
// count nothing), and the fetch fails. bt0 comes back as 198.18.0.3 and
// the download completes, through dante, every byte correct.
func TestBindInterfaceProxy(t *testing.T) {
	needBindTools(t)
	dantetest.Require(t)
	if runInOwnNetns(t, "TestBindInterfaceProxy") {
		return
	}
	peerNS := bindNets(t)
	proxy := dantetest.StartWith(t, dantetest.Options{Netns: peerNS, Host: "198.18.0.2", Clients: "198.18.0.0/15"})

	tr := enginetest.Generate(t, enginetest.Content{Name: "bindproxy.bin", Size: 8 << 20, PieceLength: 64 << 10, Seed: 28})
	seeder := startBindSeeder(t, peerNS, enginetest.WriteTorrentFile(t, tr), tr.Root, 1<<20)

	d := daemontest.Start(t, daemontest.Options{Configure: func(c *daemon.Config) {
		c.BindInterface = "bt0"
		c.Proxy = proxy.URL()
		// The task.add by URL below names 198.18.0.2.
		c.AllowPrivateURLs = true
		c.Logger = slog.New(slog.NewTextHandler(daemontest.LogWriter(t), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}})
	c := d.Client(t)
	res := addMagnet(t, c, tr.Magnet([]string{"198.18.0.2:" + seeder.port}))
	waitTask(t, c, res.TaskID, "a quarter downloaded", 90*time.Second, func(tk api.Task) bool { return tk.Size > 0 && tk.Completed >= tk.Size/4 })
	if n := len(proxy.Connects()); n == 0 {
		t.Fatalf("the download went on but dante made no connection:\n%s", proxy.Log())
	}

	netRun(t, "ip", "link", "set", "bt0", "down")
	waitEvent(t, c, api.EventEngineAlert, 30*time.Second, func(raw json.RawMessage) bool {
		var a api.EngineAlertData
		return json.Unmarshal(raw, &a) == nil && a.Level == api.LevelError && strings.Contains(a.Message, "network down")
	})
	if out := netRun(t, "ip", "route", "get", "198.18.0.2"); !strings.Contains(out, "dev alt0") {
		t.Fatalf("no route through alt0 while bt0 is down, the test proves nothing: %s", out)
	}
	// The daemon's own fetches go through the proxy too (proxy-only):
	// this one is not held back by the engine's network-down state, so
	// it tries the proxy now, and only the binding keeps it off alt0.
	var ae *api.Error
	if _, err := c.AddTask(ctxT(t, 60*time.Second), api.TaskAddParams{Type: api.TaskTypeURL, Data: "http://198.18.0.2:9/x.torrent"}); !asCode(err, &ae, api.CodeFetchFailed) {
		t.Fatalf("task.add by URL with bt0 down: %v, want fetch_failed", err)
	}
	time.Sleep(6 * time.Second)
	assertNoLeak(t, "while bt0 was down")
	netRun(t, "ip", "addr", "flush", "dev", "bt0")
	netRun(t, "ip", "addr", "add", "198.18.0.3/24", "dev", "bt0")
	netRun(t, "ip", "link", "set", "bt0", "up")

	waitEvent(t, c, api.EventTaskFinished, 120*time.Second, forTask(res.TaskID))
	enginetest.SameFiles(t, tr, d.Dirs.Download)
	assertNoLeak(t, "over the whole download")
	for _, ip := range seeder.peers() {
		if ip != "198.18.0.2" {
			t.Errorf("the seeder saw a connection from %s: only dante's 198.18.0.2 may connect", ip)
		}
	}
	if !t.Failed() {
		t.Logf("seeder saw %v; dante made %d connections; nothing left by another interface than bt0", seeder.peers(), len(proxy.Connects()))
	}
}
