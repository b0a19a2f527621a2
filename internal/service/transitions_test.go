package service

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/engine"
)

// step is one action on a task and what must follow from it: the state
// the task then shows, the task.state events published by the time the
// action returned (every change is published at once, never at the next
// poll), and, when set, what the engine was told.
type step struct {
	name   string
	do     func(h *harness, id string, ft *fakeTorrent)
	state  api.TaskState
	events []string // "from>to"
	mode   *mode
}

func pause(h *harness, id string, _ *fakeTorrent) {
	h.t.Helper()
	if err := h.svc.Pause(context.Background(), id); err != nil {
		h.t.Fatalf("pause: %v", err)
	}
}

func resume(h *harness, id string, _ *fakeTorrent) {
	h.t.Helper()
	if err := h.svc.Resume(context.Background(), id); err != nil {
		h.t.Fatalf("resume: %v", err)
	}
}

func completeAndPoll(h *harness, _ string, ft *fakeTorrent) {
	ft.complete()
	h.poll()
}

func setSettings(p api.SessionSetParams) func(h *harness, _ string, _ *fakeTorrent) {
	return func(h *harness, _ string, _ *fakeTorrent) {
		h.t.Helper()
		if _, err := h.svc.SetSettings(p); err != nil {
			h.t.Fatalf("session.set: %v", err)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestTransitions drives tasks through every transition of the state
// machine on the real service, with a fake engine.
func TestTransitions(t *testing.T) {
	dl, up, both, none := &mode{download: true}, &mode{upload: true}, &mode{download: true, upload: true}, &mode{}
	tests := []struct {
		name   string
		magnet bool
		steps  []step
	}{
		{name: "download, pause, resume, finish, seed limit, seed again", steps: []step{
			{name: "added", state: api.StateDownloading, mode: both},
			{name: "pause", do: pause, state: api.StatePaused, events: []string{"downloading>paused"}, mode: none},
			{name: "pause again", do: pause, state: api.StatePaused},
			{name: "resume", do: resume, state: api.StateDownloading, events: []string{"paused>downloading"}, mode: both},
			{name: "complete", do: completeAndPoll, state: api.StateSeeding, events: []string{"downloading>seeding"}, mode: both},
			{name: "ratio reached", do: func(h *harness, id string, ft *fakeTorrent) {
				setSettings(api.SessionSetParams{SeedRatioLimit: ptr(1.0)})(h, id, ft)
				// A quiet seed (no peer yet) is read within 5 s.
				ft.set(func(ft *fakeTorrent) { ft.sentUp, ft.peers = 1<<20, 1 })
				for range 5 {
					h.poll()
				}
			}, state: api.StateFinished, events: []string{"seeding>finished"}, mode: dl},
			{name: "resume seeds again", do: func(h *harness, id string, ft *fakeTorrent) {
				setSettings(api.SessionSetParams{SeedRatioLimit: ptr(0.0)})(h, id, ft)
				resume(h, id, ft)
			}, state: api.StateSeeding, events: []string{"finished>seeding"}, mode: both},
		}},
		{name: "magnet: metadata, then download", magnet: true, steps: []step{
			{name: "added", state: api.StateMetadata, mode: up},
			{name: "metadata arrives", do: func(h *harness, id string, ft *fakeTorrent) {
				ft.giveInfo(engine.FileStat{Path: "m.bin", Size: 1 << 20})
				waitFor(h, func() bool { return h.state(id) == api.StateDownloading })
			}, state: api.StateDownloading, mode: both},
		}},
		{name: "magnet added paused", magnet: true, steps: []step{
			{name: "added", do: pause, state: api.StatePaused, events: []string{"metadata>paused"}, mode: none},
			{name: "resume", do: resume, state: api.StateMetadata, events: []string{"paused>metadata"}, mode: up},
		}},
		{name: "write error, then resume", steps: []step{
			{name: "added", state: api.StateDownloading},
			{name: "write fails", do: func(h *harness, id string, ft *fakeTorrent) {
				ft.set(func(ft *fakeTorrent) { ft.writeErr = errors.New("input/output error") })
				h.svc.onAlert(engine.Alert{TaskID: id, Level: api.LevelError, Message: "storage write failed"})
			}, state: api.StateError, events: []string{"downloading>error"}, mode: up},
			{name: "polls keep it stopped", do: func(h *harness, _ string, _ *fakeTorrent) { h.poll(); h.poll() }, state: api.StateError, mode: up},
			{name: "resume", do: resume, state: api.StateDownloading, events: []string{"error>downloading"}, mode: both},
		}},
		{name: "disk fills, then room appears", steps: []step{
			{name: "added", state: api.StateDownloading},
			{name: "ENOSPC", do: func(h *harness, _ string, ft *fakeTorrent) {
				ft.set(func(ft *fakeTorrent) { ft.writeErr = errors.New("write: no space left on device") })
				h.poll()
			}, state: api.StateError, events: []string{"downloading>error"}, mode: up},
			{name: "room is back at the next check", do: func(h *harness, _ string, _ *fakeTorrent) {
				h.poll()
				h.poll()
				h.poll()
			}, state: api.StateDownloading, events: []string{"error>downloading"}, mode: both},
		}},
		{name: "recheck", steps: []step{
			{name: "added", do: completeAndPoll, state: api.StateSeeding},
			{name: "recheck shows checking at once", do: func(h *harness, id string, ft *fakeTorrent) {
				ft.verifyGate = make(chan struct{})
				if err := h.svc.Recheck(context.Background(), id); err != nil {
					h.t.Fatalf("recheck: %v", err)
				}
			}, state: api.StateChecking, events: []string{"seeding>checking"}},
			{name: "check ends", do: func(h *harness, id string, ft *fakeTorrent) {
				close(ft.verifyGate)
				waitFor(h, func() bool { return h.state(id) == api.StateSeeding })
			}, state: api.StateSeeding, events: []string{"checking>seeding"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			var id string
			var ft *fakeTorrent
			if tt.magnet {
				id, ft = h.addMagnet("0123456789abcdef0123456789abcdef01234567", false)
			} else {
				id, ft = h.addTorrent("t.bin", 1<<20, api.TaskAddParams{})
			}
			for _, s := range tt.steps {
				if s.do != nil {
					s.do(h, id, ft)
				}
				evs := h.drain()
				if got := h.state(id); got != s.state {
					t.Fatalf("%s: state %s, want %s", s.name, got, s.state)
				}
				if got := stateEvents(t, evs, id); s.events != nil && !slices.Equal(got, s.events) {
					t.Errorf("%s: task.state events %v, want %v", s.name, got, s.events)
				}
				if s.mode != nil {
					if got := ft.mode(); got != *s.mode {
						t.Errorf("%s: engine told %+v, want %+v", s.name, got, *s.mode)
					}
				}
			}
		})
	}
}
