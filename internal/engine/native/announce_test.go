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
