package events

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/store"
)

func newHub(t *testing.T, queue int) (*Hub, *store.Store) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(st, Options{QueueLen: queue}), st
}

// A subscriber that stops reading is cut off with ErrLagging; the others
// keep receiving every event, and Publish never blocks.
func TestLaggingSubscriberIsCutOff(t *testing.T) {
	h, _ := newHub(t, 4)
	slow := h.Subscribe(nil)
	fast := h.Subscribe(nil)
	defer fast.Close()
	var got []string
	for i := range 10 {
		ev, err := h.Publish("x", map[string]int{"i": i})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case f := <-fast.C():
			var e api.Event
			if err := json.Unmarshal(f, &e); err != nil {
				t.Fatal(err)
			}
			if e.ID != ev.ID {
				t.Fatalf("fast got %s, want %s", e.ID, ev.ID)
			}
			got = append(got, e.ID)
		default:
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
	for i := 1; i < len(got); i++ {
		a, _ := strconv.ParseUint(got[i-1], 10, 64)
		b, _ := strconv.ParseUint(got[i], 10, 64)
		if b != a+1 {
			t.Fatalf("ids not consecutive: %v", got)
		}
	}
}

// Sequence numbers are never reused across hubs on the same store (a
// restart), even when the first hub used only part of its block.
func TestSequenceSurvivesRestart(t *testing.T) {
	h1, st := newHub(t, 4)
	e1, err := h1.Publish("a", struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	h1.Close()
	h2 := New(st, Options{})
	e2, err := h2.Publish("b", struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := strconv.ParseUint(e1.ID, 10, 64)
	b, _ := strconv.ParseUint(e2.ID, 10, 64)
	if b <= a {
		t.Fatalf("id after restart %d not above %d", b, a)
	}
}

func TestClosedHub(t *testing.T) {
	h, _ := newHub(t, 4)
	s := h.Subscribe(nil)
	h.Close()
	<-s.Done()
	if !errors.Is(s.Err(), ErrClosed) {
		t.Errorf("Err = %v, want ErrClosed", s.Err())
	}
	if _, err := h.Publish("x", 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close: %v", err)
	}
}

// Wanted follows the subscribers' filters as they subscribe, change their
// filter, and go.
func TestWanted(t *testing.T) {
	h, _ := newHub(t, 4)
	defer h.Close()
	if h.Wanted("a") {
		t.Error("Wanted with no subscriber")
	}
	s := h.Subscribe(Names("a"))
	if !h.Wanted("a") || h.Wanted("b") {
		t.Errorf("filter a: Wanted(a) = %v, Wanted(b) = %v", h.Wanted("a"), h.Wanted("b"))
	}
	h.SetFilter(s, Names("b"))
	if h.Wanted("a") || !h.Wanted("b") {
		t.Errorf("filter b: Wanted(a) = %v, Wanted(b) = %v", h.Wanted("a"), h.Wanted("b"))
	}
	all := h.Subscribe(nil)
	if !h.Wanted("a") {
		t.Error("a nil filter does not want a")
	}
	all.Close()
	s.Close()
	if h.Wanted("b") {
		t.Error("Wanted after every subscriber closed")
	}
}
