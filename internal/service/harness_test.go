package service

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
	"github.com/lodestone-bt/lodestone/internal/events"
)

// harness is a Service on an in-memory store, a fake engine and a real
// events.Hub on an in-memory log. Its poll does not run by itself: tests
// call h.poll, with a clock that moves only when they say.
type harness struct {
	t   testing.TB
	svc *Service
	st  *memStore
	eng *fakeEngine
	hub *events.Hub
	sub *events.Subscription
	dir string
	now time.Time
	// clock is now for the service's task clocks, which its own
	// goroutines read too.
	clock atomic.Int64

	stopped bool
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{t: t, st: newMemStore(), eng: newFakeEngine(), dir: t.TempDir(), now: time.Now()}
	h.clock.Store(h.now.UnixNano())
	h.start()
	t.Cleanup(h.stop)
	return h
}

// start (re)creates the service on the harness's store and engine.
func (h *harness) start() {
	h.t.Helper()
	h.hub = events.New(newMemLog(), events.Options{Ephemeral: []string{api.EventTaskProgress, api.EventSessionStats}})
	h.sub = h.hub.Subscribe(nil)
	svc, err := New(h.st, h.eng, h.hub, Options{DownloadDir: h.dir, Tick: time.Hour,
		clock: func() time.Time { return time.Unix(0, h.clock.Load()) }})
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	h.svc, h.stopped = svc, false
}

// stop closes the service and the hub; it may be called more than once.
func (h *harness) stop() {
	if h.stopped {
		return
	}
	h.stopped = true
	if err := h.svc.Close(); err != nil {
		h.t.Errorf("Close: %v", err)
	}
	h.sub.Close()
	if err := h.hub.Close(); err != nil {
		h.t.Errorf("close hub: %v", err)
	}
}

// restart closes the service and starts a new one on the same store.
func (h *harness) restart() {
	h.t.Helper()
	h.stop()
	h.eng = newFakeEngine()
	h.start()
}

// poll runs one poll, a second after the last.
func (h *harness) poll() {
	h.now = h.now.Add(time.Second)
	h.clock.Store(h.now.UnixNano())
	h.svc.poll(h.now)
}

// addTorrent adds a generated single-file torrent of size bytes.
func (h *harness) addTorrent(name string, size int64, p api.TaskAddParams) (id string, ft *fakeTorrent) {
	h.t.Helper()
	tr := enginetest.Generate(h.t, enginetest.Content{Name: name, Size: size, Seed: uint64(len(name))})
	p.Type, p.Data = api.TaskTypeTorrent, base64.StdEncoding.EncodeToString(tr.MetaInfo)
	res, err := h.svc.Add(context.Background(), p)
	if err != nil {
		h.t.Fatalf("add %s: %v", name, err)
	}
	return res.TaskID, h.eng.torrent(res.TaskID)
}

// addMagnet adds a magnet of a made-up info-hash.
func (h *harness) addMagnet(hash string, paused bool) (id string, ft *fakeTorrent) {
	h.t.Helper()
	res, err := h.svc.Add(context.Background(), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: "magnet:?xt=urn:btih:" + hash, Paused: paused})
	if err != nil {
		h.t.Fatalf("add magnet: %v", err)
	}
	return res.TaskID, h.eng.torrent(res.TaskID)
}

// state returns task id's state, failing the test if it has none.
func (h *harness) state(id string) api.TaskState {
	h.t.Helper()
	tk, err := h.svc.Get(id)
	if err != nil {
		h.t.Fatalf("get %s: %v", id, err)
	}
	return tk.State
}

// event is a published event, decoded.
type event struct {
	name string
	data json.RawMessage
}

// drain returns the events published so far and not drained yet. Every
// service operation waits for its events to be sent before it returns, so
// they are all here when it has.
func (h *harness) drain() []event {
	h.t.Helper()
	var out []event
	for {
		frame, ok := h.sub.Next()
		if !ok {
			return out
		}
		var ev api.Event
		if err := json.Unmarshal(frame, &ev); err != nil {
			h.t.Fatalf("decode event %s: %v", frame, err)
		}
		out = append(out, event{ev.Name, ev.Data})
	}
}

// stateEvents returns the task.state events of id among evs, as "from>to".
func stateEvents(t *testing.T, evs []event, id string) []string {
	t.Helper()
	var out []string
	for _, ev := range evs {
		if ev.name != api.EventTaskState {
			continue
		}
		var d api.TaskStateData
		if err := json.Unmarshal(ev.data, &d); err != nil {
			t.Fatalf("decode task.state: %v", err)
		}
		if d.TaskID == id {
			out = append(out, string(d.From)+">"+string(d.To))
		}
	}
	return out
}

// names returns the names of evs.
func names(evs []event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.name
	}
	return out
}

// waitFor polls cond until it holds, failing the test after 5 s: for what
// a service goroutine (metadata, recheck) does by itself.
func waitFor(h *harness, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatal("condition not met within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
