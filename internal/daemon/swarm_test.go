package daemon_test

import (
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

func TestPeersAndTrackers(t *testing.T) {
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{UploadRate: 1 << 20})
	tracker := enginetest.StartTracker(t, seeder.Addr)
	dead := "http://" + enginetest.ClosedPort(t) + "/announce"
	tr := enginetest.Generate(t, enginetest.Content{Name: "swarm.bin", Size: 4 << 20, Seed: 100, Trackers: []string{tracker.URL, dead}})
	seeder.Seed(t, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	res := addTorrent(t, c, tr)

	// The seeder shows up as a peer, found through the tracker. A peer is
	// listed as soon as it is connected, before its bitfield says what it
	// has: wait for that too (or the deadline), then check it.
	var peers []api.TaskPeer
	deadline := time.Now().Add(30 * time.Second)
	for len(peers) == 0 || peers[0].Progress != 1 && time.Now().Before(deadline) {
		var err error
		if peers, err = c.TaskPeers(ctxT(t, 5*time.Second), res.TaskID); err != nil {
			t.Fatal(err)
		}
		if len(peers) == 0 && time.Now().After(deadline) {
			trs, err := c.TaskTrackers(ctxT(t, 5*time.Second), res.TaskID)
			if err != nil {
				t.Fatal(err)
			}
			t.Fatalf("no peer; trackers %+v; task %+v; tracker saw %d announces", trs, stateOf(t, c, res.TaskID), tracker.Announces())
		}
		time.Sleep(100 * time.Millisecond)
	}
	p := peers[0]
	if p.Address != seeder.Addr || p.Source != "tracker" || p.Progress != 1 || len(p.Flags) != 1 || p.Flags[0] != "seed" {
		t.Errorf("peer %+v: want the seeder, from the tracker, with everything", p)
	}

	// Both trackers were contacted: one works, one refuses.
	var trs []api.TaskTracker
	deadline = time.Now().Add(60 * time.Second)
	for {
		var err error
		if trs, err = c.TaskTrackers(ctxT(t, 5*time.Second), res.TaskID); err != nil {
			t.Fatal(err)
		}
		if len(trs) == 2 && trs[0].Status != "not_contacted" && trs[1].Status != "not_contacted" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("trackers %+v", trs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if trs[0].URL != tracker.URL || trs[0].Status != "working" || trs[0].NextAnnounce == "" {
		t.Errorf("working tracker %+v", trs[0])
	}
	if trs[1].URL != dead || trs[1].Status != "error" || trs[1].LastError == "" {
		t.Errorf("dead tracker %+v", trs[1])
	}

	// Edit the list; it persists.
	extra := "udp://127.0.0.1:1/announce"
	if _, err := c.AddTrackers(ctxT(t, 5*time.Second), res.TaskID, extra); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RemoveTrackers(ctxT(t, 5*time.Second), res.TaskID, dead); err != nil {
		t.Fatal(err)
	}
	// The UDP tracker (nothing listens there) is contacted and reported.
	deadline = time.Now().Add(60 * time.Second)
	for {
		trs, err := c.TaskTrackers(ctxT(t, 5*time.Second), res.TaskID)
		if err != nil {
			t.Fatal(err)
		}
		if len(trs) == 2 && trs[1].URL == extra && trs[1].Status == "error" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("udp tracker never reported: %+v", trs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var ae *api.Error
	if _, err := c.AddTrackers(ctxT(t, 5*time.Second), res.TaskID, "file:///etc/passwd"); !asCode(err, &ae, api.CodeInvalidParams) {
		t.Errorf("file: tracker: %v", err)
	}
	d.Stop(t)
	d2 := daemontest.Start(t, daemontest.Options{Dirs: d.Dirs})
	trs, err := d2.Client(t).TaskTrackers(ctxT(t, 5*time.Second), res.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if len(trs) != 2 || trs[0].URL != tracker.URL || trs[1].URL != extra {
		t.Errorf("trackers after edit and restart: %+v", trs)
	}
}
