package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cluster"
	"github.com/lodestone-bt/lodestone/internal/cluster/membership"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode/natsnodetest"
	"github.com/lodestone-bt/lodestone/internal/cluster/tasklist"
	"github.com/lodestone-bt/lodestone/internal/events"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// BenchmarkFailoverMoves measures how fast the failover coordinator
// re-places the entries of a node that stopped: three nodes on three
// routed embedded servers (R3), 5,000 entries placed on node c, c
// stopped (its heartbeat left to expire, failover time 3 s); reported are
// the time from the stop to the first move and to the last, and the moves
// a second in between (each a compare-and-set of the entry and an
// acknowledged task.moved). The nodes' daemons are stand-ins that accept
// every call: what is measured is the cluster's side, not adoption.
// docs/CLUSTER.md uses it for its arithmetic at 1,000,000 tasks. Run it
// with -benchtime=1x: one op is one whole failover.
func BenchmarkFailoverMoves(b *testing.B) {
	const (
		tasks = 5000
		ttl   = 3 * time.Second
	)
	for range b.N {
		b.StopTimer()
		srvs := natsnodetest.Cluster(b, "bench", 3)
		nodes := map[string]*cluster.Node{}
		for i, id := range []string{"a", "b", "c"} {
			n, err := cluster.Start(context.Background(), cluster.Config{
				URLs: []string{srvs[i].ClientURL()}, NodeID: id, Name: "bench", FailoverAfter: ttl,
			}, cluster.Deps{DataDir: b.TempDir(), APIURL: "ws://127.0.0.1:1/ws", Version: "bench", Token: "t", TokenGiven: true})
			if err != nil {
				b.Fatal(err)
			}
			st, err := store.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			hub := events.New(st, events.Options{Ephemeral: api.EphemeralEvents})
			err = n.Run(cluster.Local{
				Call: func(context.Context, string, json.RawMessage) (json.RawMessage, error) {
					return json.RawMessage(`{}`), nil
				},
				Tasks:    func() []api.Task { return nil },
				Status:   func() membership.Status { return membership.Status{FreeDisk: 1 << 30} },
				Hub:      hub,
				Settings: st,
			})
			if err != nil {
				b.Fatal(err)
			}
			nodes[id] = n
			b.Cleanup(func() { n.Close(); hub.Close(); st.Close() })
		}
		ctx := context.Background()
		l, err := tasklist.Open(ctx, tasklist.Config{JS: srvs[0].JS, Replicas: 3})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(l.Close)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for i := range tasks {
			id := fmt.Sprintf("%040x", i+1)
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				_, err := l.Create(ctx, tasklist.Entry{TaskID: id, Node: "c", Generation: 1, AddedAt: time.Now().UTC(),
					Add: api.TaskAddParams{Type: api.TaskTypeMagnet, Data: "magnet:?xt=urn:btih:" + id}}, nil)
				if err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		// The coordinator (a) coordinates one failover time after its start.
		time.Sleep(ttl + time.Second)
		b.StartTimer()
		t0 := time.Now()
		nodes["c"].Close()
		var first time.Time
		for left := tasks; left > 0; left = l.Counts()["c"] {
			if left < tasks && first.IsZero() {
				first = time.Now()
			}
			if time.Since(t0) > 5*time.Minute {
				b.Fatalf("%d entries still on the stopped node after 5 minutes", left)
			}
			time.Sleep(10 * time.Millisecond)
		}
		last := time.Now()
		b.StopTimer()
		if first.IsZero() {
			first = last
		}
		if counts := l.Counts(); counts["a"]+counts["b"] != tasks {
			b.Fatalf("after the failover: %v, want all %d on a and b", counts, tasks)
		}
		b.ReportMetric(first.Sub(t0).Seconds(), "s-to-first-move")
		b.ReportMetric(last.Sub(t0).Seconds(), "s-to-last-move")
		b.ReportMetric(float64(tasks)/max(last.Sub(first).Seconds(), 1e-3), "moves/s")
	}
}
