package events

import (
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/store"
)

// postMany logs n events named name with a payload of size bytes and
// waits until all are delivered.
func postMany(t *testing.T, h *Hub, name string, n, size int) {
	t.Helper()
	payload := strings.Repeat("x", size)
	var last *Pending
	for range n {
		p, err := h.Post(name, payload)
		if err != nil {
			t.Fatal(err)
		}
		last = p
	}
	if _, err := last.Wait(); err != nil {
		t.Fatal(err)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Issue 15, item 16: clients that ask for a replay and never read cost
// a page of events each, not the whole log (which is what they cost when
// Replay loaded the backlog into memory: here 20 × 4,000 × 1 KiB).
func TestReplayMemoryIsBounded(t *testing.T) {
	h, _ := newHub(t, 0)
	defer h.Close()
	postMany(t, h, "x", 4000, 1024)
	before := heapInUse()
	var subs []*Subscription
	for range 20 {
		s := h.Subscribe(nil)
		defer s.Close()
		n, err := h.Replay(s, 0)
		if err != nil || n != 4000 {
			t.Fatalf("Replay = %d, %v; want 4000 events", n, err)
		}
		if _, ok := s.Next(); !ok { // the first page is loaded
			t.Fatal("nothing replayed")
		}
		subs = append(subs, s)
	}
	grew := int64(heapInUse()) - int64(before)
	if limit := int64(20 * 2 * replayPage * 1100); grew > limit {
		t.Errorf("20 unread replays hold %d bytes, want at most %d (two pages each)", grew, limit)
	}
	runtime.KeepAlive(subs)
}

// gatedReadLog is a real store whose EventsAfter, while gated, waits at the
// gate (entered says it has been called).
type gatedReadLog struct {
	*store.Store
	gated   atomic.Bool
	entered chan struct{}
	gate    chan struct{}
}

func (l *gatedReadLog) EventsAfter(after uint64, fn func(uint64, []byte) bool) (uint64, error) {
	if l.gated.Load() {
		l.entered <- struct{}{}
		<-l.gate
	}
	return l.Store.EventsAfter(after, fn)
}

// A replay reading the log does not hold the hub's lock: publishers
// (and so every task change) go on meanwhile.
func TestReplayDoesNotBlockPublish(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := &gatedReadLog{Store: st, entered: make(chan struct{}), gate: make(chan struct{})}
	h := New(log, Options{})
	defer h.Close()
	postMany(t, h, "x", 10, 10)
	s := h.Subscribe(nil)
	defer s.Close()
	log.gated.Store(true)
	replayed := make(chan error, 1)
	go func() {
		_, err := h.Replay(s, 0)
		replayed <- err
	}()
	<-log.entered
	published := make(chan error, 1)
	go func() {
		_, err := h.Publish("y", 1)
		published <- err
	}()
	select {
	case err := <-published:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Error("Publish waited for a replay reading the log")
	}
	log.gated.Store(false)
	close(log.gate)
	if err := <-replayed; err != nil {
		t.Fatal(err)
	}
}

// A client replaying slowly while more events are published than its
// queue holds is not cut off: the replay reads on to them in the log, and
// it receives every event once, in order.
func TestSlowReplayCatchesUp(t *testing.T) {
	h, st := newHub(t, 16)
	defer h.Close()
	postMany(t, h, "x", 100, 10)
	s := h.Subscribe(nil)
	defer s.Close()
	if n, err := h.Replay(s, 0); err != nil || n != 100 {
		t.Fatalf("Replay = %d, %v", n, err)
	}
	var seen []uint64
	next := func() {
		t.Helper()
		f, ok := s.Next()
		if !ok {
			select {
			case f = <-s.C():
			case <-s.Done():
				t.Fatalf("subscription ended after %d events: %v", len(seen), s.Err())
			}
		}
		id, _ := frameID(t, f)
		seen = append(seen, id)
	}
	for range 10 {
		next()
	}
	postMany(t, h, "x", 200, 10) // far more than the queue of 16
	for len(seen) < 300 {
		next()
	}
	postMany(t, h, "x", 5, 10) // live again
	for len(seen) < 305 {
		next()
	}
	want := logged(t, st)
	if len(want) != 305 {
		t.Fatalf("log has %d events", len(want))
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("event %d: got %d, want %d", i, seen[i], want[i])
		}
	}
}

// A replay that falls so far behind that the log drops events it has not
// sent yet cannot be served in full: it ends with ErrLagging, as a client
// whose queue overflows does, rather than skip them silently.
func TestReplayOverrunByTheLogEnds(t *testing.T) {
	h, _ := newHub(t, 16)
	defer h.Close()
	postMany(t, h, "x", 200, 10)
	s := h.Subscribe(nil)
	defer s.Close()
	if _, err := h.Replay(s, 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Next(); !ok {
		t.Fatal("nothing replayed")
	}
	postMany(t, h, "x", store.EventLogCap, 10)
	for {
		if _, ok := s.Next(); ok {
			continue
		}
		select {
		case <-s.Done():
			if !errors.Is(s.Err(), ErrLagging) {
				t.Fatalf("ended with %v, want ErrLagging", s.Err())
			}
			return
		default:
			t.Fatal("the replay went on past events the log dropped")
		}
	}
}
