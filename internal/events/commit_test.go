package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// frameID decodes the id and name of an event frame.
func frameID(t testing.TB, f []byte) (uint64, string) {
	t.Helper()
	var e api.Event
	if err := json.Unmarshal(f, &e); err != nil {
		t.Fatal(err)
	}
	id, err := strconv.ParseUint(e.ID, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return id, e.Name
}

// consume reads s until done is closed and s is drained, returning the
// frames in delivery order (replayed, live and snapshots, as a connection
// writer takes them).
func consume(s *Subscription, done <-chan struct{}) [][]byte {
	var got [][]byte
	for {
		if f, ok := s.Next(); ok {
			got = append(got, f)
			continue
		}
		select {
		case f := <-s.C():
			got = append(got, f)
		case <-s.Kick():
		case <-s.Done():
			return got
		case <-done:
			for {
				f, ok := s.Next()
				if !ok {
					return got
				}
				got = append(got, f)
			}
		}
	}
}

// logged returns the ids in the store's event log.
func logged(t testing.TB, st *store.Store) []uint64 {
	t.Helper()
	var ids []uint64
	if _, err := st.EventsAfter(0, func(seq uint64, _ []byte) bool {
		ids = append(ids, seq)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return ids
}

// Many goroutines publishing at once: every subscriber receives every
// event exactly once, in sequence order with no gap; every Publish
// returned only after its event was logged; the log holds exactly the
// delivered events.
func TestConcurrentPublishOrder(t *testing.T) {
	h, st := newHub(t, 1<<16)
	const publishers, each = 16, 200
	subs := make([]*Subscription, 3)
	results := make([][][]byte, len(subs))
	done := make(chan struct{})
	var readers sync.WaitGroup
	for i := range subs {
		subs[i] = h.Subscribe(nil)
		readers.Add(1)
		go func() {
			defer readers.Done()
			results[i] = consume(subs[i], done)
		}()
	}
	var pubs sync.WaitGroup
	var returned sync.Map // id → true, for Publish results
	for p := range publishers {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for i := range each {
				ev, err := h.Publish("x", map[string]int{"p": p, "i": i})
				if err != nil {
					t.Error(err)
					return
				}
				id, _ := strconv.ParseUint(ev.ID, 10, 64)
				returned.Store(id, true)
			}
		}()
	}
	pubs.Wait()
	close(done)
	readers.Wait()

	log := logged(t, st)
	if len(log) != publishers*each {
		t.Fatalf("log holds %d events, want %d", len(log), publishers*each)
	}
	for i, r := range results {
		if len(r) != len(log) {
			t.Fatalf("subscriber %d got %d events, want %d", i, len(r), len(log))
		}
		for j, f := range r {
			id, _ := frameID(t, f)
			if id != log[j] {
				t.Fatalf("subscriber %d: event %d has id %d, log has %d", i, j, id, log[j])
			}
			if j > 0 && log[j] != log[j-1]+1 {
				t.Fatalf("ids not consecutive at %d: %d, %d", j, log[j-1], log[j])
			}
			if _, ok := returned.Load(id); !ok {
				t.Fatalf("event %d delivered but not returned by Publish", id)
			}
		}
	}
}

// A snapshot (PublishCoalesced) is never delivered before a logged event
// numbered earlier, even while that event is still being logged: a client
// may resume from the highest id it saw.
func TestSnapshotsWaitForEarlierLoggedEvents(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := New(st, Options{QueueLen: 1 << 16, Ephemeral: []string{"p"}})
	defer h.Close()
	sub := h.Subscribe(nil)
	done := make(chan struct{})
	var got [][]byte
	var reader sync.WaitGroup
	reader.Add(1)
	go func() {
		defer reader.Done()
		got = consume(sub, done)
	}()
	var pubs sync.WaitGroup
	for p := range 8 {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for i := range 100 {
				if p%2 == 0 {
					if _, err := h.Publish("x", i); err != nil {
						t.Error(err)
						return
					}
				} else if err := h.PublishCoalesced("p", strconv.Itoa(p), i); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	pubs.Wait()
	close(done)
	reader.Wait()

	log := logged(t, st)
	if len(log) != 400 {
		t.Fatalf("log holds %d events, want 400", len(log))
	}
	seen := map[uint64]bool{}
	snaps := 0
	for _, f := range got {
		id, name := frameID(t, f)
		if name == "x" {
			seen[id] = true
			continue
		}
		snaps++
		for _, l := range log {
			if l < id && !seen[l] {
				t.Fatalf("snapshot %d delivered before logged event %d", id, l)
			}
		}
	}
	if len(seen) != 400 || snaps == 0 {
		t.Fatalf("got %d logged events and %d snapshots", len(seen), snaps)
	}
}

// A client reconnecting while others publish: the events of the old
// subscription up to the last one it saw, then the replayed and live
// events of the new one, are exactly the log, in order — also when the
// log holds events not yet delivered.
func TestReplayDuringConcurrentPublish(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := New(&faultLog{Store: st, lag: 2 * time.Millisecond}, Options{QueueLen: 1 << 16})
	defer h.Close()
	old := h.Subscribe(nil)
	stop := make(chan struct{})
	var pubs sync.WaitGroup
	var published atomic.Int64
	for range 8 {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := h.Publish("x", 1); err != nil {
					t.Error(err)
					return
				}
				published.Add(1)
			}
		}()
	}
	var seen []uint64
	for len(seen) < 50 {
		f := <-old.C()
		id, _ := frameID(t, f)
		seen = append(seen, id)
	}
	old.Close()
	for round := range 5 {
		// Reconnect: subscribe, let events arrive, then replay after the
		// last id seen.
		s := h.Subscribe(nil)
		for published.Load() < int64(100*(round+1)) {
			time.Sleep(time.Millisecond)
		}
		replayed, err := h.Replay(s, seen[len(seen)-1])
		if err != nil {
			t.Fatal(err)
		}
		// Past the replayed events into the live ones.
		for n := 0; n < replayed+50; {
			f, ok := s.Next()
			if !ok {
				f = <-s.C()
			}
			id, _ := frameID(t, f)
			seen = append(seen, id)
			n++
		}
		s.Close()
	}
	close(stop)
	pubs.Wait()
	log := logged(t, st)
	for i, id := range seen {
		if id != log[i] {
			t.Fatalf("event %d: got id %d, log has %d (got %v)", i, id, log[i], seen[:i+1])
		}
	}
}

// faultLog is a real store whose AppendEvents fails while fail is set, as
// when the disk is full, and returns only after lag once it has logged:
// a writer slow to come back after its commit.
type faultLog struct {
	*store.Store
	fail atomic.Bool
	lag  time.Duration
}

var errDiskFull = errors.New("disk full")

func (l *faultLog) AppendEvents(seqs []uint64, frames [][]byte) error {
	if l.fail.Load() {
		return errDiskFull
	}
	err := l.Store.AppendEvents(seqs, frames)
	time.Sleep(l.lag)
	return err
}

// An event that cannot be logged is not delivered and Publish says so;
// the events after it are delivered, and replay gives exactly the logged
// ones.
func TestUnloggedEventIsNotDelivered(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fl := &faultLog{Store: st}
	h := New(fl, Options{QueueLen: 16, Ephemeral: []string{"p"}})
	defer h.Close()
	sub := h.Subscribe(nil)
	a, err := h.Publish("x", "a")
	if err != nil {
		t.Fatal(err)
	}
	fl.fail.Store(true)
	if _, err := h.Publish("x", "b"); !errors.Is(err, errDiskFull) {
		t.Fatalf("Publish while the log fails: %v, want errDiskFull", err)
	}
	fl.fail.Store(false)
	c, err := h.Publish("x", "c")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(sub.C()) > 0 {
		var e api.Event
		json.Unmarshal(<-sub.C(), &e)
		got = append(got, e.ID)
	}
	if fmt.Sprint(got) != fmt.Sprint([]string{a.ID, c.ID}) {
		t.Fatalf("delivered %v, want [%s %s]", got, a.ID, c.ID)
	}
	if _, err := h.Replay(sub, 0); err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for {
		f, ok := sub.Next()
		if !ok {
			break
		}
		var e api.Event
		json.Unmarshal(f, &e)
		got = append(got, e.ID)
	}
	if fmt.Sprint(got) != fmt.Sprint([]string{a.ID, c.ID}) {
		t.Fatalf("replayed %v, want [%s %s]", got, a.ID, c.ID)
	}
}

// Post numbers events in call order and Wait returns once each is
// delivered; LastID never names an event not yet delivered.
func TestPostOrder(t *testing.T) {
	h, _ := newHub(t, 16)
	sub := h.Subscribe(nil)
	var ps []*Pending
	for i := range 5 {
		p, err := h.Post("x", i)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	last, err := h.LastID()
	if err != nil {
		t.Fatal(err)
	}
	first, _ := strconv.ParseUint(ps[0].ev.ID, 10, 64)
	if last >= first && uint64(len(sub.C())) < last-first+1 {
		t.Fatalf("LastID %d names events not delivered yet", last)
	}
	for i, p := range ps {
		ev, err := p.Wait()
		if err != nil {
			t.Fatal(err)
		}
		id, _ := frameID(t, <-sub.C())
		if strconv.FormatUint(id, 10) != ev.ID || id != first+uint64(i) {
			t.Fatalf("event %d: delivered %d, posted %s", i, id, ev.ID)
		}
	}
	if last, _ = h.LastID(); last != first+4 {
		t.Fatalf("LastID %d after all delivered, want %d", last, first+4)
	}
}

// Close while publishers run: publishes end with the event or ErrClosed,
// and once Close returns the hub no longer writes to the store.
func TestCloseDuringPublish(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := New(st, Options{})
	var pubs sync.WaitGroup
	for range 8 {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for {
				if _, err := h.Publish("x", 1); err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Error(err)
					}
					return
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	h.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	pubs.Wait()
}
