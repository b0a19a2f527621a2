package native

import (
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// A torrent finds its peers through its tracker, says "started", then
// "completed" once done, and "stopped" when closed; done, it idles (a
// closed channel in a select once kept a core busy).
func TestAnnounceEvents(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "a.bin", Size: 1 << 20, PieceLength: 64 << 10, Seed: 21})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	tracker := enginetest.StartTracker(t, seeder.Addr)
	withTracker := *tr
	withTracker.MetaInfo = enginetest.Parse(t, tr.MetaInfo).WithTrackers(tracker.URL)
	c := newClient(t, Config{})
	dl := t.TempDir()
	tt := addTorrent(t, c, &withTracker, dl)
	waitDone(t, tt, 30*time.Second)
	enginetest.SameFiles(t, tr, dl)
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(tracker.Events(), "completed") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}

	var r0, r1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	time.Sleep(time.Second)
	syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	cpu := time.Duration(r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano())
	if cpu > 500*time.Millisecond {
		t.Errorf("an idle, finished torrent used %v of CPU in 1 s: something spins", cpu)
	}

	if err := tt.Close(); err != nil {
		t.Fatal(err)
	}
	got := tracker.Events()
	want := []string{"started", "completed", "stopped"}
	if !slices.Equal(got, want) {
		t.Fatalf("tracker saw events %q, want %q", got, want)
	}
}

// Reannounce announces to the tracker at once, long before the interval
// it asked for (60 s), as a regular announce (no event); the schedule
// goes on after it.
func TestReannounce(t *testing.T) {
	tracker := enginetest.StartTracker(t)
	tr := enginetest.Generate(t, enginetest.Content{Name: "r.bin", Size: 100_000, Seed: 22, Trackers: []string{tracker.URL}})
	c := newClient(t, Config{})
	tt := addTorrent(t, c, tr, t.TempDir())
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 20 s (tracker saw %q)", what, tracker.Events())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("started", func() bool { return tracker.Announces() == 1 })
	tt.Reannounce()
	waitFor("the reannounce", func() bool { return tracker.Announces() == 2 })
	if got := tracker.Events(); !slices.Equal(got, []string{"started", ""}) {
		t.Errorf("tracker saw events %q, want started then a regular announce", got)
	}
	if st := tt.Trackers(); len(st) != 1 || st[0].NextAnnounce.Before(time.Now().Add(30*time.Second)) {
		t.Errorf("after the reannounce the next is due %v, want the tracker's interval again", st)
	}
}
