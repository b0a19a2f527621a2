package bus_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestEventSeqs: the bounds of the event stream, empty, after five events
// (through another server than the one asked), and after the oldest three
// were trimmed.
func TestEventSeqs(t *testing.T) {
	c := sharedCluster(t)
	pre := uniquePrefix("seqs")
	cfg := testConfig(pre)
	b0 := newBus(t, c.connect(0), cfg)
	b2 := newBus(t, c.connect(2), cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	check := func(wantFirst, wantLast uint64) {
		t.Helper()
		first, last, err := b2.EventSeqs(ctx)
		if err != nil || first != wantFirst || last != wantLast {
			t.Fatalf("EventSeqs = %d, %d, %v; want %d, %d", first, last, err, wantFirst, wantLast)
		}
	}
	check(0, 0)
	for range 5 {
		if _, err := b0.Publish(ctx, "n0", "task.added", json.RawMessage(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	check(1, 5)
	js, err := jetstream.New(c.connect(1))
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, strings.ToUpper(pre)+"_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(ctx, jetstream.WithPurgeKeep(2)); err != nil {
		t.Fatal(err)
	}
	check(4, 5)
}
