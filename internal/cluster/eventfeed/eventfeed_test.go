package eventfeed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cluster/bus"
	"github.com/lodestone-bt/lodestone/internal/cluster/eventfeed"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode/natsnodetest"
	"github.com/lodestone-bt/lodestone/internal/events"
)

// TestEventFeed runs on one cluster of three routed embedded servers (R3
// streams); each subtest has its own subject prefix, so its own streams.
// Starting a JetStream cluster costs seconds: one for all.
func TestEventFeed(t *testing.T) {
	servers := natsnodetest.Cluster(t, "eventfeed", 3)
	t.Run("ForwardAndMirror", func(t *testing.T) { testForwardAndMirror(t, servers) })
	t.Run("CrashResendStoredOnce", func(t *testing.T) { testCrashResend(t, servers) })
	t.Run("KeepAndFinished", func(t *testing.T) { testKeepAndFinished(t, servers) })
	t.Run("Ephemeral", func(t *testing.T) { testEphemeral(t, servers) })
	t.Run("LiveOnDemand", func(t *testing.T) { testLiveOnDemand(t, servers) })
	t.Run("ReplayWhileFlowing", func(t *testing.T) { testReplayWhileFlowing(t, servers, true) })
	t.Run("ReplayWhileFlowingFromStream", func(t *testing.T) { testReplayWhileFlowing(t, servers, false) })
}

// Two nodes, on servers 0 and 1, each with a store, a local hub and a
// forwarder, publish 200 events each concurrently; a mirror on server 2
// delivers every event exactly once, in stream order (ids 1..400), each
// node's in its local order, with the node named; a replay from 0 on the
// mirror gives the same frames, byte for byte; the stream holds each
// once; and each forwarder's stored cursor reaches its last local event.
func testForwardAndMirror(t *testing.T, servers []*natsnode.Node) {
	pre := uniquePrefix("fm")
	m := newMirror(t, servers, 2, pre, true)
	live := collect(t, m.hub.Subscribe(nil))
	a := newNode(t, servers, 0, "a", pre)
	b := newNode(t, servers, 1, "b", pre)
	a.start(nil)
	b.start(nil)
	const per = 200
	var wg sync.WaitGroup
	for _, n := range []*node{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.publish(api.EventTaskAdded, 0, per)
		}()
	}
	wg.Wait()
	got := live.waitFor(t, 2*per)
	checkOnce(t, got, 1, map[string]int{"a": per, "b": per})

	r := m.hub.Subscribe(nil)
	n, err := m.hub.Replay(r, 0)
	if err != nil || n != 2*per {
		t.Fatalf("mirror Replay(0) = %d, %v; want %d", n, err, 2*per)
	}
	replayed := collect(t, r).waitFor(t, 2*per)
	for i := range got {
		if string(replayed[i].raw) != string(got[i].raw) {
			t.Fatalf("replayed frame %d = %s, live %s", i, replayed[i].raw, got[i].raw)
		}
	}
	if evs := streamEvents(t, a.bus); len(evs) != 2*per {
		t.Fatalf("stream holds %d events, want %d", len(evs), 2*per)
	}
	// The mirror replayed from its memory; a Source without one reads
	// the same frames from the stream.
	var fromStream [][]byte
	if _, err := eventfeed.NewSource(a.bus, nil).EventsAfter(0, func(_ uint64, f []byte) bool {
		fromStream = append(fromStream, f)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(fromStream) != len(got) {
		t.Fatalf("the stream read gives %d events, want %d", len(fromStream), len(got))
	}
	for i := range got {
		if string(fromStream[i]) != string(got[i].raw) {
			t.Fatalf("frame %d read from the stream = %s, live %s", i, fromStream[i], got[i].raw)
		}
	}
	for _, n := range []*node{a, b} {
		// The forwarder writes its cursor within 100 ms of its last event.
		waitUntil(t, "cursor "+n.name, func() bool { return n.cursor() >= lastLogged(t, n) })
	}
}

// lastLogged is the number of the last event in n's local log.
func lastLogged(t testing.TB, n *node) uint64 {
	var last uint64
	if _, err := n.store.EventsAfter(0, func(seq uint64, _ []byte) bool { last = seq; return true }); err != nil {
		t.Fatal(err)
	}
	return last
}

// frozen is a node's real store whose cursor writes are lost from a point
// on: the forwarder's process "died" before writing them.
type frozen struct {
	eventfeed.CursorStore
	on atomic.Bool
}

func (f *frozen) PutSetting(key string, value []byte) error {
	if f.on.Load() {
		return nil
	}
	return f.CursorStore.PutSetting(key, value)
}

// A forwarder killed after publishing events but before writing its
// cursor publishes them again when it restarts; the stream stores each
// once (message ids), and the events published during and after the
// restart arrive too.
func testCrashResend(t *testing.T, servers []*natsnode.Node) {
	pre := uniquePrefix("crash")
	m := newMirror(t, servers, 2, pre, true)
	live := collect(t, m.hub.Subscribe(nil))
	a := newNode(t, servers, 0, "a", pre)
	fz := &frozen{CursorStore: a.store}
	a.start(fz)
	a.publish(api.EventTaskAdded, 0, 100)
	live.waitFor(t, 100)
	fz.on.Store(true) // from here on, the cursor never reaches the disk
	a.publish(api.EventTaskAdded, 100, 100)
	live.waitFor(t, 200)
	a.stop()
	if stored, last := a.cursor(), lastLogged(t, a); stored >= last {
		t.Fatalf("stored cursor %d reached the last event %d: nothing to resend, the test proves nothing", stored, last)
	}
	a.start(nil)
	a.publish(api.EventTaskAdded, 200, 50)
	got := live.waitFor(t, 250)
	a.publish(api.EventTaskAdded, 250, 1) // a marker: everything resent came before it
	got = live.waitFor(t, 251)
	checkOnce(t, got, 1, map[string]int{"a": 251})
	if evs := streamEvents(t, a.bus); len(evs) != 251 {
		t.Fatalf("stream holds %d events, want 251", len(evs))
	}
}

// Events that Keep refuses are not forwarded (the cursor passes them);
// task.finished goes with bus.FinishedID(task, generation), so the same
// finish published twice locally (a node that republishes it) is stored
// once, and a new generation is a new event.
func testKeepAndFinished(t *testing.T, servers []*natsnode.Node) {
	pre := uniquePrefix("keep")
	a := newNode(t, servers, 0, "a", pre)
	// The generation comes with the test's events, so that it does not
	// depend on when the forwarder reads them (the daemon's Keep reads
	// the task list).
	a.keep = func(name string, data json.RawMessage) (bool, uint64) {
		var p struct {
			TaskID string `json:"task_id"`
			Gen    uint64 `json:"gen"`
		}
		if err := json.Unmarshal(data, &p); err != nil {
			t.Errorf("Keep got %s: %v", data, err)
		}
		return !strings.HasSuffix(p.TaskID, "-gone"), p.Gen
	}
	a.start(nil)
	for i := range 20 {
		task := fmt.Sprintf("t%d", i)
		if i%2 == 1 {
			task += "-gone" // owned by another node now
		}
		if _, err := a.hub.Publish(api.EventTaskAdded, map[string]any{"task_id": task, "i": i}); err != nil {
			t.Fatal(err)
		}
	}
	for _, gen := range []int{1, 1, 2} {
		if _, err := a.hub.Publish(api.EventTaskFinished, map[string]any{"task_id": "t0", "gen": gen}); err != nil {
			t.Fatal(err)
		}
	}
	// A marker after them all.
	if _, err := a.hub.Publish(api.EventTaskAdded, map[string]any{"task_id": "end"}); err != nil {
		t.Fatal(err)
	}
	var evs []bus.Event
	waitUntil(t, "the marker in the stream", func() bool {
		evs = streamEvents(t, a.bus)
		return len(evs) > 0 && strings.Contains(string(evs[len(evs)-1].Data), `"end"`)
	})
	added, finished := 0, 0
	for _, e := range evs {
		if strings.Contains(string(e.Data), "-gone") {
			t.Fatalf("refused event forwarded: %s", e.Data)
		}
		switch e.Name {
		case api.EventTaskAdded:
			added++
		case api.EventTaskFinished:
			finished++
		}
		if e.Node != "a" {
			t.Fatalf("event from node %q", e.Node)
		}
	}
	if added != 11 || finished != 2 {
		t.Fatalf("stream holds %d task.added and %d task.finished, want 11 and 2 (generations 1 and 2)", added, finished)
	}
	waitUntil(t, "cursor past every event", func() bool { return a.cursor() >= lastLogged(t, a) })
}

// Ephemeral events of node a reach the mirror of another node, with the
// node named and the id of the mirror's last event, coalesced; they are
// never in the stream.
func testEphemeral(t *testing.T, servers []*natsnode.Node) {
	pre := uniquePrefix("eph")
	m := newMirror(t, servers, 2, pre, true)
	live := collect(t, m.hub.Subscribe(nil))
	a := newNode(t, servers, 0, "a", pre)
	a.start(nil)
	a.publish(api.EventTaskAdded, 0, 3)
	live.waitFor(t, 3)
	// Interest in the live subject crosses the route asynchronously:
	// publish until one arrives.
	var snap wireEvent
	i := 0
	waitUntil(t, "a task.progress on the mirror", func() bool {
		i++
		if err := a.hub.PublishCoalesced(api.EventTaskProgress, "t1", map[string]any{"task_id": "t1", "i": i}); err != nil {
			t.Fatal(err)
		}
		for _, e := range live.events() {
			if e.Name == api.EventTaskProgress {
				snap = e
				return true
			}
		}
		time.Sleep(30 * time.Millisecond)
		return false
	})
	if snap.Node != "a" || snap.task != "t1" || snap.ID != "3" {
		t.Fatalf("snapshot %s: want node a, task t1, id 3", snap.raw)
	}
	if err := a.hub.PublishCoalesced(api.EventSessionStats, api.EventSessionStats, map[string]any{"i": 1}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "session.stats on the mirror", func() bool {
		for _, e := range live.events() {
			if e.Name == api.EventSessionStats && e.Node == "a" {
				return true
			}
		}
		return false
	})
	a.publish(api.EventTaskAdded, 3, 1) // a marker
	live.waitFor(t, 4)
	for _, e := range streamEvents(t, a.bus) {
		if e.Name != api.EventTaskAdded {
			t.Fatalf("%s in the stream", e.Name)
		}
	}
}

// A client of a mirror that started after events were stored replays
// after a point while two nodes publish: it gets every event after the
// point exactly once, in order, then the live ones; the mirror's LastID
// follows the stream. Without the window, every replay reads the stream.
func testReplayWhileFlowing(t *testing.T, servers []*natsnode.Node, window bool) {
	pre := uniquePrefix("flow")
	a := newNode(t, servers, 0, "a", pre)
	b := newNode(t, servers, 1, "b", pre)
	a.start(nil)
	b.start(nil)
	a.publish(api.EventTaskAdded, 0, 50)
	b.publish(api.EventTaskAdded, 0, 50)
	waitUntil(t, "100 events stored", func() bool { return len(streamEvents(t, a.bus)) == 100 })
	m := newMirror(t, servers, 2, pre, window)
	if id, err := m.hub.LastID(); err != nil || id != 100 {
		t.Fatalf("mirror LastID = %d, %v; want 100", id, err)
	}
	const per = 300
	var wg sync.WaitGroup
	for _, n := range []*node{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.publish(api.EventTaskAdded, 50, per)
		}()
	}
	var clients []*collector
	var afters []uint64
	for _, back := range []uint64{90, 30, 0} {
		time.Sleep(50 * time.Millisecond) // spread the clients over the flow
		last, err := m.hub.LastID()
		if err != nil {
			t.Fatal(err)
		}
		after := last - min(last, back)
		s := m.hub.Subscribe(nil)
		if _, err := m.hub.Replay(s, after); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, collect(t, s))
		afters = append(afters, after)
	}
	wg.Wait()
	total := uint64(100 + 2*per)
	// Stage by stage, so that a failure says which stalled.
	waitUntil(t, "every event in the stream", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, last, err := a.bus.EventSeqs(ctx)
		return err == nil && last == total
	})
	waitUntil(t, "every event injected into the mirror", func() bool {
		id, err := m.hub.LastID()
		return err == nil && id == total
	})
	for i, c := range clients {
		got := c.waitFor(t, int(total-afters[i]))
		checkOnce(t, got, afters[i]+1, nil)
		if n := len(got); got[n-1].seq != total {
			t.Fatalf("client %d: last event %d, want %d", i, got[n-1].seq, total)
		}
	}
	if id, err := m.hub.LastID(); err != nil || id != total {
		t.Fatalf("mirror LastID = %d, %v; want %d", id, err, total)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, last, err := a.bus.EventSeqs(ctx); err != nil || last != total {
		t.Fatalf("stream last = %d, %v; want %d", last, err, total)
	}
}

// A mirror subscribes to the nodes' ephemeral events only while a client
// wants some: with a client that wants only task.added, the mirror's
// server has no interest in node a's live subject; when the client asks
// for task.progress it comes, and when the client leaves it goes.
func testLiveOnDemand(t *testing.T, servers []*natsnode.Node) {
	pre := uniquePrefix("ondemand")
	m := newMirror(t, servers, 2, pre, true)
	s := m.hub.Subscribe(events.Names(api.EventTaskAdded))
	c := collect(t, s)
	a := newNode(t, servers, 0, "a", pre)
	a.start(nil)
	a.publish(api.EventTaskAdded, 0, 1)
	c.waitFor(t, 1) // the mirror runs
	acc := servers[2].Server.GlobalAccount()
	subject := pre + ".live.a"
	time.Sleep(2 * time.Second) // two of the mirror's looks
	if n := acc.Interest(subject); n != 0 {
		t.Fatalf("%d subscriptions to %s while no client wants snapshots", n, subject)
	}
	m.hub.SetFilter(s, events.Names(api.EventTaskAdded, api.EventTaskProgress))
	i := 0
	waitUntil(t, "a task.progress on the mirror", func() bool {
		i++
		if err := a.hub.PublishCoalesced(api.EventTaskProgress, "t1", map[string]any{"task_id": "t1", "i": i}); err != nil {
			t.Fatal(err)
		}
		for _, e := range c.events() {
			if e.Name == api.EventTaskProgress {
				return true
			}
		}
		time.Sleep(30 * time.Millisecond)
		return false
	})
	if acc.Interest(subject) == 0 {
		t.Fatal("no interest seen while subscribed: the check above proves nothing")
	}
	c.close()
	s.Close()
	waitUntil(t, "no interest once the client left", func() bool { return acc.Interest(subject) == 0 })
}
