package service

import (
	"maps"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/engine"
)

// The task state machine. A task keeps what was asked of it (paused by
// the user, held by the queue, the seeding limit reached, a halt reason,
// slow work under way) and what the engine reports (hashing, metadata
// known, wanted data verified). derive computes, from those facts alone,
// the state the API shows and what the engine must do; apply runs it
// after every change and on every poll, tells the engine only what
// changed, and publishes task.state at once when the state changed.

// facts are the inputs of derive.
type facts struct {
	busy        bool          // slow work (move, remove) owns the task
	prev        api.TaskState // the state before, kept while busy
	loaded      bool          // an engine torrent runs it
	halted      bool          // a halt reason stands (no space, write error)
	paused      bool          // the user paused it
	queued      bool          // the queue holds it back
	metadata    bool          // the service has taken its metadata in
	checking    bool          // the engine is hashing its data
	verifying   bool          // files found on disk are being hashed (paths.go)
	rechecking  bool          // task.recheck is hashing its data
	hasInfo     bool          // the engine knows its metadata
	done        bool          // every wanted file is verified, on record
	seedingDone bool          // its seeding limit was reached
}

// mode is what the engine is told to do for a task.
type mode struct {
	download bool // fetch the wanted files, by their priorities
	upload   bool // serve pieces to peers
}

// derive returns the state of a task with facts f and what its engine
// torrent must do. It is the only place either is decided.
func derive(f facts) (api.TaskState, mode) {
	if f.busy {
		return f.prev, mode{}
	}
	if !f.loaded {
		return api.StateError, mode{}
	}
	m := mode{
		// A halted task keeps uploading what it has; a queued download
		// is held back, a queued seed has nothing to download.
		// Nothing is written over files found on disk before they are
		// hashed, nor over a finished task's data before a recheck has
		// told whether it changed (paths.go).
		download: f.metadata && !f.verifying && !f.rechecking && !f.halted && !f.paused && !(f.queued && !f.done),
		// A queued seed waits for a seeding slot.
		upload: !f.paused && !f.seedingDone && !(f.queued && f.done),
	}
	switch {
	case f.halted:
		return api.StateError, m
	case f.paused:
		return api.StatePaused, m
	case f.queued:
		return api.StateQueued, m
	case !f.metadata:
		// Until the service has taken the metadata in (stored it, checked
		// the space), even if the engine has it already.
		return api.StateMetadata, m
	case f.checking, f.verifying:
		return api.StateChecking, m
	case f.done && f.seedingDone:
		return api.StateFinished, m
	case f.done:
		return api.StateSeeding, m
	case !f.hasInfo:
		return api.StateChecking, m
	}
	return api.StateDownloading, m
}

// facts gathers tk's facts. Service.mu must be held.
func (tk *task) facts() facts {
	return facts{
		busy:        tk.busy != "" || tk.reloading,
		prev:        tk.state,
		loaded:      tk.t != nil,
		halted:      tk.halt.kind != haltNone,
		paused:      tk.rec.Paused,
		queued:      tk.queued,
		metadata:    len(tk.rec.MetaInfo) > 0,
		checking:    tk.stats.Checking || tk.rechecking,
		verifying:   tk.verifying,
		rechecking:  tk.rechecking,
		hasInfo:     tk.stats.HasInfo,
		done:        tk.done,
		seedingDone: tk.rec.SeedingDone,
	}
}

// apply derives tk's state and mode, tells the engine what changed, and
// queues task.state (and task.error on entering error) when the state
// changed. A task's first state (added or restored) is not news: no event
// is queued for it. Service.mu must be held (x is its holder).
func (x *locked) apply(tk *task) {
	state, m := derive(tk.facts())
	tk.drive(m)
	if state == tk.state {
		return
	}
	x.s.counts.move(tk.state, state)
	if tk.state == "" {
		tk.state = state
		return
	}
	defer func() {
		// A stopped direction shows 0 at once, in session.stats too.
		tk.zeroStoppedRates()
		x.s.account(tk)
	}()
	d := api.TaskStateData{TaskID: tk.rec.ID, From: tk.state, To: state}
	tk.state = state
	if state != api.StateError {
		x.emit(api.EventTaskState, d)
		return
	}
	d.Error = tk.errorText()
	x.emit(api.EventTaskState, d)
	x.emit(api.EventTaskError, api.TaskErrorData{TaskID: tk.rec.ID, Error: d.Error})
}

// errorText explains state error.
func (tk *task) errorText() string {
	if tk.halt.text != "" {
		return tk.halt.text
	}
	return "the task could not be loaded"
}

// drive tells tk's engine torrent the parts of m (and of the file
// priorities) it was not told yet. Service.mu must be held.
func (tk *task) drive(m mode) {
	t := tk.t
	if t == nil {
		tk.appliedSet = false
		return
	}
	fresh := !tk.appliedSet
	if fresh || m.upload != tk.applied.upload {
		if m.upload {
			t.Resume()
		} else {
			t.StopUpload()
		}
	}
	if fresh || m.download != tk.applied.download || m.download && tk.appliedPrios != tk.prioGen {
		if m.download {
			t.SetPriorities(enginePriorities(tk.rec.FilePriorities))
			tk.appliedPrios = tk.prioGen
		} else {
			t.Stop()
		}
	}
	tk.applied, tk.appliedSet = m, true
}

// attach makes t tk's engine torrent: the engine is told everything
// afresh on the next apply. Service.mu must be held, or tk not yet
// shared.
func (tk *task) attach(t engine.Torrent) {
	tk.t = t
	tk.appliedSet = false
	if t == nil {
		return
	}
	t.SetRateLimits(tk.rec.DownloadLimit, tk.rec.UploadLimit)
	if tk.rec.Trackers != nil {
		t.SetTrackers(tk.rec.Trackers)
	}
}

// enginePriorities turns the wire's file priorities into the engine's.
func enginePriorities(p map[int]string) map[int]engine.Priority {
	out := make(map[int]engine.Priority, len(p))
	for i, v := range maps.All(p) {
		out[i] = engine.Priority(v)
	}
	return out
}

// stateCounts counts tasks by state, for session.stats in O(1).
type stateCounts map[api.TaskState]int

// move records a task going from one state to another ("" is none: a
// task added or removed).
func (c stateCounts) move(from, to api.TaskState) {
	if from != "" {
		if c[from]--; c[from] <= 0 {
			delete(c, from)
		}
	}
	if to != "" {
		c[to]++
	}
}
