package eventfeed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode/natsnodetest"
	"github.com/lodestone-bt/lodestone/internal/events"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// TestForwardThroughOutage: the node's NATS server goes away while the
// node publishes 1,500 events, more than the forwarder's queue holds (so
// the hub cuts it off and it resumes through a replay of the local log);
// no local Publish waits for NATS. When the server is back on its store,
// the forwarder's retries get every event into the stream, once each, in
// local order.
func TestForwardThroughOutage(t *testing.T) {
	opts := natsnode.Options{
		Name:     "solo",
		StoreDir: t.TempDir(),
		Listen:   fmt.Sprintf("127.0.0.1:%d", natsnodetest.FreePort(t)),
	}
	start := func() *natsnode.Node {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		nd, err := natsnode.Start(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		return nd
	}
	srv := start()
	servers := []*natsnode.Node{srv}
	pre := uniquePrefix("outage")

	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := &node{t: t, name: "a", prefix: pre, store: st}
	a.hub = events.New(st, events.Options{Ephemeral: api.EphemeralEvents})
	defer a.hub.Close()
	a.conn = connect(t, servers, 0)
	a.bus = newBusR(t, a.conn, pre, 1)
	// Short attempts, so that the outage fails some; the log says so.
	a.publishTimeout = 200 * time.Millisecond
	logs := &countHandler{}
	a.log = slog.New(logs)
	a.start(nil)
	defer a.stop()

	post := func(from, n int) {
		t.Helper()
		var last *events.Pending
		for i := from; i < from+n; i++ {
			p, err := a.hub.Post(api.EventTaskAdded, map[string]any{"task_id": fmt.Sprintf("a-%d", i), "i": i})
			if err != nil {
				t.Fatal(err)
			}
			last = p
		}
		if _, err := last.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	post(0, 10)
	waitUntil(t, "10 events stored", func() bool { return len(streamEvents(t, a.bus)) == 10 })

	srv.Shutdown()
	began := time.Now()
	post(10, 1500)
	if d := time.Since(began); d > 30*time.Second {
		t.Errorf("publishing locally took %v with NATS down", d)
	}
	waitUntil(t, "a failed publish", func() bool { return logs.count("event not stored in the cluster yet; retrying") > 0 })
	time.Sleep(time.Second) // a few more attempts
	srv = start()
	defer srv.Shutdown()
	post(1510, 10)

	var got []int
	waitUntil(t, "1520 events stored", func() bool {
		evs := streamEvents(t, a.bus)
		got = got[:0]
		for _, e := range evs {
			var d struct{ I int }
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatal(err)
			}
			got = append(got, d.I)
		}
		return len(evs) >= 1520
	})
	if len(got) != 1520 {
		t.Fatalf("stream holds %d events, want 1520", len(got))
	}
	for k, i := range got {
		if i != k {
			t.Fatalf("stream event %d is local event %d: lost, repeated or reordered", k, i)
		}
	}
	if a.hub.Dropped() == 0 {
		t.Fatal("the forwarder was never cut off for lagging: its resume from the cursor was not exercised")
	}
}

// countHandler counts log messages.
type countHandler struct {
	mu   sync.Mutex
	msgs map[string]int
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.msgs == nil {
		h.msgs = map[string]int{}
	}
	h.msgs[r.Message]++
	return nil
}

func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }

func (h *countHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.msgs[msg]
}
