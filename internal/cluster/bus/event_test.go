package bus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/cluster/bus"
)

func replay(t *testing.T, b *bus.Bus, after uint64, limit int) []bus.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	evs, err := b.Replay(ctx, after, limit)
	if err != nil {
		t.Fatalf("replay after %d: %v", after, err)
	}
	return evs
}

// checkContiguous fails unless evs have the sequences from, from+1, ….
func checkContiguous(t *testing.T, evs []bus.Event, from uint64) {
	t.Helper()
	for i, e := range evs {
		if want := from + uint64(i); e.Seq != want {
			t.Fatalf("event %d has seq %d, want %d (gap or duplicate)", i, e.Seq, want)
		}
	}
}

// key strips what differs between readers (nothing should) for comparing.
func key(e bus.Event) string {
	return fmt.Sprintf("%d/%s/%s/%s", e.Seq, e.Node, e.Name, e.Data)
}

// TestEventsReplaySameFromEveryServer: three nodes publish concurrently
// through three servers; Replay(0) from each server's connection returns
// the same events, sequences 1..N with no gap and no duplicate, each
// published event exactly once; paging with after gives the same list.
func TestEventsReplaySameFromEveryServer(t *testing.T) {
	c := sharedCluster(t)
	pre := uniquePrefix("t")
	cfg := testConfig(pre)
	buses := []*bus.Bus{newBus(t, c.connect(0), cfg), newBus(t, c.connect(1), cfg), newBus(t, c.connect(2), cfg)}
	const per = 40
	var wg sync.WaitGroup
	errs := make(chan error, 3*per)
	for i, b := range buses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := fmt.Sprintf("n%d", i)
			for j := range per {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := b.Publish(ctx, node, "task.progress", json.RawMessage(fmt.Sprintf(`{"n":%d}`, j)))
				cancel()
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	var first []string
	for i, b := range buses {
		evs := replay(t, b, 0, 1000)
		if len(evs) != 3*per {
			t.Fatalf("server %d replayed %d events, want %d", i, len(evs), 3*per)
		}
		checkContiguous(t, evs, 1)
		seen := map[string]bool{}
		var keys []string
		for _, e := range evs {
			seen[e.Node+string(e.Data)] = true
			keys = append(keys, key(e))
		}
		if len(seen) != 3*per {
			t.Fatalf("server %d: %d distinct events, want %d", i, len(seen), 3*per)
		}
		if first == nil {
			first = keys
		} else if !reflect.DeepEqual(keys, first) {
			t.Fatalf("server %d replays a different sequence than server 0", i)
		}
	}
	// Paging: 7 at a time from server 2 gives the same list.
	var paged []string
	for after := uint64(0); ; {
		evs := replay(t, buses[2], after, 7)
		if len(evs) == 0 {
			break
		}
		checkContiguous(t, evs, after+1)
		for _, e := range evs {
			paged = append(paged, key(e))
		}
		after = evs[len(evs)-1].Seq
	}
	if !reflect.DeepEqual(paged, first) {
		t.Fatalf("paged replay differs: %d events vs %d", len(paged), len(first))
	}
	if evs := replay(t, buses[0], uint64(3*per), 10); len(evs) != 0 {
		t.Fatalf("replay after the last event returned %d events", len(evs))
	}
	// Each Replay deleted its consumer: none is left on the stream.
	if n := streamConsumers(t, c.connect(1), strings.ToUpper(pre)+"_EVENTS"); n != 0 {
		t.Fatalf("%d consumers left on the event stream after the replays", n)
	}
}

// TestFinishedExactlyOnce: task.finished republished with its deterministic
// id (a node restarted and published it again) is stored once, and the
// republish gets the first event's id; a new generation is a new event.
func TestFinishedExactlyOnce(t *testing.T) {
	c := sharedCluster(t)
	pre := uniquePrefix("t")
	cfg := testConfig(pre)
	b0 := newBus(t, c.connect(0), cfg)
	b1 := newBus(t, c.connect(1), cfg) // the node after its restart, on another server
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	data := json.RawMessage(`{"id":"t1"}`)
	first, err := b0.Publish(ctx, "a", "task.finished", data, bus.WithID(bus.FinishedID("t1", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b0.Publish(ctx, "a", "task.progress", data); err != nil {
		t.Fatal(err)
	}
	again, err := b1.Publish(ctx, "a", "task.finished", data, bus.WithID(bus.FinishedID("t1", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Fatalf("republish got id %d, want the first's %d", again, first)
	}
	next, err := b1.Publish(ctx, "a", "task.finished", data, bus.WithID(bus.FinishedID("t1", 2)))
	if err != nil || next == first {
		t.Fatalf("generation 2: id %d, %v; want a new event", next, err)
	}
	evs := replay(t, b1, 0, 100)
	checkContiguous(t, evs, 1)
	var finished []uint64
	for _, e := range evs {
		if e.Name == "task.finished" {
			finished = append(finished, e.Seq)
		}
	}
	if !reflect.DeepEqual(finished, []uint64{first, next}) || len(evs) != 3 {
		t.Fatalf("task.finished at %v of %d events, want at %d and %d of 3", finished, len(evs), first, next)
	}
}

// TestSubscribeFromSequence: a subscription through server 2 from a
// sequence gets the stored events after it and then live ones published
// through server 0, in order with no gap, until it is closed.
func TestSubscribeFromSequence(t *testing.T) {
	c := sharedCluster(t)
	pre := uniquePrefix("t")
	cfg := testConfig(pre)
	pub := newBus(t, c.connect(0), cfg)
	reader := newBus(t, c.connect(2), cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	publish := func(n int) {
		for i := range n {
			if _, err := pub.Publish(ctx, "a", "e", json.RawMessage(fmt.Sprintf("%d", i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(10)
	sub, err := reader.Subscribe(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	publish(10)
	want := uint64(5)
	for want <= 20 {
		select {
		case e, ok := <-sub.C():
			if !ok {
				t.Fatal("subscription ended early")
			}
			if e.Seq != want || e.Node != "a" || e.Name != "e" {
				t.Fatalf("got %+v, want seq %d", e, want)
			}
			want++
		case <-ctx.Done():
			t.Fatalf("waiting for seq %d: %v", want, ctx.Err())
		}
	}
	sub.Close()
	for range sub.C() { // drained and closed
	}
}
