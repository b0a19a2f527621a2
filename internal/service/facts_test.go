package service

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// positions returns the queue positions of ids, in that order.
func positions(h *harness, ids ...string) []int {
	h.t.Helper()
	out := make([]int, len(ids))
	for i, id := range ids {
		v, err := h.svc.Get(id)
		if err != nil {
			h.t.Fatalf("get %s: %v", id, err)
		}
		out[i] = v.QueuePosition
	}
	return out
}

// queueEvents returns the task.queue events among evs.
func queueEvents(t *testing.T, evs []event) []api.TaskQueueData {
	t.Helper()
	var out []api.TaskQueueData
	for _, ev := range evs {
		if ev.name != api.EventTaskQueue {
			continue
		}
		var d api.TaskQueueData
		if err := json.Unmarshal(ev.data, &d); err != nil {
			t.Fatalf("decode task.queue: %v", err)
		}
		out = append(out, d)
	}
	return out
}

// TestQueueOrder: new tasks go to the bottom; every move reorders the
// tasks it passes, is published as task.queue, is what the download queue
// follows, and survives a restart; a removal closes the gap.
func TestQueueOrder(t *testing.T) {
	h := newHarness(t)
	setSettings(api.SessionSetParams{MaxActiveDownloads: ptr(1)})(h, "", nil)
	a, _ := h.addTorrent("a.bin", 1<<20, api.TaskAddParams{})
	b, _ := h.addTorrent("b.bin", 1<<20, api.TaskAddParams{})
	c, _ := h.addTorrent("c.bin", 1<<20, api.TaskAddParams{})
	d, fd := h.addTorrent("d.bin", 1<<20, api.TaskAddParams{})
	if got := positions(h, a, b, c, d); !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Fatalf("positions after adds %v", got)
	}
	h.drain()

	moved, err := h.svc.QueueMove(d, api.QueueTop)
	if err != nil || moved.QueuePosition != 0 {
		t.Fatalf("move d to the top: position %d, %v", moved.QueuePosition, err)
	}
	if got := positions(h, d, a, b, c); !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Errorf("after d to the top: %v", got)
	}
	evs := h.drain()
	if got := queueEvents(t, evs); !slices.Equal(got, []api.TaskQueueData{{TaskID: d, From: 3, To: 0}}) {
		t.Errorf("task.queue events %+v", got)
	}
	// The one download slot follows the order.
	if h.state(d) != api.StateDownloading || h.state(a) != api.StateQueued || !fd.mode().download {
		t.Errorf("d %s, a %s: want the top task downloading", h.state(d), h.state(a))
	}
	if got := stateEvents(t, evs, a); !slices.Equal(got, []string{"downloading>queued"}) {
		t.Errorf("a's states on the move %v", got)
	}

	for _, step := range []struct {
		id, to string
		want   []string // the order after
	}{
		{b, api.QueueUp, []string{d, b, a, c}},
		{d, api.QueueDown, []string{b, d, a, c}},
		{b, api.QueueBottom, []string{d, a, c, b}},
		{c, api.QueueUp, []string{d, c, a, b}},
		{a, api.QueueTop, []string{a, d, c, b}},
	} {
		if _, err := h.svc.QueueMove(step.id, step.to); err != nil {
			t.Fatalf("move %s %s: %v", step.id, step.to, err)
		}
		if got := positions(h, step.want...); !slices.Equal(got, []int{0, 1, 2, 3}) {
			t.Fatalf("after %s %s: positions %v of %v", step.id, step.to, got, step.want)
		}
	}
	// Nowhere to go: no event, no change.
	h.drain()
	for _, m := range [][2]string{{a, api.QueueTop}, {a, api.QueueUp}, {b, api.QueueDown}, {b, api.QueueBottom}} {
		if _, err := h.svc.QueueMove(m[0], m[1]); err != nil {
			t.Errorf("move %s %s in place: %v", m[0], m[1], err)
		}
	}
	if evs := queueEvents(t, h.drain()); len(evs) != 0 {
		t.Errorf("moves in place published %+v", evs)
	}
	if _, err := h.svc.QueueMove(a, "sideways"); !errors.Is(err, ErrInvalidParams) {
		t.Errorf("move sideways: %v, want invalid params", err)
	}
	if _, err := h.svc.QueueMove("00000000000000000000000000000000000000ff", api.QueueTop); !errors.Is(err, ErrTaskNotFound) {
		t.Errorf("move of an unknown task: %v", err)
	}

	// A removal closes the gap.
	if err := h.svc.Remove(context.Background(), d, false); err != nil {
		t.Fatal(err)
	}
	if got := positions(h, a, c, b); !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("after removing d: %v", got)
	}
	// Kept across a restart, and a new task goes to the bottom.
	h.restart()
	if got := positions(h, a, c, b); !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("after a restart: %v", got)
	}
	e, _ := h.addTorrent("e.bin", 1<<20, api.TaskAddParams{})
	if got := positions(h, e); got[0] != 3 {
		t.Errorf("a task added after the restart is at %d, want 3", got[0])
	}
	if _, err := h.svc.QueueMove(e, api.QueueTop); err != nil {
		t.Fatal(err)
	}
	if h.state(e) != api.StateDownloading || h.state(a) != api.StateQueued {
		t.Errorf("after e to the top: e %s, a %s", h.state(e), h.state(a))
	}
}

// TestQueueOrderOfOldRecords: records stored before the queue order
// existed are placed oldest added first, after those that have a place,
// and their places are stored.
func TestQueueOrderOfOldRecords(t *testing.T) {
	h := newHarness(t)
	h.stop()
	added := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	recs := []store.Task{
		{ID: "cc", Name: "c", Magnet: "magnet:?xt=urn:btih:00000000000000000000000000000000000000cc", AddedAt: added},
		{ID: "aa", Name: "a", Magnet: "magnet:?xt=urn:btih:00000000000000000000000000000000000000aa", AddedAt: added.Add(time.Hour)},
		{ID: "bb", Name: "b", Magnet: "magnet:?xt=urn:btih:00000000000000000000000000000000000000bb", AddedAt: added.Add(2 * time.Hour), QueueOrder: 7},
	}
	for _, rec := range recs {
		if err := h.st.PutTask(rec); err != nil {
			t.Fatal(err)
		}
	}
	h.eng = newFakeEngine()
	h.start()
	if got := positions(h, "bb", "cc", "aa"); !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("positions %v, want bb (with a place), then cc and aa by added time", got)
	}
	for _, id := range []string{"aa", "cc"} {
		if rec, _ := h.st.task(id); rec.QueueOrder <= 7 {
			t.Errorf("%s stored key %d, want one after bb's", id, rec.QueueOrder)
		}
	}
}

// TestSeedLimitsPerTask: a task's own ratio, time and idle limits stop
// its seeding, -1 sets none whatever the session's, and values out of
// range are refused.
func TestSeedLimitsPerTask(t *testing.T) {
	h := newHarness(t)
	setSettings(api.SessionSetParams{SeedTimeLimit: ptr(int64(3))})(h, "", nil)
	own, fOwn := h.addTorrent("own.bin", 1000, api.TaskAddParams{SeedRatioLimit: ptr(0.5)})
	none, fNone := h.addTorrent("none.bin", 1000, api.TaskAddParams{SeedTimeLimit: ptr(int64(api.SeedLimitNone))})
	session, fSession := h.addTorrent("session.bin", 1000, api.TaskAddParams{})
	idle, fIdle := h.addTorrent("idle.bin", 1000, api.TaskAddParams{SeedTimeLimit: ptr(int64(-1))})
	h.drain()
	if _, err := h.svc.Set(idle, api.TaskSetParams{SeedIdleLimit: ptr(int64(4))}); err != nil {
		t.Fatal(err)
	}
	// Listeners see the change.
	if evs := h.drain(); len(evs) != 1 || evs[0].name != api.EventTaskChanged {
		t.Errorf("task.set published %v, want task.changed", names(evs))
	} else {
		var d api.TaskChangedData
		if json.Unmarshal(evs[0].data, &d) != nil || d.TaskID != idle || !slices.Equal(d.Fields, []string{"seed_idle_limit"}) ||
			d.Task.SeedIdleLimit != 4 || d.Task.SeedTimeLimit != api.SeedLimitNone {
			t.Errorf("task.changed %s", evs[0].data)
		}
	}
	v, _ := h.svc.Get(own)
	if v.SeedRatioLimit != 0.5 || v.SeedTimeLimit != api.SeedLimitSession || v.SeedIdleLimit != api.SeedLimitSession {
		t.Errorf("own's limits %v %v %v", v.SeedRatioLimit, v.SeedTimeLimit, v.SeedIdleLimit)
	}
	for _, ft := range []*fakeTorrent{fOwn, fNone, fSession, fIdle} {
		ft.complete()
	}
	fIdle.set(func(ft *fakeTorrent) { ft.peers = 1 }) // read at every poll
	h.poll()
	for _, id := range []string{own, none, session, idle} {
		if got := h.state(id); got != api.StateSeeding {
			t.Fatalf("%s: %s after completing, want seeding", id, got)
		}
	}
	fOwn.set(func(ft *fakeTorrent) { ft.sentUp = 500 })
	for i := range 6 {
		// The idle task uploads for 3 s, then nothing.
		if i < 3 {
			fIdle.set(func(ft *fakeTorrent) { ft.sentUp += 10 })
		}
		h.poll()
	}
	for name, id := range map[string]string{"own ratio 0.5": own, "no time limit": none, "the session's time limit": session, "idle limit": idle} {
		want := api.StateFinished
		if id == none || id == idle {
			want = api.StateSeeding
		}
		if got := h.state(id); got != want {
			t.Errorf("%s after 6 s: %s, want %s", name, got, want)
		}
	}
	h.poll()
	if got := h.state(idle); got != api.StateFinished {
		t.Errorf("idle task 4 s after its last upload: %s, want finished", got)
	}
	for _, p := range []api.TaskSetParams{
		{SeedRatioLimit: ptr(-0.5)}, {SeedRatioLimit: ptr(-3.0)},
		{SeedTimeLimit: ptr(int64(-3))}, {SeedIdleLimit: ptr(int64(-100))},
	} {
		if _, err := h.svc.Set(none, p); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("set %+v: %v, want invalid params", p, err)
		}
	}
	if _, err := h.svc.Add(context.Background(), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: "magnet:?xt=urn:btih:00000000000000000000000000000000000000dd", SeedIdleLimit: ptr(int64(-7))}); !errors.Is(err, ErrInvalidParams) {
		t.Errorf("add with seed_idle_limit -7: %v", err)
	}
	// -2 goes back to the session's, on record too.
	if v, err := h.svc.Set(none, api.TaskSetParams{SeedTimeLimit: ptr(int64(api.SeedLimitSession))}); err != nil || v.SeedTimeLimit != api.SeedLimitSession {
		t.Errorf("set -2: %v, %v", v.SeedTimeLimit, err)
	}
	if rec, _ := h.st.task(none); rec.SeedTimeLimit != nil {
		t.Errorf("stored time limit %v, want none (the session's)", *rec.SeedTimeLimit)
	}
	h.poll()
	if got := h.state(none); got != api.StateFinished {
		t.Errorf("after its limit went back to the session's (3 s, long reached): %s", got)
	}
}

// TestSessionIdleLimit: seed_idle_limit of the session stops a seed that
// uploads nothing for that long, counted from when it began seeding.
func TestSessionIdleLimit(t *testing.T) {
	h := newHarness(t)
	set, err := h.svc.SetSettings(api.SessionSetParams{SeedIdleLimit: ptr(int64(3))})
	if err != nil || set.SeedIdleLimit != 3 {
		t.Fatalf("session.set seed_idle_limit: %+v, %v", set, err)
	}
	if _, err := h.svc.SetSettings(api.SessionSetParams{SeedIdleLimit: ptr(int64(-1))}); !errors.Is(err, ErrInvalidParams) {
		t.Errorf("session seed_idle_limit -1: %v", err)
	}
	id, ft := h.addTorrent("i.bin", 1000, api.TaskAddParams{})
	for range 5 {
		h.poll() // downloading time does not count as idle
	}
	ft.complete()
	h.poll()
	h.poll()
	if got := h.state(id); got != api.StateSeeding {
		t.Fatalf("1 s into seeding: %s", got)
	}
	h.poll()
	h.poll()
	if got := h.state(id); got != api.StateFinished {
		t.Errorf("3 s idle: %s, want finished", got)
	}
}

// TestClocksAndActivity: seconds_downloading and seconds_seeding count
// running time only, active_at follows payload, and all are kept over a
// restart.
func TestClocksAndActivity(t *testing.T) {
	h := newHarness(t)
	id, ft := h.addTorrent("clock.bin", 1000, api.TaskAddParams{})
	if v, _ := h.svc.Get(id); v.ActiveAt != "" || v.SecondsDownloading != 0 {
		t.Fatalf("new task: active_at %q, seconds %d", v.ActiveAt, v.SecondsDownloading)
	}
	for range 4 {
		h.poll()
	}
	pause(h, id, ft)
	for range 5 {
		h.poll()
	}
	resume(h, id, ft)
	h.poll()
	ft.set(func(ft *fakeTorrent) { ft.sentDown = 1000 })
	ft.complete()
	h.poll() // finishes: the last second counts as downloading
	moved := h.now
	for range 3 {
		h.poll()
	}
	v, _ := h.svc.Get(id)
	// The first poll starts the clock: 3 s before the pause, 2 after.
	if v.SecondsDownloading != 5 || v.SecondsSeeding != 3 {
		t.Errorf("seconds downloading %d, seeding %d; want 5 and 3", v.SecondsDownloading, v.SecondsSeeding)
	}
	if want := moved.UTC().Format(time.RFC3339Nano); v.ActiveAt != want {
		t.Errorf("active_at %q, want %q", v.ActiveAt, want)
	}
	h.restart()
	w, _ := h.svc.Get(id)
	if w.SecondsDownloading != 5 || w.SecondsSeeding != 3 || w.ActiveAt != v.ActiveAt {
		t.Errorf("after a restart: %d, %d, %q", w.SecondsDownloading, w.SecondsSeeding, w.ActiveAt)
	}
}

// TestPrivateAndReannounce: private comes from the engine's reading of
// the info; task.reannounce reaches the engine torrent of a running task
// and is refused for one that transfers nothing.
func TestPrivateAndReannounce(t *testing.T) {
	h := newHarness(t)
	id, ft := h.addTorrent("p.bin", 1000, api.TaskAddParams{})
	ft.set(func(ft *fakeTorrent) { ft.private = true })
	h.poll()
	if v, _ := h.svc.Get(id); !v.Private {
		t.Error("private false for a private torrent")
	}
	if err := h.svc.Reannounce(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if ft.reannounced != 1 {
		t.Errorf("engine told %d times", ft.reannounced)
	}
	pause(h, id, ft)
	if err := h.svc.Reannounce(context.Background(), id); !errors.Is(err, ErrTaskState) {
		t.Errorf("reannounce of a paused task: %v, want task state", err)
	}
	if err := h.svc.Reannounce(context.Background(), "00000000000000000000000000000000000000ff"); !errors.Is(err, ErrTaskNotFound) {
		t.Errorf("reannounce of an unknown task: %v", err)
	}
}
