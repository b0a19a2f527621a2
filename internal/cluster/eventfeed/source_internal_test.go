package eventfeed

import (
	"fmt"
	"testing"
)

func frameOf(seq uint64) []byte { return fmt.Appendf(nil, `{"id":"%d"}`, seq) }

// read returns the numbers and frames EventsAfter gives from the window.
func read(t *testing.T, s *Source, after uint64) []uint64 {
	t.Helper()
	var got []uint64
	dropped, err := s.EventsAfter(after, func(seq uint64, f []byte) bool {
		if string(f) != string(frameOf(seq)) {
			t.Fatalf("event %d has frame %s", seq, f)
		}
		got = append(got, seq)
		return true
	})
	if err != nil || dropped != 0 {
		t.Fatalf("EventsAfter(%d) = %d, %v", after, dropped, err)
	}
	return got
}

// The window of recent events serves replays that start inside it, keeps
// contiguous numbers (a gap starts it afresh, a repeat is ignored), and
// stays bounded without disturbing a reader of its old part. (A Source
// with no bus: a read outside the window would panic.)
func TestSourceWindow(t *testing.T) {
	s := &Source{}
	if _, _, ok := s.cached(0); ok {
		t.Fatal("an empty window serves a replay")
	}
	for seq := uint64(1); seq <= 5; seq++ {
		s.remember(seq, frameOf(seq))
	}
	s.remember(3, []byte("repeat"))
	if got := read(t, s, 0); fmt.Sprint(got) != "[1 2 3 4 5]" {
		t.Fatalf("after 0: %v", got)
	}
	if got := read(t, s, 5); len(got) != 0 {
		t.Fatalf("after 5: %v", got)
	}
	if _, _, ok := s.cached(6); ok {
		t.Fatal("the window serves a replay after its end")
	}
	s.remember(8, frameOf(8)) // 6 and 7 were trimmed from the stream
	if _, _, ok := s.cached(4); ok {
		t.Fatal("the window serves a replay across a gap")
	}
	if got := read(t, s, 7); fmt.Sprint(got) != "[8]" {
		t.Fatalf("after 7: %v", got)
	}

	s = &Source{}
	s.remember(1, frameOf(1))
	old, first, _ := s.cached(0)
	for seq := uint64(2); seq <= 2*RecentEvents+10; seq++ {
		s.remember(seq, frameOf(seq))
	}
	if n := len(s.recent); n > 2*RecentEvents || n < RecentEvents {
		t.Fatalf("window holds %d events", n)
	}
	if string(old[0]) != string(frameOf(first)) {
		t.Fatal("a reader's frames changed")
	}
	last := uint64(2*RecentEvents + 10)
	if _, _, ok := s.cached(last - RecentEvents); !ok {
		t.Fatal("the last RecentEvents events are not all kept")
	}
	if got := read(t, s, last-3); fmt.Sprint(got) != fmt.Sprint([]uint64{last - 2, last - 1, last}) {
		t.Fatalf("after %d: %v", last-3, got)
	}
}
