package events

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/store"
)

// BenchmarkPublishFanout publishes one logged event (an fsynced store
// write) to 100 subscribers.
func BenchmarkPublishFanout(b *testing.B) {
	st, err := store.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	h := New(st, Options{QueueLen: 1 << 20, Ephemeral: []string{"p"}})
	for range 100 {
		h.Subscribe(nil)
	}
	data := map[string]string{"task_id": "0123456789abcdef0123456789abcdef01234567"}
	b.Run("logged", func(b *testing.B) {
		for b.Loop() {
			if _, err := h.Publish("task.state", data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("coalesced", func(b *testing.B) {
		for b.Loop() {
			if err := h.PublishCoalesced("p", "k", data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPublishParallel publishes logged events from 1, 8 and 64
// goroutines at once on a real store in a temporary directory, and reports
// logged (durable) events per second.
func BenchmarkPublishParallel(b *testing.B) {
	for _, n := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("publishers=%d", n), func(b *testing.B) {
			st, err := store.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			h := New(st, Options{})
			defer h.Close()
			data := map[string]string{"task_id": "0123456789abcdef0123456789abcdef01234567", "state": "paused"}
			var wg sync.WaitGroup
			errs := make(chan error, n)
			b.ResetTimer()
			start := time.Now()
			for w := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < b.N; i += n {
						if _, err := h.Publish("task.state", data); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
		})
	}
}
