package service

import (
	"testing"

	"github.com/lodestone-bt/lodestone/api"
)

// TestDerive pins the state machine: every combination of facts that
// matters, the state it shows and what the engine is told.
func TestDerive(t *testing.T) {
	on := facts{loaded: true, metadata: true, hasInfo: true}
	with := func(f func(*facts)) facts { g := on; f(&g); return g }
	tests := []struct {
		name  string
		f     facts
		state api.TaskState
		mode  mode
	}{
		{"downloading", on, api.StateDownloading, mode{download: true, upload: true}},
		{"engine has no info yet", with(func(f *facts) { f.hasInfo = false }), api.StateChecking, mode{download: true, upload: true}},
		{"hashing", with(func(f *facts) { f.checking = true }), api.StateChecking, mode{download: true, upload: true}},
		{"seeding", with(func(f *facts) { f.done = true }), api.StateSeeding, mode{download: true, upload: true}},
		{"finished", with(func(f *facts) { f.done, f.seedingDone = true, true }), api.StateFinished, mode{download: true}},
		{"metadata", with(func(f *facts) { f.metadata, f.hasInfo = false, false }), api.StateMetadata, mode{upload: true}},
		{"metadata known to the engine, not yet taken in", with(func(f *facts) { f.metadata = false }), api.StateMetadata, mode{upload: true}},
		{"paused", with(func(f *facts) { f.paused = true }), api.StatePaused, mode{}},
		{"paused magnet", with(func(f *facts) { f.paused, f.metadata = true, false }), api.StatePaused, mode{}},
		{"paused and halted: the error shows", with(func(f *facts) { f.paused, f.halted = true, true }), api.StateError, mode{}},
		{"queued download", with(func(f *facts) { f.queued = true }), api.StateQueued, mode{upload: true}},
		{"queued seed", with(func(f *facts) { f.queued, f.done = true, true }), api.StateQueued, mode{download: true}},
		{"halted keeps uploading", with(func(f *facts) { f.halted = true }), api.StateError, mode{upload: true}},
		{"halted seed", with(func(f *facts) { f.halted, f.done = true, true }), api.StateError, mode{upload: true}},
		{"halted, seeding done", with(func(f *facts) { f.halted, f.done, f.seedingDone = true, true, true }), api.StateError, mode{}},
		{"not loaded", with(func(f *facts) { f.loaded = false }), api.StateError, mode{}},
		{"busy keeps its state", with(func(f *facts) { f.busy, f.prev = true, api.StateSeeding }), api.StateSeeding, mode{}},
		{"busy, not loaded", with(func(f *facts) { f.busy, f.loaded, f.prev = true, false, api.StatePaused }), api.StatePaused, mode{}},
		{"checking wins over done", with(func(f *facts) { f.checking, f.done = true, true }), api.StateChecking, mode{download: true, upload: true}},
		{"queue wins over metadata", with(func(f *facts) { f.queued, f.metadata = true, false }), api.StateQueued, mode{upload: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state, m := derive(tt.f)
			if state != tt.state || m != tt.mode {
				t.Errorf("derive(%+v) = %s %+v; want %s %+v", tt.f, state, m, tt.state, tt.mode)
			}
		})
	}
}
