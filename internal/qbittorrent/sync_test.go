package qbittorrent

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/events"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// TestSyncSubscriber runs sync/maindata's event subscriber on a real hub
// over a real store: events about tasks mark them changed, others do
// not, a queue move marks every task; progress events are asked for only while a client polls; Run
// ends with its context and with the hub.
func TestSyncSubscriber(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hub := events.New(st, events.Options{Ephemeral: api.EphemeralEvents})
	defer hub.Close()
	h := &Handler{hub: hub, sync: newSyncState(), log: slog.New(slog.DiscardHandler)}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- h.Run(ctx) }()
	// Subscribing marks everything (events before it were missed).
	waitFor(t, "the subscription", func() bool {
		all, _ := h.sync.takeDirty()
		return all && hub.Wanted(api.EventTaskAdded)
	})

	if hub.Wanted(api.EventTaskProgress) {
		t.Error("progress events wanted with no client polling")
	}
	h.sync.lastSync.Store(time.Now().UnixNano())
	if !hub.Wanted(api.EventTaskProgress) {
		t.Error("progress events not wanted while a client polls")
	}

	publish := func(name string, data any) {
		t.Helper()
		if _, err := hub.Publish(name, data); err != nil {
			t.Fatal(err)
		}
	}
	publish(api.EventEngineAlert, api.EngineAlertData{TaskID: "alerted", Message: "x"})
	publish(api.EventTaskAdded, api.TaskAddedData{TaskID: "added"})
	publish(api.EventTaskState, api.TaskStateData{TaskID: "stated", From: api.StatePaused, To: api.StateDownloading})
	if err := hub.PublishCoalesced(api.EventTaskProgress, "progressed", api.TaskProgressData{TaskID: "progressed"}); err != nil {
		t.Fatal(err)
	}
	var marked []string
	waitFor(t, "the marks", func() bool {
		_, ids := h.sync.takeDirty()
		marked = append(marked, ids...)
		return slices.Contains(marked, "added") && slices.Contains(marked, "stated") && slices.Contains(marked, "progressed")
	})
	if slices.Contains(marked, "alerted") {
		t.Errorf("an engine.alert marked its task: %v", marked)
	}
	// catchUp returns only once the subscriber has read what was
	// published before it: a sync request after an acknowledged change
	// sees it (TestQBittorrentReads found the delta after two adds
	// missing the second, on a loaded machine).
	for i := range 50 {
		id := fmt.Sprintf("caught-%d", i)
		publish(api.EventTaskAdded, api.TaskAddedData{TaskID: id})
		h.catchUp()
		if _, ids := h.sync.takeDirty(); !slices.Contains(ids, id) {
			t.Fatalf("after catchUp, %s is not marked (marked: %v)", id, ids)
		}
	}
	// A queue move shifts other tasks' positions: everything is marked.
	publish(api.EventTaskQueue, api.TaskQueueData{TaskID: "moved", From: 3, To: 0})
	waitFor(t, "the mark of every task after task.queue", func() bool {
		all, _ := h.sync.takeDirty()
		return all
	})

	cancel()
	select {
	case err := <-ran:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end with its context")
	}

	// A closed hub ends Run too.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go func() { ran <- h.Run(ctx2) }()
	waitFor(t, "the second subscription", func() bool { return hub.Wanted(api.EventTaskAdded) })
	hub.Close()
	select {
	case err := <-ran:
		if err != nil {
			t.Errorf("Run after the hub closed: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end when the hub closed")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
