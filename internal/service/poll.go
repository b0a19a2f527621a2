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

// idleKickInterval is how often a downloading task with no peer prompts
// the engine to dial the peers it knows.
const idleKickInterval = 10 * time.Second

// quietPollInterval is how often the engine stats of a quiet task are
// read: one that transfers nothing and can change only slowly (see
// quiet). With 10,000 tasks, reading every one twice a second would be most of
// the idle daemon's CPU.
const quietPollInterval = 5 * time.Second

// totalsFlushInterval is how often byte totals are stored.
const totalsFlushInterval = time.Minute

// progressInterval is the least time between two task.progress events of
// one task.
const progressInterval = time.Second

// probe is one task's reading in a poll: taken under Service.mu (the
// task's fields), filled in without it (the engine, the disk), and
// committed under it again.
type probe struct {
	tk *task
	t  engine.Torrent

	// Copied under the lock.
	prios        map[int]string // never modified in place: replaced
	dir          string
	metadata     bool
	finishedAt   time.Time
	seedingDone  bool
	recUp        int64
	recDown      int64
	flushedUp    int64
	flushedDown  int64
	spaceDue     bool
	spaceChecked bool
	limits       seedLimits
	idleFrom     time.Time
	prevRead     int64 // the engine's counters at the last reading
	prevWritten  int64
	activeAt     time.Time
	secDown      int64 // seconds downloading and seeding, live and stored
	secSeed      int64
	recSecDown   int64
	recSecSeed   int64

	// Read without the lock.
	st       engine.Stats
	werr     error
	doneNow  bool
	spaceErr error
	moved    bool // payload moved since the last reading

	// Durable updates decided without the lock; written holds whether
	// they reached the store.
	finishAt    time.Time
	seedLimit   bool
	up, down    int64
	flushTotals bool
	written     bool
}

// aggregates are sums over the tasks, kept as they change so that
// session.stats is O(1): each task remembers what it adds (task.counted),
// and account replaces that with what it adds now.
type aggregates struct {
	downloadRate, uploadRate int64
	downloaded, uploaded     int64 // this session's payload bytes
	freeDisk                 int64
}

// account brings s.totals up to date with tk's rates and byte counts.
// Service.mu must be held.
func (s *Service) account(tk *task) {
	tk.tickClock(s.clock())
	now := aggregates{downloadRate: tk.down.rate(), uploadRate: tk.up.rate(), downloaded: tk.stats.BytesRead, uploaded: tk.stats.BytesWritten}
	s.totals.add(tk.counted, -1)
	s.totals.add(now, 1)
	tk.counted = now
}

// add adds sign times o's sums to a.
func (a *aggregates) add(o aggregates, sign int64) {
	a.downloadRate += sign * o.downloadRate
	a.uploadRate += sign * o.uploadRate
	a.downloaded += sign * o.downloaded
	a.uploaded += sign * o.uploaded
}

// poll reads every task's progress, records finishes, seeding limits and
// byte totals durably, applies the resulting states and publishes the
// events. The engine and the disk are read, and the store written,
// without Service.mu.
func (s *Service) poll(now time.Time) {
	// Snapshots nobody subscribes to are not built.
	wantProgress := s.hub.Wanted(api.EventTaskProgress)
	wantStats := s.hub.Wanted(api.EventSessionStats)
	flush := now.Sub(s.flushedAt) >= totalsFlushInterval

	// 1. Which tasks to read. A quiet task is read only every
	// quietPollInterval, and at a totals flush.
	s.mu.Lock()
	set := s.settings
	probes := s.probes[:0] // reused: most polls read about the same tasks
	for _, tk := range s.tasks {
		if tk.t == nil || tk.busy != "" {
			continue
		}
		limits := limitsOf(&tk.rec, set)
		if !flush && tk.quiet() && now.Sub(tk.statsAt) < quietPollInterval && !seedTimeUp(limits, tk, now) {
			continue
		}
		down, seed := tk.seconds(now)
		probes = append(probes, probe{
			tk: tk, t: tk.t, prios: tk.rec.FilePriorities, dir: s.taskDir(tk),
			metadata: len(tk.rec.MetaInfo) > 0, finishedAt: tk.rec.FinishedAt, seedingDone: tk.rec.SeedingDone,
			recUp: tk.rec.Uploaded, recDown: tk.rec.Downloaded, flushedUp: tk.flushedUp, flushedDown: tk.flushedDown,
			spaceDue: tk.halt.kind == haltNoSpace && now.Sub(tk.halt.at) >= spaceRetryInterval,
			limits:   limits, idleFrom: tk.idleFrom(),
			prevRead: tk.stats.BytesRead, prevWritten: tk.stats.BytesWritten, activeAt: tk.activeAt,
			secDown: int64(down / time.Second), secSeed: int64(seed / time.Second),
			recSecDown: tk.rec.SecondsDownloading, recSecSeed: tk.rec.SecondsSeeding,
		})
	}
	s.mu.Unlock()

	// 2. Read the engine and the disk, and store what must be durable
	// before it is announced: finishes, seeding limits, byte totals.
	writes := map[string]func(*store.Task){}
	var held []*task // tasks whose op lock this poll holds
	for i := range probes {
		p := &probes[i]
		p.st = p.t.Stats()
		p.werr = p.t.WriteError()
		p.doneNow = p.metadata && wantedDone(p.st, p.prios, p.t.FileStats)
		if p.spaceDue {
			p.spaceErr, p.spaceChecked = s.spaceErr(p.dir, p.prios, p.t), true
		}
		finishedAt := p.finishedAt
		if p.doneNow && finishedAt.IsZero() {
			p.finishAt, finishedAt = now.UTC(), now.UTC()
		}
		p.up = p.recUp - p.flushedUp + p.st.BytesWritten
		p.down = p.recDown - p.flushedDown + p.st.BytesRead
		if p.st.BytesRead > p.prevRead || p.st.BytesWritten > p.prevWritten {
			p.moved, p.activeAt = true, now.UTC()
		}
		if p.st.BytesWritten > p.prevWritten && !p.idleFrom.IsZero() {
			// It uploaded since the last reading (a quiet task is read
			// seldom): not idle.
			p.idleFrom = now
		}
		p.seedLimit = p.doneNow && !p.seedingDone && p.limits.reached(finishedAt, p.st.Completed, p.up, p.idleFrom, now)
		// The clocks are stored with the byte totals, and on their own
		// only once they gathered secondsFlushSlack (clock.go).
		clocks := p.secDown != p.recSecDown || p.secSeed != p.recSecSeed
		clocksDue := time.Duration(p.secDown-p.recSecDown+p.secSeed-p.recSecSeed)*time.Second >= secondsFlushSlack
		p.flushTotals = flush && (p.up != p.recUp || p.down != p.recDown || clocks && clocksDue)
		if p.finishAt.IsZero() && !p.seedLimit && !p.flushTotals {
			continue
		}
		if !p.tk.op.TryLock() {
			// An operation owns the task (a move, a set): the next poll
			// tries again.
			p.finishAt, p.seedLimit, p.flushTotals = time.Time{}, false, false
			continue
		}
		held = append(held, p.tk)
		p.written = true
		finishAt, limit, totals, up, down := p.finishAt, p.seedLimit, p.flushTotals, p.up, p.down
		activeAt, secDown, secSeed := p.activeAt, p.secDown, p.secSeed
		writes[p.tk.rec.ID] = func(r *store.Task) {
			if !finishAt.IsZero() {
				r.FinishedAt = finishAt
			}
			if limit {
				r.SeedingDone = true
			}
			if totals {
				r.Uploaded, r.Downloaded = up, down
				r.ActiveAt = activeAt
				r.SecondsDownloading, r.SecondsSeeding = secDown, secSeed
			}
		}
	}
	if len(writes) > 0 {
		updated, err := s.store.UpdateTasks(writes)
		if err != nil {
			s.log.Error("store finishes, seeding limits and totals", "tasks", len(writes), "err", err)
		}
		stored := make(map[string]bool, len(updated))
		for _, id := range updated {
			stored[id] = true
		}
		for i := range probes {
			if p := &probes[i]; p.written {
				p.written = stored[p.tk.rec.ID]
			}
		}
	}
	free := freeBytes(s.downloadDir)

	// 3. Commit under the lock.
	var kicks, sequential []engine.Torrent
	var progress []api.TaskProgressData
	var completes []completeMove // finished tasks to move (categories)
	x := s.lock()
	for i := range probes {
		p := &probes[i]
		tk := p.tk
		if tk.t != p.t || s.tasks[tk.rec.ID] != tk || tk.busy != "" {
			continue // removed, moved or re-added meanwhile
		}
		tk.statsAt = now
		failed := p.st.HashFailures - tk.stats.HashFailures
		if p.moved {
			tk.activeAt = p.activeAt
		}
		if p.st.BytesWritten > tk.stats.BytesWritten {
			tk.uploadAt = now
		}
		tk.stats = p.st
		if failed > 0 || tk.state == api.StateDownloading && tk.stats.Peers == 0 && now.Sub(tk.kickedAt) >= idleKickInterval {
			// A piece lost to a failed hash (a recheck) or a download with
			// no peer: prompt the engine to dial the peers it knows, which
			// it does only when something prompts it.
			tk.kickedAt = now
			kicks = append(kicks, tk.t)
		}
		if failed > 0 {
			x.emit(api.EventEngineAlert, api.EngineAlertData{TaskID: tk.rec.ID, Level: api.LevelWarning,
				Message: fmt.Sprintf("%d piece(s) failed hash verification; their data is downloaded again", failed)})
		}
		tk.down.sample(now, tk.stats.BytesRead)
		tk.up.sample(now, tk.stats.BytesWritten)
		if p.written {
			if !p.finishAt.IsZero() {
				tk.rec.FinishedAt = p.finishAt
				s.log.Info("task finished", "task_id", tk.rec.ID, "name", tk.rec.Name)
				x.emit(api.EventTaskFinished, api.TaskFinishedData{TaskID: tk.rec.ID})
				if c, ok := s.categories[tk.rec.Category]; ok && c.CompletePath != "" && c.CompletePath != s.taskDir(tk) {
					completes = append(completes, completeMove{tk.rec.ID, c.Name, c.CompletePath})
				}
			}
			if p.seedLimit {
				tk.rec.SeedingDone = true
			}
			if p.flushTotals {
				tk.rec.Uploaded, tk.rec.Downloaded = p.up, p.down
				tk.flushedUp, tk.flushedDown = p.st.BytesWritten, p.st.BytesRead
				tk.rec.ActiveAt = p.activeAt
				tk.rec.SecondsDownloading, tk.rec.SecondsSeeding = p.secDown, p.secSeed
			}
		}
		// Done counts once the finish is on disk: never announced before.
		tk.done = p.doneNow && !tk.rec.FinishedAt.IsZero()
		if p.werr != nil {
			s.onWriteErrorLocked(x, tk, p.werr, now)
		}
		if p.spaceChecked && tk.halt.kind == haltNoSpace {
			s.spaceCheckedLocked(x, tk, p.dir, p.spaceErr, now)
		}
	}
	s.requeueLocked(x)
	// Only the tasks read now, and those followed by task.progress, can
	// have news: the others' stats did not change, and every request that
	// changes a task applies its state itself.
	visit := func(tk *task) {
		x.apply(tk)
		tk.zeroStoppedRates()
		s.account(tk)
		if tk.rec.Sequential && tk.state == api.StateDownloading && tk.t != nil {
			sequential = append(sequential, tk.t)
		}
		// A task is followed while it is active or its rates are still
		// falling, and gets one last snapshot when it stops, its rates
		// at 0: a client never keeps showing a stale rate.
		if live := tk.active() || tk.down.rate() > 0 || tk.up.rate() > 0; live && now.Sub(tk.progressAt) >= progressInterval || !live && tk.followed {
			tk.progressAt, tk.followed = now, live
			if live {
				s.followed[tk] = struct{}{}
			} else {
				delete(s.followed, tk)
			}
			if wantProgress {
				progress = append(progress, tk.progress())
			}
		}
	}
	for i := range probes {
		if tk := probes[i].tk; s.tasks[tk.rec.ID] == tk {
			tk.visitedAt = now
			visit(tk)
		}
	}
	for tk := range s.followed {
		if s.tasks[tk.rec.ID] != tk {
			delete(s.followed, tk) // removed
		} else if tk.visitedAt != now {
			visit(tk)
		}
	}
	s.totals.freeDisk = free
	x.unlock()
	clear(probes) // no task kept alive by the buffer
	s.probes = probes[:0]
	for _, tk := range held {
		tk.op.Unlock()
	}
	if flush {
		s.flushedAt = now
	}
	for _, c := range completes {
		// Once the op locks are let go of: the move takes its task's.
		s.wg.Add(1)
		go s.moveComplete(c)
	}
	for _, t := range kicks {
		t.DialKnownPeers()
	}
	for _, t := range sequential {
		t.PrioritizeSequential()
	}
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

// quiet reports whether tk's engine stats can be read seldom: it is
// paused, or it has no peer, transfers nothing, is not hashing, and is in
// a state that only a peer or a request can change (seeding, finished,
// queued, error other than waiting for space, or waiting for metadata). A
// peer connecting to a quiet task is seen within quietPollInterval.
// Service.mu must be held.
func (tk *task) quiet() bool {
	if tk.stats.Checking || tk.rechecking {
		return false
	}
	if tk.rec.Paused {
		return true
	}
	if tk.stats.Peers > 0 || tk.down.rate() > 0 || tk.up.rate() > 0 || tk.halt.kind == haltNoSpace {
		return false
	}
	switch tk.state {
	case api.StateSeeding, api.StateFinished, api.StateQueued, api.StateError, api.StateMetadata:
		return true
	}
	return false
}

// seedTimeUp reports whether a seeding task's time or idle limit (l) has
// come: then it is read at once, quiet or not, so it stops on time.
// Service.mu must be held.
func seedTimeUp(l seedLimits, tk *task, now time.Time) bool {
	return tk.state == api.StateSeeding && !tk.rec.FinishedAt.IsZero() && l.timeUp(tk.rec.FinishedAt, tk.idleFrom(), now)
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
