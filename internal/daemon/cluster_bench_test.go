package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
)

// The numbers of cluster mode (issue 20), end to end: three in-process
// nodes whose embedded NATS servers are routed into one JetStream
// cluster on loopback, driven over their WebSocket APIs. The tasks are
// paused magnets of random info-hashes: no swarm, no metadata, so what is
// measured is the cluster's own work (placement, the task list in
// JetStream, the bus, the fan-out of task.list, the event stream).
//
// The clients here dial without the schema check of daemontest.Dial:
// validating a 9,000-task list against the schema would be most of
// what is timed. The nodes log from level Warn only (a benchmark's log
// is always printed).
//
// Run one with, e.g.:
//
//	go test -run '^$' -bench BenchmarkClusterTaskList -benchtime 100x ./internal/daemon/

// startClusterBench starts three nodes "a", "b", "c" failing over after
// failover.
func startClusterBench(b *testing.B, failover time.Duration) []*daemontest.Daemon {
	b.Helper()
	opts := clusterOptions(b, 3, failover)
	for i := range opts {
		configure := opts[i].Configure
		opts[i].Configure = func(c *daemon.Config) {
			configure(c)
			c.Logger = slog.New(slog.NewTextHandler(daemontest.LogWriter(b), &slog.HandlerOptions{Level: slog.LevelWarn}))
		}
	}
	return daemontest.StartAll(b, opts...)
}

// dialBench connects to d with the test token, without the schema check,
// and closes the client when the benchmark ends. Its events are read and
// dropped: a client whose events are not read stops reading responses
// too (9,000 adds are some 18,000 events).
func dialBench(b *testing.B, d *daemontest.Daemon) *client.Client {
	b.Helper()
	c := dialEvents(b, d)
	go func() {
		for range c.Events() {
		}
	}()
	return c
}

// dialEvents is dialBench for a client whose events the caller reads.
func dialEvents(b *testing.B, d *daemontest.Daemon) *client.Client {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, d.URL, daemontest.Token)
	if err != nil {
		b.Fatalf("dial %s: %v", d.URL, err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// namedMagnet is randomMagnet with a display name.
func namedMagnet(name string) string {
	_, uri := randomMagnet()
	return uri + "&dn=" + name
}

// addPausedMagnets adds n paused magnets, the i-th through cs[i%len(cs)]
// pinned to node(i) ("" places it), 16 at a time per client, and returns
// their task ids.
func addPausedMagnets(b *testing.B, cs []*client.Client, n int, node func(i int) string) []string {
	b.Helper()
	ids := make([]string, n)
	var next atomic.Int64
	errs := make(chan error, 16*len(cs))
	var wg sync.WaitGroup
	for range 16 * len(cs) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				pin := node(i)
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				res, err := cs[i%len(cs)].AddTask(ctx, api.TaskAddParams{
					Type: api.TaskTypeMagnet, Data: namedMagnet(fmt.Sprintf("t-%05d", i)),
					Paused: true, Node: pin,
				})
				cancel()
				if err == nil && pin != "" && res.Node != pin {
					err = fmt.Errorf("pinned to %s, answered node %q", pin, res.Node)
				}
				if err != nil {
					errs <- fmt.Errorf("task.add %d: %w", i, err)
					return
				}
				ids[i] = res.TaskID
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return ids
}

// on pins every task to node id.
func on(id string) func(int) string { return func(int) string { return id } }

// quantiles returns the p50 and p99 of ds (nearest rank), in ms.
func quantiles(ds []time.Duration) (p50, p99 float64) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) float64 {
		i := int(q*float64(len(s))+0.999999) - 1
		return float64(s[min(max(i, 0), len(s)-1)]) / float64(time.Millisecond)
	}
	return at(0.50), at(0.99)
}

// BenchmarkClusterTaskList: 9,000 tasks, 3,000 on each node, added
// through the three nodes at once; then the merged task.list through node
// a, with a projection (the fields a list view shows) and in full,
// decoded into api.Task by the Go client, and as raw bytes (-raw: the
// time without the client's decoding; kB/list is the answer's size). Each
// call is timed; p50-ms and p99-ms are over the calls of the run
// (-benchtime 100x: over 100 calls). Issue 20's target: p50 < 200 ms with
// the projection. The setup reports its own rate as setup-adds/s.
func BenchmarkClusterTaskList(b *testing.B) {
	const perNode = 3000
	nodes := startClusterBench(b, 10*time.Second)
	start := time.Now()
	cs := make([]*client.Client, len(nodes))
	for i, d := range nodes {
		cs[i] = dialBench(b, d)
	}
	// Through all three nodes at once, each task pinned to the node it
	// is added through: 3,000 each.
	addPausedMagnets(b, cs, 3*perNode, func(i int) string { return string(rune('a' + i%3)) })
	setupRate := float64(3*perNode) / time.Since(start).Seconds()
	c := dialBench(b, nodes[0])
	for _, bc := range []struct {
		name   string
		fields []string
		raw    bool
	}{
		{"projected", []string{"task_id", "name", "state", "node", "completed"}, false},
		{"full", nil, false},
		{"projected-raw", []string{"task_id", "name", "state", "node", "completed"}, true},
		{"full-raw", nil, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var took []time.Duration
			var size int
			ctx := context.Background()
			for b.Loop() {
				t0 := time.Now()
				var err error
				n := 0
				if bc.raw {
					// The answer as bytes: the time without the
					// client decoding the tasks into structs.
					var res struct {
						Tasks []json.RawMessage `json:"tasks"`
					}
					var raw json.RawMessage
					err = c.Call(ctx, api.MethodTaskList, api.TaskListParams{Fields: bc.fields}, &raw)
					took = append(took, time.Since(t0))
					if err == nil {
						size = len(raw)
						err = json.Unmarshal(raw, &res)
					}
					n = len(res.Tasks)
				} else {
					var tasks []api.Task
					tasks, err = c.ListTasksWith(ctx, api.TaskListParams{Fields: bc.fields})
					took = append(took, time.Since(t0))
					n = len(tasks)
				}
				if err != nil {
					b.Fatalf("task.list: %v", err)
				}
				if n != 3*perNode {
					b.Fatalf("task.list through node a has %d tasks, want %d", n, 3*perNode)
				}
			}
			b.StopTimer()
			if bc.raw {
				b.ReportMetric(float64(size)/1000, "kB/list")
			}
			perNodeSeen := map[string]int{}
			tasks, err := c.ListTasksWith(ctx, api.TaskListParams{Fields: []string{"task_id", "node"}})
			if err != nil {
				b.Fatal(err)
			}
			for _, t := range tasks {
				perNodeSeen[t.Node]++
			}
			for _, id := range []string{"a", "b", "c"} {
				if perNodeSeen[id] != perNode {
					b.Fatalf("merged list: %v tasks by node, want %d on each", perNodeSeen, perNode)
				}
			}
			p50, p99 := quantiles(took)
			b.ReportMetric(p50, "p50-ms")
			b.ReportMetric(p99, "p99-ms")
			b.ReportMetric(setupRate, "setup-adds/s")
		})
	}
}

// BenchmarkClusterTaskAdd: task.add of paused magnets through node a,
// placed by the cluster (so two in three go to another node over the
// bus), from 1 and from 16 concurrent clients (one connection each);
// reports adds/s. Every add is acknowledged only once it is in the task
// list and its node has added it (or addWait has passed).
func BenchmarkClusterTaskAdd(b *testing.B) {
	nodes := startClusterBench(b, 10*time.Second)
	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			cs := make([]*client.Client, clients)
			for i := range cs {
				cs[i] = dialBench(b, nodes[0])
			}
			placed := make([]map[string]int, clients)
			var next atomic.Int64
			var errs atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for i, c := range cs {
				placed[i] = map[string]int{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := next.Add(1); k <= int64(b.N); k = next.Add(1) {
						res, err := c.AddTask(context.Background(), api.TaskAddParams{
							Type: api.TaskTypeMagnet, Data: namedMagnet(fmt.Sprintf("add-%d", k)), Paused: true,
						})
						if err != nil {
							b.Errorf("task.add: %v", err)
							errs.Add(1)
							return
						}
						placed[i][res.Node]++
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "adds/s")
			b.ReportMetric(float64(errs.Load()), "errors")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkClusterFailover: node c holds 1,000 tasks (added through node
// a, pinned), the cluster fails over after 5 s, and node c is closed:
// its heartbeat key stays until it expires, as after a crash. Timed from
// the close to every one of the 1,000 tasks being in node a's merged
// task.list on a live node (a or b: placed again by the coordinator and
// adopted by the new node). Reports failover-s, and after-failover-s =
// failover-s − 5 s, the cluster's own part (the expiry can come up to a
// heartbeat before the full 5 s, so it can be a little short). Each
// iteration is a new cluster; its setup is not timed. A client of node b
// times the task.moved events: first-move-s is from the close to the
// first, moving-s from the first to the last (the coordinator moving the
// 1,000 entries); the rest of failover-s is the new nodes adopting them.
func BenchmarkClusterFailover(b *testing.B) {
	const (
		n        = 1000
		failover = 5 * time.Second
	)
	var total, firstMove, moving time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		nodes := startClusterBench(b, failover)
		started := time.Now()
		ca := dialBench(b, nodes[0])
		ids := addPausedMagnets(b, []*client.Client{ca}, n, on("c"))
		// A client of node b times the task.moved events.
		cm := dialEvents(b, nodes[1])
		if err := cm.Subscribe(ctxB(b, 10*time.Second), api.EventTaskMoved); err != nil {
			b.Fatalf("events.subscribe: %v", err)
		}
		moves := make(chan time.Time, n)
		go func() {
			for ev := range cm.Events() {
				if ev.Name == api.EventTaskMoved {
					select {
					case moves <- time.Now():
					default:
					}
				}
			}
		}()
		// The coordinator acts once it has seen a failover period of
		// heartbeats.
		time.Sleep(time.Until(started.Add(failover + 2*time.Second)))
		b.StartTimer()
		t0 := time.Now()
		nodes[2].Stop(b)
		ctx := context.Background()
		for {
			tasks, err := ca.ListTasksWith(ctx, api.TaskListParams{Fields: []string{"task_id", "node"}})
			if err != nil {
				b.Fatalf("task.list: %v", err)
			}
			where := map[string]string{}
			for _, t := range tasks {
				where[t.TaskID] = t.Node
			}
			moved := 0
			for _, id := range ids {
				if nd := where[id]; nd == "a" || nd == "b" {
					moved++
				}
			}
			if moved == n {
				break
			}
			if time.Since(t0) > failover+2*time.Minute {
				b.Fatalf("after %v, %d of %d tasks of node c are on a live node", time.Since(t0), moved, n)
			}
			time.Sleep(50 * time.Millisecond)
		}
		took := time.Since(t0)
		total += took
		// Every move was published before its task could be adopted.
		if len(moves) < n {
			b.Fatalf("%d task.moved events for %d tasks moved", len(moves), n)
		}
		first := <-moves
		last := first
		for range n - 1 {
			last = <-moves
		}
		firstMove += first.Sub(t0)
		moving += last.Sub(first)
		b.StopTimer()
		nodes[0].Stop(b)
		nodes[1].Stop(b)
	}
	mean := total.Seconds() / float64(b.N)
	b.ReportMetric(mean, "failover-s")
	b.ReportMetric(mean-failover.Seconds(), "after-failover-s")
	b.ReportMetric(firstMove.Seconds()/float64(b.N), "first-move-s")
	b.ReportMetric(moving.Seconds()/float64(b.N), "moving-s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkClusterEvents: 100 WebSocket clients, 34 on node a and 33 on
// each of b and c, subscribed to task.changed. Each iteration sets the
// labels of one of 20 paused tasks of node a through node a (task.set:
// one task.changed, which goes from node a's hub into the event stream
// and out of every node's mirror hub), and waits until all 100 clients
// have it. The latency of one delivery is from the call to the client's
// receipt; p50-ms and p99-ms are over every delivery of the run, call-ms
// the p50 of the call itself.
func BenchmarkClusterEvents(b *testing.B) {
	const (
		clients = 100
		tasks   = 20
	)
	nodes := startClusterBench(b, 10*time.Second)
	ca := dialBench(b, nodes[0])
	ids := addPausedMagnets(b, []*client.Client{ca}, tasks, on("a"))

	// Each client's reader reports the labels of every task.changed
	// it gets, with the time it got it.
	type receipt struct {
		label string
		at    time.Time
	}
	got := make(chan receipt, clients*4)
	ctx, cancel := context.WithCancel(context.Background())
	var readers sync.WaitGroup
	b.Cleanup(func() { cancel(); readers.Wait() })
	for i := range clients {
		c := dialEvents(b, nodes[i%3])
		if err := c.Subscribe(ctxB(b, 10*time.Second), api.EventTaskChanged); err != nil {
			b.Fatalf("events.subscribe: %v", err)
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case ev, ok := <-c.Events():
					if !ok {
						return
					}
					at := time.Now()
					if ev.Name != api.EventTaskChanged {
						continue
					}
					var d api.TaskChangedData
					if err := json.Unmarshal(ev.Data, &d); err != nil || len(d.Task.Labels) != 1 {
						continue
					}
					select {
					case got <- receipt{d.Task.Labels[0], at}:
					case <-ctx.Done():
						return
					}
				}
			}
		}()
	}

	var lat, calls []time.Duration
	i := 0
	for b.Loop() {
		label := fmt.Sprintf("l%d", i)
		labels := []string{label}
		t0 := time.Now()
		if _, err := ca.SetTask(ctxB(b, 10*time.Second), api.TaskSetParams{TaskID: ids[i%tasks], Labels: &labels}); err != nil {
			b.Fatalf("task.set: %v", err)
		}
		calls = append(calls, time.Since(t0))
		deadline := time.After(30 * time.Second)
		for k := 0; k < clients; {
			select {
			case r := <-got:
				if r.label != label {
					b.Fatalf("a client got task.changed of label %s while %s was awaited: an event late or twice", r.label, label)
				}
				lat = append(lat, r.at.Sub(t0))
				k++
			case <-deadline:
				b.Fatalf("iteration %d: %d of %d clients got the event within 30s", i, k, clients)
			}
		}
		i++
	}
	b.StopTimer()
	p50, p99 := quantiles(lat)
	c50, _ := quantiles(calls)
	b.ReportMetric(p50, "p50-ms")
	b.ReportMetric(p99, "p99-ms")
	b.ReportMetric(c50, "call-ms")
}

// ctxB is a context that ends after d or with the benchmark.
func ctxB(b *testing.B, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	b.Cleanup(cancel)
	return ctx
}
