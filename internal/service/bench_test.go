package service

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/engine"
)

// newLoadedHarness adds n magnets and gives each its metadata, half of
// them complete (seeding) and half paused: the shape of
// bench/run-apiscale's idle daemon, on the fake engine.
func newLoadedHarness(b *testing.B, n int) *harness {
	h := newHarness(b)
	for i := range n {
		id := fmt.Sprintf("%040x", i+1)
		if _, err := h.svc.Add(context.Background(), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: "magnet:?xt=urn:btih:" + id, Paused: i%2 == 1}); err != nil {
			b.Fatal(err)
		}
		ft := h.eng.torrent(id)
		ft.giveInfo(engine.FileStat{Path: id, Size: 1 << 20})
		if i%2 == 0 {
			ft.complete()
		}
	}
	deadline := time.Now().Add(time.Minute)
	for h.svc.Stats().TasksByState[api.StateMetadata] > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the metadata goroutines
	}
	for range 10 {
		h.poll()
	}
	return h
}

// BenchmarkPollIdle10000 is one poll of 10,000 idle tasks (5,000 seeds
// with no peer, 5,000 paused) on the fake engine: the service's own share
// of the idle daemon's CPU, which polls twice a second.
func BenchmarkPollIdle10000(b *testing.B) {
	h := newLoadedHarness(b, 10000)
	b.ResetTimer()
	for range b.N {
		h.now = h.now.Add(DefaultTick)
		h.svc.poll(h.now)
	}
}

// BenchmarkGet is task.get at the service, with 10,000 tasks loaded.
func BenchmarkGet(b *testing.B) {
	h := newLoadedHarness(b, 10000)
	id := fmt.Sprintf("%040x", 1)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := h.svc.Get(id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStats is session.stats at the service, with 10,000 tasks.
func BenchmarkStats(b *testing.B) {
	h := newLoadedHarness(b, 10000)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		h.svc.Stats()
	}
}
