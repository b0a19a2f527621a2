package events

import (
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/lodestone-bt/lodestone/internal/store"
)

// gatedLog holds every ReserveSeq but the first until gate is closed.
type gatedLog struct {
	*store.Store
	calls atomic.Int32
	gate  chan struct{}
}

func (l *gatedLog) ReserveSeq(n uint64) (uint64, error) {
	if l.calls.Add(1) > 1 {
		<-l.gate
	}
	return l.Store.ReserveSeq(n)
}

// TestReserveAhead: the next block of event numbers is reserved in the
// background once half of the current one is used, so a publisher never
// waits for that store write while numbers remain; numbering stays
// continuous across blocks.
func TestReserveAhead(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := &gatedLog{Store: st, gate: make(chan struct{})}
	h := New(log, Options{})
	t.Cleanup(func() { h.Close() })
	// The whole first block, with the reservation of the second held:
	// had any publish waited for it, this would hang.
	var last uint64
	for i := range seqBlock {
		ev, err := h.Publish("x", i)
		if err != nil {
			t.Fatal(err)
		}
		last = parseID(t, ev.ID)
	}
	if got := log.calls.Load(); got != 2 {
		t.Fatalf("ReserveSeq called %d times, want 2 (the first block, and the next ahead)", got)
	}
	close(log.gate)
	ev, err := h.Publish("x", 0)
	if err != nil {
		t.Fatal(err)
	}
	if id := parseID(t, ev.ID); id != last+1 {
		t.Errorf("the first event of the next block is %d, want %d", id, last+1)
	}
}

func parseID(t *testing.T, id string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		t.Fatalf("event id %q: %v", id, err)
	}
	return n
}
