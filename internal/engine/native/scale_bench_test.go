package native

import (
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// manyTorrents generates n single-file torrents of size bytes, announcing
// to tracker.
func manyTorrents(b *testing.B, n int, size int64, tracker string) []*enginetest.Torrent {
	trs := make([]*enginetest.Torrent, n)
	for i := range trs {
		trs[i] = enginetest.Generate(b, enginetest.Content{Name: fmt.Sprintf("t%04d.bin", i), Size: size, PieceLength: 64 << 10, Seed: uint64(i), Trackers: []string{tracker}})
	}
	return trs
}

// BenchmarkIdleSeeding1000 is issue 13's goal 6, first half: 1,000
// torrents seeding, each announcing to a tracker, no peer: the CPU the
// client uses while idle, as a share of one core.
func BenchmarkIdleSeeding1000(b *testing.B) {
	tracker := enginetest.StartTracker(b)
	trs := manyTorrents(b, 1000, 16<<10, tracker.URL)
	c, err := New(Config{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for _, tr := range trs {
		m, err := ParseTorrent(tr.MetaInfo, tr.Root)
		if err != nil {
			b.Fatal(err)
		}
		seed(b, c, m)
	}
	time.Sleep(2 * time.Second) // the first announces
	b.ResetTimer()
	var share float64
	for b.Loop() {
		c0, w0 := cpuTime(), time.Now()
		time.Sleep(2 * time.Second)
		share = float64(cpuTime()-c0) / float64(time.Since(w0))
	}
	b.ReportMetric(100*share, "%core")
	b.ReportMetric(float64(tracker.Announces()), "announces")
}

// BenchmarkDownload1000 is goal 6, second half: 1,000 torrents of 1 MiB
// downloading at once from one seeder (a second native client in the same
// process, so the CPU is both sides'): aggregate rate and CPU.
func BenchmarkDownload1000(b *testing.B) {
	tracker := enginetest.StartTracker(b)
	trs := manyTorrents(b, 1000, 1<<20, tracker.URL)
	seeder, err := New(Config{ListenAddr: "127.0.0.1:0", MaxPeers: 10})
	if err != nil {
		b.Fatal(err)
	}
	defer seeder.Close()
	for _, tr := range trs {
		m, _ := ParseTorrent(tr.MetaInfo, tr.Root)
		m.Trackers = nil
		seed(b, seeder, m)
	}
	b.ResetTimer()
	for b.Loop() {
		leecher, err := New(Config{ListenAddr: "127.0.0.1:0"})
		if err != nil {
			b.Fatal(err)
		}
		dir := b.TempDir()
		c0, w0 := cpuTime(), time.Now()
		var ts []*Torrent
		for _, tr := range trs {
			m, _ := ParseTorrent(tr.MetaInfo, dir)
			m.Trackers = nil
			t, err := leecher.Add(m)
			if err != nil {
				b.Fatal(err)
			}
			t.AddPeers([]netip.AddrPort{seeder.Addr()})
			ts = append(ts, t)
		}
		for _, t := range ts {
			select {
			case <-t.Done():
			case <-time.After(5 * time.Minute):
				b.Fatalf("not done: %+v", t.Stats())
			}
		}
		el := time.Since(w0)
		b.ReportMetric(float64(len(trs))/el.Seconds(), "MiB/s")
		b.ReportMetric((cpuTime() - c0).Seconds(), "cpu-s")
		leecher.Close()
	}
}
