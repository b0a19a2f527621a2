//go:build linux

package daemon_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// bind_interface set at runtime, in TestBindInterfaceKillSwitch's
// namespaces (bt0 the interface to bind, alt0 another way to the
// seeder): a daemon started unbound downloads from the seeder; at a
// quarter, session.set binds it to bt0 (on the anacrolix core, pending
// a restart: the daemon is restarted); then bt0 goes down. From then on
// it is the kill switch's test: the alert, no packet by alt0 or of
// 198.18.0.0/15 by any other interface than bt0, and once bt0 is back
// on another address the download completes, the seeder having seen
// bt0's addresses only. An unbound daemon would have gone on through
// alt0 (its route is there: checked).
func TestNetSettingsBindLive(t *testing.T) {
	needBindTools(t)
	if runInOwnNetns(t, "TestNetSettingsBindLive") {
		return
	}
	peerNS := bindNets(t)

	tr := enginetest.Generate(t, enginetest.Content{Name: "bind-live.bin", Size: 8 << 20, PieceLength: 64 << 10, Seed: 19})
	seeder := startBindSeeder(t, peerNS, enginetest.WriteTorrentFile(t, tr), tr.Root, 1<<20)
	dirs := daemontest.NewDirs(t)
	d := daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c := d.Client(t)
	if s := getSettings(t, c); s.BindInterface != "" {
		t.Fatalf("started bound: %+v", networkOf(s))
	}
	res := addMagnet(t, c, tr.Magnet([]string{"198.18.0.2:" + seeder.port}))
	waitTask(t, c, res.TaskID, "a quarter downloaded", 90*time.Second, func(tk api.Task) bool { return tk.Size > 0 && tk.Completed >= tk.Size/4 })

	got, err := c.SetSettings(ctxT(t, 10*time.Second), api.SessionSetParams{BindInterface: sptr("bt0")})
	if err != nil {
		t.Fatal(err)
	}
	if got.BindInterface != "bt0" {
		t.Fatalf("bind_interface %q", got.BindInterface)
	}
	if !pendingOrLive(t, c, got, "bind_interface") {
		d.Stop(t)
		d = daemontest.Start(t, daemontest.Options{Dirs: dirs})
		c = d.Client(t)
	}

	netRun(t, "ip", "link", "set", "bt0", "down")
	waitEvent(t, c, api.EventEngineAlert, 30*time.Second, func(raw json.RawMessage) bool {
		var a api.EngineAlertData
		return json.Unmarshal(raw, &a) == nil && a.Level == api.LevelError && strings.Contains(a.Message, "network down") && strings.Contains(a.Message, "bt0")
	})
	down := waitTask(t, c, res.TaskID, "network down shown", 30*time.Second, func(tk api.Task) bool { return tk.Network == api.NetworkDown })
	if down.Completed >= down.Size {
		t.Fatalf("the download finished before the interface went down: %+v", down)
	}
	if out := netRun(t, "ip", "route", "get", "198.18.0.2"); !strings.Contains(out, "dev alt0") {
		t.Fatalf("no route through alt0 while bt0 is down, the test proves nothing: %s", out)
	}
	time.Sleep(6 * time.Second) // as TestBindInterfaceKillSwitch: redials fail meanwhile
	assertNoLeak(t, "while bt0 was down")
	netRun(t, "ip", "addr", "flush", "dev", "bt0")
	netRun(t, "ip", "addr", "add", "198.18.0.3/24", "dev", "bt0")
	netRun(t, "ip", "link", "set", "bt0", "up")

	waitEvent(t, c, api.EventTaskFinished, 120*time.Second, forTask(res.TaskID))
	enginetest.SameFiles(t, tr, dirs.Download)
	assertNoLeak(t, "over the whole download")
	ips := seeder.peers()
	if !slices.Contains(ips, "198.18.0.3") {
		t.Errorf("seeder saw peers %v: want 198.18.0.3 after bt0 came back", ips)
	}
	for _, ip := range ips {
		if ip != "198.18.0.1" && ip != "198.18.0.3" {
			t.Errorf("seeder saw a connection from %s: only bt0's addresses may connect", ip)
		}
	}
	if s := getSettings(t, c); s.BindInterface != "bt0" || len(s.RestartRequired) != 0 {
		t.Errorf("at the end: %+v", networkOf(s))
	}
}
