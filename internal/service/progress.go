package service

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/events"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// poll reads every task's progress, updates states and publishes the
// resulting events.
func (s *Service) poll(now time.Time) {
	var out []pending
	var progress []api.TaskProgressData
	var kicks []engine.Torrent
	// Snapshots nobody subscribes to are not built: session.stats is
	// O(tasks), and most connections never ask for it.
	wantProgress := s.hub.Wanted(api.EventTaskProgress)
	wantStats := s.hub.Wanted(api.EventSessionStats)
	// Engine stats are read without s.mu: with thousands of tasks reading
	// them takes a long time, and every API request waits for s.mu. A
	// paused task (no transfer) is read only every pausedPollInterval.
	type probe struct {
		tk *task
		t  engine.Torrent
		st engine.Stats
	}
	s.mu.Lock()
	probes := make([]probe, 0, len(s.tasks))
	for _, tk := range s.tasks {
		if tk.t == nil || tk.rec.Paused && !tk.stats.Checking && now.Sub(tk.statsAt) < pausedPollInterval {
			continue
		}
		probes = append(probes, probe{tk: tk, t: tk.t})
	}
	s.mu.Unlock()
	for i := range probes {
		probes[i].st = probes[i].t.Stats()
	}
	s.mu.Lock()
	for _, p := range probes {
		tk := p.tk
		if tk.t != p.t || s.tasks[tk.rec.ID] != tk {
			continue // removed or re-added meanwhile
		}
		tk.statsAt = now
		prevFailures := tk.stats.HashFailures
		tk.stats = p.st
		failed := tk.stats.HashFailures - prevFailures
		if failed > 0 || tk.state == api.StateDownloading && tk.stats.Peers == 0 && now.Sub(tk.kickedAt) >= idleKickInterval {
			// A piece lost to a failed hash (a recheck) or a download with
			// no peer: prompt the engine to dial the peers it knows, which
			// it does only when something prompts it.
			tk.kickedAt = now
			kicks = append(kicks, tk.t)
		}
		if failed > 0 {
			out = append(out, pending{api.EventEngineAlert, api.EngineAlertData{
				TaskID:  tk.rec.ID,
				Level:   api.LevelWarning,
				Message: fmt.Sprintf("%d piece(s) failed hash verification; their data is downloaded again", failed),
			}})
		}
		tk.down.sample(now, tk.stats.BytesRead)
		tk.up.sample(now, tk.stats.BytesWritten)
		if werr := tk.t.WriteError(); werr != nil {
			out = append(out, s.onWriteErrorLocked(tk, werr, now)...)
		}
		out = append(out, s.checkHaltedLocked(tk, now)...)
		tk.done = tk.wantedDone()
		if tk.done && tk.rec.FinishedAt.IsZero() {
			if s.markFinishedLocked(tk, now) {
				out = append(out, pending{api.EventTaskFinished, api.TaskFinishedData{TaskID: tk.rec.ID}})
			}
		}
		if !tk.rec.SeedingDone && s.seedLimitReachedLocked(tk, now) {
			if err := s.store.UpdateTask(tk.rec.ID, func(r *store.Task) { r.SeedingDone = true }); err != nil {
				s.log.Error("store seeding limit", "task_id", tk.rec.ID, "err", err)
			} else {
				tk.rec.SeedingDone = true
				tk.t.StopUpload()
			}
		}
	}
	s.requeueLocked()
	for _, tk := range s.tasks {
		out = append(out, s.stateChangeLocked(tk)...)
		tk.zeroStoppedRates()
		if tk.rec.Sequential && tk.state == api.StateDownloading {
			tk.t.PrioritizeSequential()
		}
		// A task is followed while it is active or its rates are still
		// falling, and gets one last snapshot when it stops, its rates
		// at 0: a client never keeps showing a stale rate.
		if live := tk.active() || tk.down.rate() > 0 || tk.up.rate() > 0; live && now.Sub(tk.progressAt) >= progressInterval || !live && tk.followed {
			tk.progressAt, tk.followed = now, live
			if wantProgress {
				progress = append(progress, tk.progress())
			}
		}
	}
	if now.Sub(s.flushedAt) >= totalsFlushInterval {
		s.flushTotalsLocked()
		s.flushedAt = now
	}
	wait := s.postAll(out)
	s.mu.Unlock()
	for _, t := range kicks {
		t.DialKnownPeers()
	}
	wait()
	for _, p := range progress {
		if err := s.hub.PublishCoalesced(api.EventTaskProgress, p.TaskID, p); err != nil && !errors.Is(err, events.ErrClosed) {
			s.log.Error("publish progress", "err", err)
		}
	}
	if wantStats && now.Sub(s.statsAt) >= progressInterval {
		s.statsAt = now
		// Keyed apart from task ids (hex), so it coalesces only with
		// itself.
		if err := s.hub.PublishCoalesced(api.EventSessionStats, api.EventSessionStats, s.Stats()); err != nil && !errors.Is(err, events.ErrClosed) {
			s.log.Error("publish session stats", "err", err)
		}
	}
}

// idleKickInterval is how often a downloading task with no peer prompts
// the engine to dial the peers it knows.
const idleKickInterval = 10 * time.Second

// pausedPollInterval is how often a paused task's engine stats are read.
const pausedPollInterval = 5 * time.Second

// totalsFlushInterval is how often byte totals are stored.
const totalsFlushInterval = time.Minute

// progressInterval is the least time between two task.progress events of
// one task.
const progressInterval = time.Second

// zeroStoppedRates sets to 0 the rates of the directions tk does not
// transfer in its state, rather than letting their averages fade over
// seconds (a paused task's are sampled only every pausedPollInterval).
// Service.mu must be held.
func (tk *task) zeroStoppedRates() {
	switch tk.state {
	case api.StatePaused, api.StateError, api.StateFinished:
		tk.down.ema, tk.up.ema = 0, 0
	case api.StateSeeding:
		tk.down.ema = 0
	case api.StateQueued:
		tk.down.ema = 0
		if tk.done {
			tk.up.ema = 0
		}
	}
}

// active reports whether tk's progress is worth sending: it is fetching
// metadata, checking, downloading, or uploading. Service.mu must be held.
func (tk *task) active() bool {
	switch tk.state {
	case api.StateMetadata, api.StateChecking, api.StateDownloading:
		return true
	case api.StateSeeding:
		return tk.up.rate() > 0
	}
	return false
}

func (tk *task) progress() api.TaskProgressData {
	return api.TaskProgressData{
		TaskID: tk.rec.ID, State: tk.state, Size: tk.stats.Size, Completed: tk.stats.Completed,
		DownloadRate: tk.down.rate(), UploadRate: tk.up.rate(), Peers: tk.stats.Peers, ETASeconds: tk.eta(),
		Downloaded: tk.downloaded(), Uploaded: tk.uploaded(), Ratio: tk.ratio(),
	}
}

// markFinishedLocked durably records that tk finished. It reports false
// when the record could not be written; the next poll tries again, so the
// finish is never lost nor announced before it is on disk.
func (s *Service) markFinishedLocked(tk *task, now time.Time) bool {
	at := now.UTC()
	if err := s.store.UpdateTask(tk.rec.ID, func(r *store.Task) { r.FinishedAt = at }); err != nil {
		s.log.Error("store finish", "task_id", tk.rec.ID, "err", err)
		return false
	}
	tk.rec.FinishedAt = at
	s.log.Info("task finished", "task_id", tk.rec.ID, "name", tk.rec.Name)
	return true
}

// stateLocked derives tk's state. Service.mu must be held.
func (s *Service) stateLocked(tk *task) api.TaskState {
	switch {
	case tk.errText != "" || tk.t == nil:
		return api.StateError
	case tk.rec.Paused:
		return api.StatePaused
	case tk.queued:
		return api.StateQueued
	case len(tk.rec.MetaInfo) == 0:
		// Until awaitMetadata has taken the metadata in (stored it,
		// checked the space), even if the engine has it already: a
		// poll in between would show "downloading" for an instant.
		return api.StateMetadata
	case tk.stats.Checking:
		return api.StateChecking
	case tk.done && tk.rec.SeedingDone:
		return api.StateFinished
	case tk.done:
		return api.StateSeeding
	case !tk.stats.HasInfo:
		return api.StateChecking
	default:
		return api.StateDownloading
	}
}

// rateMeter turns a growing byte counter into a rate smoothed over a few
// seconds.
type rateMeter struct {
	last   int64
	lastAt time.Time
	ema    float64
}

const rateHalfLife = 2 * time.Second

func (m *rateMeter) sample(now time.Time, total int64) {
	if m.lastAt.IsZero() {
		m.last, m.lastAt = total, now
		return
	}
	dt := now.Sub(m.lastAt)
	if dt <= 0 {
		return
	}
	inst := float64(total-m.last) / dt.Seconds()
	// Weight of the new sample for a half-life of rateHalfLife.
	w := 1 - math.Exp2(-dt.Seconds()/rateHalfLife.Seconds())
	m.ema += w * (inst - m.ema)
	m.last, m.lastAt = total, now
}

func (m *rateMeter) rate() int64 {
	if m.ema < 1 {
		return 0
	}
	return int64(m.ema)
}
