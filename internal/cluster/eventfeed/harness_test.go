package eventfeed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cluster/bus"
	"github.com/lodestone-bt/lodestone/internal/cluster/eventfeed"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode"
	"github.com/lodestone-bt/lodestone/internal/events"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// TestMain fails the package if a goroutine (a forwarder's, a server's)
// outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var prefixes atomic.Int64

// uniquePrefix keeps each test's streams and subjects apart on a shared
// cluster, also across -count=N.
func uniquePrefix(name string) string {
	return fmt.Sprintf("%s%d", name, prefixes.Add(1))
}

// connect opens a connection of its own to server i, closed when the test
// ends.
func connect(t testing.TB, servers []*natsnode.Node, i int) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(servers[i].ClientURL(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// newBus creates the streams with prefix on nc, R3, retrying while
// JetStream elects leaders.
func newBus(t testing.TB, nc *nats.Conn, prefix string) *bus.Bus {
	t.Helper()
	return newBusR(t, nc, prefix, 3)
}

// newBusR is newBus for a cluster of servers servers.
func newBusR(t testing.TB, nc *nats.Conn, prefix string, servers int) *bus.Bus {
	t.Helper()
	cfg := bus.Default()
	cfg.Prefix = prefix
	cfg.Replicas = bus.Replicas(servers)
	cfg.EventMaxBytes = 16 << 20 // reserved per stream on every replica
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		b, err := bus.New(ctx, nc, cfg)
		cancel()
		if err == nil {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("bus.New: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// node is one cluster node's event side: a real store, its local hub,
// its connection and bus, and a forwarder that can be stopped and started.
type node struct {
	t      testing.TB
	name   string
	prefix string
	store  *store.Store
	hub    *events.Hub
	conn   *nats.Conn
	bus    *bus.Bus
	keep   func(string, json.RawMessage) (bool, uint64)
	// publishTimeout and log, when set, go to the forwarder's config.
	publishTimeout time.Duration
	log            *slog.Logger

	cancel context.CancelFunc
	done   chan error
}

func newNode(t testing.TB, servers []*natsnode.Node, server int, name, prefix string) *node {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, name: name, prefix: prefix, store: st}
	n.hub = events.New(st, events.Options{Ephemeral: api.EphemeralEvents})
	n.conn = connect(t, servers, server)
	n.bus = newBus(t, n.conn, prefix)
	t.Cleanup(func() {
		n.stop()
		n.hub.Close()
		st.Close()
	})
	return n
}

// start runs a forwarder with cursor store cs (nil: the node's store).
func (n *node) start(cs eventfeed.CursorStore) {
	if cs == nil {
		cs = n.store
	}
	f, err := eventfeed.NewForwarder(eventfeed.ForwardConfig{
		Node: n.name, Hub: n.hub, Cursor: cs, Bus: n.bus, Conn: n.conn, Prefix: n.prefix, Keep: n.keep,
		PublishTimeout: n.publishTimeout, Logger: n.log,
	})
	if err != nil {
		n.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan error, 1)
	go func() { n.done <- f.Run(ctx) }()
}

// stop stops the forwarder, if running, and fails the test if it failed.
func (n *node) stop() {
	if n.cancel == nil {
		return
	}
	n.cancel()
	if err := <-n.done; err != nil {
		n.t.Errorf("forward %s: %v", n.name, err)
	}
	n.cancel = nil
}

// publish publishes count events named name on the node's local hub,
// with data {"task_id": "<node>-<i>", "i": i} for i from first.
func (n *node) publish(name string, first, count int) {
	for i := first; i < first+count; i++ {
		if _, err := n.hub.Publish(name, map[string]any{"task_id": fmt.Sprintf("%s-%d", n.name, i), "i": i}); err != nil {
			n.t.Error(err)
			return
		}
	}
}

// cursor returns the cursor the node's store holds.
func (n *node) cursor() uint64 {
	b, err := n.store.Setting(eventfeed.CursorKey)
	if err != nil {
		n.t.Fatal(err)
	}
	c, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		n.t.Fatalf("cursor %q: %v", b, err)
	}
	return c
}

// mirror is a node's mirror hub fed by Mirror; with window, its Source
// keeps the recent events (as in the daemon), else every replay reads the
// stream.
type mirror struct {
	hub    *events.Hub
	cancel context.CancelFunc
	done   chan error
}

func newMirror(t testing.TB, servers []*natsnode.Node, server int, prefix string, window bool) *mirror {
	t.Helper()
	nc := connect(t, servers, server)
	b := newBus(t, nc, prefix)
	src := eventfeed.NewSource(b, nil)
	h, err := events.NewMirror(src, events.Options{Ephemeral: api.EphemeralEvents})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &mirror{hub: h, cancel: cancel, done: make(chan error, 1)}
	cfg := eventfeed.MirrorConfig{Hub: h, Bus: b, Conn: nc, Prefix: prefix}
	if window {
		cfg.Source = src
	}
	go func() { m.done <- eventfeed.Mirror(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-m.done; err != nil {
			t.Errorf("mirror: %v", err)
		}
		h.Close()
	})
	return m
}

// wireEvent is a frame as a client decodes it.
type wireEvent struct {
	ID   string          `json:"id"`
	Name string          `json:"name"`
	Node string          `json:"node"`
	Data json.RawMessage `json:"data"`
	raw  []byte
	seq  uint64
	i    int
	task string
}

func decode(t testing.TB, f []byte) wireEvent {
	t.Helper()
	var e wireEvent
	if err := json.Unmarshal(f, &e); err != nil {
		t.Fatalf("frame %s: %v", f, err)
	}
	var d struct {
		I      int    `json:"i"`
		TaskID string `json:"task_id"`
	}
	if err := json.Unmarshal(e.Data, &d); err != nil {
		t.Fatalf("frame %s: %v", f, err)
	}
	seq, err := strconv.ParseUint(e.ID, 10, 64)
	if err != nil {
		t.Fatalf("frame %s: %v", f, err)
	}
	e.raw, e.seq, e.i, e.task = f, seq, d.I, d.TaskID
	return e
}

// collector reads a subscription, as a connection's writer does, until
// it is stopped.
type collector struct {
	mu   sync.Mutex
	got  []wireEvent
	stop chan struct{}
	done chan struct{}
	err  error
}

func collect(t testing.TB, s *events.Subscription) *collector {
	c := &collector{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			f, ok := s.Next()
			if !ok {
				select {
				case f = <-s.C():
				case <-s.Kick():
					continue
				case <-s.Done():
					c.err = s.Err()
					return
				case <-c.stop:
					return
				}
			}
			e := decode(t, f)
			c.mu.Lock()
			c.got = append(c.got, e)
			c.mu.Unlock()
		}
	}()
	t.Cleanup(c.close)
	return c
}

func (c *collector) close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
}

func (c *collector) events() []wireEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]wireEvent(nil), c.got...)
}

// waitFor waits until c has n logged events (snapshots are not counted).
func (c *collector) waitFor(t testing.TB, n int) []wireEvent {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := logged(c.events())
		if len(got) >= n {
			return got
		}
		select {
		case <-c.done:
			t.Fatalf("subscription ended (%v) after %d of %d events", c.err, len(got), n)
		default:
		}
		if time.Now().After(deadline) {
			last := "none"
			if len(got) > 0 {
				last = got[len(got)-1].ID
			}
			t.Fatalf("timed out waiting for %d events: got %d, the last %s", n, len(got), last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logged drops the snapshots.
func logged(evs []wireEvent) []wireEvent {
	var out []wireEvent
	for _, e := range evs {
		if e.Name != api.EventTaskProgress && e.Name != api.EventSessionStats {
			out = append(out, e)
		}
	}
	return out
}

func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// streamEvents returns every event in the stream.
func streamEvents(t testing.TB, b *bus.Bus) []bus.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	evs, err := b.Replay(ctx, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// checkOnce fails unless evs are contiguous sequences from first and hold
// each (node, i) of want exactly once, each node's in increasing i.
func checkOnce(t testing.TB, evs []wireEvent, first uint64, want map[string]int) {
	t.Helper()
	seen := map[string]bool{}
	lastI := map[string]int{}
	count := map[string]int{}
	for k, e := range evs {
		if e.seq != first+uint64(k) {
			t.Fatalf("event %d has id %d, want %d (gap or duplicate)", k, e.seq, first+uint64(k))
		}
		key := e.Node + "/" + e.task
		if seen[key] {
			t.Fatalf("event %s (%s) delivered twice", key, e.ID)
		}
		seen[key] = true
		if i, ok := lastI[e.Node]; ok && e.i <= i {
			t.Fatalf("node %s: event %d after %d: local order lost", e.Node, e.i, i)
		}
		lastI[e.Node] = e.i
		count[e.Node]++
	}
	for n, c := range want {
		if count[n] != c {
			t.Fatalf("node %s: %d events, want %d", n, count[n], c)
		}
	}
}
