package webhook

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/events"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// BenchmarkDeliver measures the whole path of one event to a loopback
// receiver that answers 204 at once: published and logged by the hub,
// written to the outbox (fsynced), signed, POSTed, and recorded as
// delivered. The receiver is not the bottleneck: it only counts.
func BenchmarkDeliver(b *testing.B) {
	for _, hooks := range []int{1, 4} {
		b.Run(map[int]string{1: "webhooks=1", 4: "webhooks=4"}[hooks], func(b *testing.B) {
			st, err := store.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			hub := events.New(st, events.Options{Ephemeral: api.EphemeralEvents})
			defer st.Close()
			defer hub.Close()
			var got atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				got.Add(1)
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			m, err := New(Config{Store: st, Hub: hub, AllowPrivate: true})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); m.Run(ctx) }()
			defer func() { cancel(); <-done }()
			for range hooks {
				if _, err := m.Add(ctx, api.WebhookAddParams{URL: srv.URL, Events: []string{api.EventTaskAdded}}); err != nil {
					b.Fatal(err)
				}
			}
			data := api.TaskAddedData{TaskID: "0123456789abcdef0123456789abcdef01234567", Name: "benchmark.iso"}
			b.ResetTimer()
			for range b.N {
				if _, err := hub.Publish(api.EventTaskAdded, data); err != nil {
					b.Fatal(err)
				}
			}
			want := int64(b.N * hooks)
			deadline := time.Now().Add(5 * time.Minute)
			for got.Load() < want {
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d deliveries after 5 minutes", got.Load(), want)
				}
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}
