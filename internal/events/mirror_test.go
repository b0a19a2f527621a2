package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
)

// memSource is the in-memory twin of the cluster's event stream: events
// numbered by their position, the oldest droppable.
type memSource struct {
	mu      sync.Mutex
	first   uint64 // number of frames[0]
	frames  [][]byte
	dropped uint64
}

func newMemSource() *memSource { return &memSource{first: 1} }

// add stores the next event and returns its number and frame.
func (m *memSource) add(t testing.TB, name string) (uint64, []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	seq := m.first + uint64(len(m.frames))
	f, err := Frame(seq, name, "n1", json.RawMessage(fmt.Sprintf(`{"seq":%d}`, seq)))
	if err != nil {
		t.Fatal(err)
	}
	m.frames = append(m.frames, f)
	return seq, f
}

// drop removes the oldest n events.
func (m *memSource) drop(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.frames = m.frames[n:]
	m.first += uint64(n)
	m.dropped = m.first - 1
}

func (m *memSource) EventsAfter(after uint64, fn func(uint64, []byte) bool) (uint64, error) {
	m.mu.Lock()
	first, frames, dropped := m.first, m.frames, m.dropped
	m.mu.Unlock()
	for i, f := range frames {
		if seq := first + uint64(i); seq > after && !fn(seq, f) {
			break
		}
	}
	return dropped, nil
}

func (m *memSource) LastSeq() (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.first + uint64(len(m.frames)) - 1, nil
}

func newMirror(t *testing.T, src Source, queue int) *Hub {
	t.Helper()
	h, err := NewMirror(src, Options{QueueLen: queue, Ephemeral: api.EphemeralEvents})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// A mirror's frames have the local hub's shape, byte for byte, when no node
// is named; with one, "node" follows "name" and frameName still reads it.
func TestFrameShape(t *testing.T) {
	data := json.RawMessage(`{"task_id":"ab","x":"<&>"}`)
	want, err := json.Marshal(api.Event{ID: "42", Name: "task.added", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Frame(42, "task.added", "", data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Frame = %s, want %s", got, want)
	}
	got, err = Frame(42, "task.added", "node-1", data)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"id":"42","name":"task.added","node":"node-1","data":{"task_id":"ab","x":"\u003c\u0026\u003e"}}`; string(got) != want {
		t.Fatalf("Frame = %s, want %s", got, want)
	}
	if n := frameName(got); n != "task.added" {
		t.Fatalf("frameName = %q", n)
	}
	if _, err := Frame(1, "x", "", json.RawMessage(`{bad`)); err == nil {
		t.Fatal("Frame took data that is not JSON")
	}
}

// LastID starts at the source's last event, follows injected events, and
// ignores old and repeated ones; a mirror refuses Publish and Post, and a
// local hub refuses Inject.
func TestMirrorLastIDAndRefusals(t *testing.T) {
	src := newMemSource()
	for range 5 {
		src.add(t, "x")
	}
	h := newMirror(t, src, 0)
	if id, err := h.LastID(); err != nil || id != 5 {
		t.Fatalf("LastID = %d, %v; want 5", id, err)
	}
	s := h.Subscribe(nil)
	defer s.Close()
	old, _ := Frame(3, "x", "n1", nil)
	if err := h.Inject(3, "x", old); err != nil { // before the start: ignored
		t.Fatal(err)
	}
	seq, f := src.add(t, "x")
	for range 2 { // the second is a duplicate
		if err := h.Inject(seq, "x", f); err != nil {
			t.Fatal(err)
		}
	}
	if id, err := h.LastID(); err != nil || id != 6 {
		t.Fatalf("LastID = %d, %v; want 6", id, err)
	}
	if got := len(s.C()); got != 1 {
		t.Fatalf("%d frames queued, want 1 (event 6 once)", got)
	}
	if _, err := h.Publish("x", 1); !errors.Is(err, ErrMirror) {
		t.Errorf("Publish on a mirror = %v, want ErrMirror", err)
	}
	if _, err := h.Post("x", 1); !errors.Is(err, ErrMirror) {
		t.Errorf("Post on a mirror = %v, want ErrMirror", err)
	}
	local, _ := newHub(t, 0)
	defer local.Close()
	if err := local.Inject(1, "x", f); !errors.Is(err, ErrNotMirror) {
		t.Errorf("Inject on a local hub = %v, want ErrNotMirror", err)
	}
	if err := local.InjectSnapshot("x", "k", "n", nil); !errors.Is(err, ErrNotMirror) {
		t.Errorf("InjectSnapshot on a local hub = %v, want ErrNotMirror", err)
	}
	h.Close()
	if err := h.Inject(7, "x", f); !errors.Is(err, ErrClosed) {
		t.Errorf("Inject after Close = %v, want ErrClosed", err)
	}
}

// Subscribers replaying from many points while events are injected
// concurrently each receive exactly the events after their point, in
// order, with no gap and no duplicate, and then the live ones.
func TestMirrorReplayDuringInjection(t *testing.T) {
	src := newMemSource()
	const before, total = 300, 3000
	for range before {
		src.add(t, "x")
	}
	h := newMirror(t, src, 1<<16)
	afters := []uint64{0, 1, 150, 299, 300}
	type result struct {
		after uint64 // where the replay started
		ids   []uint64
	}
	results := make(chan result, 2*len(afters))
	var wg sync.WaitGroup
	start := make(chan struct{})
	sub := func(after uint64, wait bool) {
		defer wg.Done()
		if wait {
			<-start // subscribe while events are injected
			last, err := h.LastID()
			if err != nil {
				t.Error(err)
				return
			}
			after = last - min(last, after)
		}
		s := h.Subscribe(nil)
		defer s.Close()
		if _, err := h.Replay(s, after); err != nil {
			t.Error(err)
			return
		}
		var ids []uint64
		for len(ids) == 0 || ids[len(ids)-1] < total {
			f, ok := s.Next()
			if !ok {
				select {
				case f = <-s.C():
				case <-s.Done():
					t.Errorf("subscription ended: %v", s.Err())
					return
				}
			}
			id, _ := frameID(t, f)
			ids = append(ids, id)
		}
		results <- result{after, ids}
	}
	for _, a := range afters {
		wg.Add(2)
		go sub(a, false)
		go sub(a*3, true) // replays the last a*3 events at some moment
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := before; i < total; i++ {
			if i == before+200 {
				close(start)
			}
			seq, f := src.add(t, "x")
			if err := h.Inject(seq, "x", f); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	close(results)
	n := 0
	for r := range results {
		n++
		if len(r.ids) == 0 {
			t.Fatal("no events")
		}
		from := r.ids[0]
		for i, id := range r.ids {
			if id != from+uint64(i) {
				t.Fatalf("subscriber %d: event %d is %d, want %d (gap or duplicate)", n, i, id, from+uint64(i))
			}
		}
		if from != r.after+1 {
			t.Fatalf("subscriber %d replayed after %d but got %d first", n, r.after, from)
		}
	}
	if n != 2*len(afters) {
		t.Fatalf("%d subscribers finished, want %d", n, 2*len(afters))
	}
}

// A replay from a fixed point starts exactly after it.
func TestMirrorReplayStartsAfter(t *testing.T) {
	src := newMemSource()
	for range 100 {
		src.add(t, "x")
	}
	h := newMirror(t, src, 0)
	for _, after := range []uint64{0, 42, 99, 100} {
		last, _ := src.LastSeq()
		s := h.Subscribe(nil)
		n, err := h.Replay(s, after)
		if err != nil || n != int(last-after) {
			t.Fatalf("Replay(%d) = %d, %v; want %d", after, n, err, last-after)
		}
		seq, f := src.add(t, "x")
		if err := h.Inject(seq, "x", f); err != nil {
			t.Fatal(err)
		}
		var ids []uint64
		for {
			f, ok := s.Next()
			if !ok {
				select {
				case f = <-s.C():
				default:
				}
			}
			if f == nil {
				break
			}
			id, _ := frameID(t, f)
			ids = append(ids, id)
		}
		if len(ids) != int(seq-after) || (len(ids) > 0 && ids[0] != after+1) || ids[len(ids)-1] != seq {
			t.Fatalf("after %d: got %d events %v…, want %d..%d", after, len(ids), ids[:min(3, len(ids))], after+1, seq)
		}
		s.Close()
	}
}

// Filters apply to replayed and live events alike.
func TestMirrorFilter(t *testing.T) {
	src := newMemSource()
	names := []string{"a", "b", "c"}
	for i := range 30 {
		src.add(t, names[i%3])
	}
	h := newMirror(t, src, 0)
	s := h.Subscribe(Names("b"))
	defer s.Close()
	n, err := h.Replay(s, 0)
	if err != nil || n != 10 {
		t.Fatalf("Replay = %d, %v; want 10", n, err)
	}
	for i := 30; i < 60; i++ {
		seq, f := src.add(t, names[i%3])
		if err := h.Inject(seq, names[i%3], f); err != nil {
			t.Fatal(err)
		}
	}
	got := consume(s, closedChan())
	if len(got) != 20 {
		t.Fatalf("got %d events, want 20", len(got))
	}
	for i, f := range got {
		id, name := frameID(t, f)
		if name != "b" || id != uint64(3*i+2) {
			t.Fatalf("event %d = %d %s, want %d b", i, id, name, 3*i+2)
		}
	}
	if !h.Wanted("b") || h.Wanted("a") {
		t.Error("Wanted does not follow the filter")
	}
}

func closedChan() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// A subscriber that stops reading is cut off with ErrLagging; injecting
// never blocks.
func TestMirrorLaggingSubscriberIsCutOff(t *testing.T) {
	src := newMemSource()
	h := newMirror(t, src, 4)
	slow := h.Subscribe(nil)
	fast := h.Subscribe(nil)
	defer fast.Close()
	for range 10 {
		seq, f := src.add(t, "x")
		if err := h.Inject(seq, "x", f); err != nil {
			t.Fatal(err)
		}
		if _, ok := <-fast.C(); !ok {
			t.Fatal("fast subscriber missed an event")
		}
	}
	select {
	case <-slow.Done():
		if !errors.Is(slow.Err(), ErrLagging) {
			t.Errorf("slow ended with %v, want ErrLagging", slow.Err())
		}
	default:
		t.Fatal("slow subscriber was not cut off")
	}
	if h.Dropped() != 1 {
		t.Errorf("Dropped = %d, want 1", h.Dropped())
	}
}

// A replay after events the source dropped reports ErrGap and replays
// what remains; a replay that falls behind the source's trimming is cut
// off with ErrLagging.
func TestMirrorGap(t *testing.T) {
	src := newMemSource()
	for range 200 {
		src.add(t, "x")
	}
	src.drop(50)
	h := newMirror(t, src, 0)
	s := h.Subscribe(nil)
	defer s.Close()
	n, err := h.Replay(s, 10)
	if !errors.Is(err, ErrGap) || n != 150 {
		t.Fatalf("Replay = %d, %v; want 150, ErrGap", n, err)
	}
	f, ok := s.Next()
	if !ok {
		t.Fatal("nothing replayed")
	}
	if id, _ := frameID(t, f); id != 51 {
		t.Fatalf("first replayed = %d, want 51", id)
	}
	src.drop(100) // the replay has read a page of 64: 115.. are gone
	for {
		if _, ok := s.Next(); !ok {
			break
		}
	}
	<-s.Done()
	if !errors.Is(s.Err(), ErrLagging) {
		t.Fatalf("replay behind the trimming ended with %v, want ErrLagging", s.Err())
	}
}

// Snapshots on a mirror carry the last injected id and their node, are
// coalesced by key, and come after the events injected before them.
func TestMirrorSnapshots(t *testing.T) {
	src := newMemSource()
	h := newMirror(t, src, 0)
	s := h.Subscribe(nil)
	defer s.Close()
	seq, f := src.add(t, "x")
	if err := h.Inject(seq, "x", f); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := h.InjectSnapshot(api.EventTaskProgress, "p/t1/n2", "n2", json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.PublishCoalesced(api.EventSessionStats, "s", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	got := consume(s, closedChan())
	want := []string{
		string(f),
		`{"id":"1","name":"task.progress","node":"n2","data":{"i":2}}`,
		`{"id":"1","name":"session.stats","data":{"n":1}}`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d frames %q, want %q", len(got), got, want)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("frame %d = %s, want %s", i, got[i], want[i])
		}
	}
	// A replay never includes snapshots.
	r := h.Subscribe(nil)
	defer r.Close()
	if n, err := h.Replay(r, 0); err != nil || n != 1 {
		t.Fatalf("Replay = %d, %v; want 1", n, err)
	}
}
