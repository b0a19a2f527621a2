package eventfeed_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cluster/eventfeed"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode/natsnodetest"
	"github.com/lodestone-bt/lodestone/internal/events"
)

// BenchmarkEventLatency: one event at a time published on node a's local
// hub (server 0; the local fsync included) until a client of the mirror
// hub of a node on server 2 receives it: p50 and p99.
func BenchmarkEventLatency(b *testing.B) {
	servers := natsnodetest.Cluster(b, "efbench", 3)
	pre := uniquePrefix("lat")
	m := newMirror(b, servers, 2, pre, true)
	s := m.hub.Subscribe(nil)
	defer s.Close()
	a := newNode(b, servers, 0, "a", pre)
	a.start(nil)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		began := time.Now()
		if _, err := a.hub.Publish(api.EventTaskAdded, map[string]any{"task_id": fmt.Sprintf("a-%d", i), "i": i}); err != nil {
			b.Fatal(err)
		}
		select {
		case <-s.C():
		case <-s.Done():
			b.Fatal(s.Err())
		case <-time.After(30 * time.Second):
			b.Fatal("event not received")
		}
		lat = append(lat, time.Since(began))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkForwardThroughput: a forwarder started with b.N events (at most
// the local log's 10,000) waiting in its node's log, until the stream
// (R3, three servers) acknowledged them all: events per second.
func BenchmarkForwardThroughput(b *testing.B) {
	if b.N > 10_000 {
		b.Fatalf("-benchtime=%dx: the local log keeps 10000 events", b.N)
	}
	servers := natsnodetest.Cluster(b, "efbench", 3)
	pre := uniquePrefix("thr")
	a := newNode(b, servers, 0, "a", pre)
	// From the start of the log, not from its end as a first start does.
	if err := a.store.PutSetting(eventfeed.CursorKey, []byte("0")); err != nil {
		b.Fatal(err)
	}
	var last *events.Pending
	for i := range b.N {
		p, err := a.hub.Post(api.EventTaskAdded, map[string]any{"task_id": fmt.Sprintf("a-%d", i), "i": i})
		if err != nil {
			b.Fatal(err)
		}
		last = p
	}
	if _, err := last.Wait(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	began := time.Now()
	a.start(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for {
		_, seq, err := a.bus.EventSeqs(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if seq >= uint64(b.N) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(began)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}
