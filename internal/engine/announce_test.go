package engine

import (
	"log/slog"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// The watchdog waits for torrents with trackers that never announced,
// kicks once one has waited a full interval, backs off, forgets torrents
// that announced or left, and a kick leaves no torrent behind.
func TestAnnounceWatchdog(t *testing.T) {
	e, err := New(Config{Core: CoreAnacrolix, DownloadDir: t.TempDir(), StateDir: t.TempDir(), PeerAddr: "127.0.0.1:0", AllowPrivateTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// A tracker that refuses connections: the announce fails, which
	// counts as announced once it is recorded.
	tracked := enginetest.Generate(t, enginetest.Content{Name: "tracked.bin", Size: 1000, Seed: 1,
		Trackers: []string{"http://" + enginetest.ClosedPort(t) + "/announce"}})
	untracked := enginetest.Generate(t, enginetest.Content{Name: "untracked.bin", Size: 1000, Seed: 2})
	w := &announceWatchdog{cl: e.(*anacrolixEngine).cl, book: &trackerBook{}, log: e.(*anacrolixEngine).log, waiting: map[metainfo.Hash]*announceWait{}}
	for _, tr := range []*enginetest.Torrent{tracked, untracked} {
		spec, err := ParseTorrent(tr.MetaInfo)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Add(spec); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	if w.check(now) || len(w.waiting) != 1 {
		t.Fatalf("first look: due, or waiting for %d torrents (want 1: the one with a tracker)", len(w.waiting))
	}
	if w.check(now.Add(announceWatchInterval - time.Millisecond)) {
		t.Fatal("due before a full interval")
	}
	if !w.check(now.Add(announceWatchInterval)) {
		t.Fatal("not due after a full interval")
	}
	// Backed off: the next kick for it waits twice as long.
	if w.check(now.Add(2*announceWatchInterval)) || !w.check(now.Add(3*announceWatchInterval)) {
		t.Fatal("no back-off after a kick")
	}
	before := len(e.(*anacrolixEngine).cl.Torrents())
	w.kick()
	if n := len(e.(*anacrolixEngine).cl.Torrents()); n != before {
		t.Fatalf("%d torrents after a kick, want %d", n, before)
	}
	// Announced (here: recorded as failed): no longer waited for.
	w.book.record(tracked.InfoHash, "http://x/announce", slog.AnyValue(nil), "refused")
	if w.check(now.Add(time.Hour)) || len(w.waiting) != 0 {
		t.Fatalf("still waiting for %d torrents after the announce", len(w.waiting))
	}
}
