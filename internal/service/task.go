package service

import (
	"sync"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// task is one task: what was asked of it (rec, queued, halt), what the
// engine reports (stats), and what was last derived from both (state,
// applied). Its fields are guarded by Service.mu, except op.
type task struct {
	// op serialises the operations that write this task's record and act
	// on its engine torrent (pause, set, move, remove, metadata, the
	// poll's durable updates), so their writes reach the store in the
	// order they reach memory. It is taken before Service.mu, never while
	// holding it, and held across the slow work (store writes, moving
	// data) that must not hold Service.mu.
	op sync.Mutex

	rec store.Task     // the durable record: the user's wishes and history
	t   engine.Torrent // nil while busy, or when it could not be loaded

	queued bool          // the queue holds it back (see queue.go)
	halt   halt          // why it is stopped against the user's wishes
	busy   string        // api.BusyMoving, api.BusyRemoving or ""
	gone   chan struct{} // closed once a removal finished (busy removing)

	// rechecking is set from task.recheck until the engine's Verify
	// returns, so the task shows checking at once.
	rechecking bool
	// verifying is set while files found on disk before the task are
	// hashed (paths.go): nothing is downloaded until it ends.
	verifying bool
	// reloading is set while a recheck adds its engine torrent again
	// (paths.go): it keeps its state meanwhile.
	reloading bool

	// done: every wanted file is verified and the finish is on disk.
	done bool

	// state is the state last published; applied is what the engine was
	// last told (valid while appliedSet), prioGen counts changes of the
	// file priorities and appliedPrios the one the engine has.
	state        api.TaskState
	applied      mode
	appliedSet   bool
	prioGen      int
	appliedPrios int

	stats    engine.Stats
	statsAt  time.Time // when stats were last read from the engine
	down, up rateMeter

	addedAt    string     // rec.AddedAt for the wire (RFC 3339), formatted once
	progressAt time.Time  // when task.progress was last sent
	followed   bool       // task.progress snapshots are being sent (see poll)
	visitedAt  time.Time  // the poll that last looked at it
	counted    aggregates // what it adds to Service.totals (account)
	kickedAt   time.Time  // when the engine was last prompted to dial

	// Session byte counters already folded into rec.Uploaded and
	// rec.Downloaded.
	flushedUp, flushedDown int64

	qpos int // its index in Service.queue (order.go)

	// The clock (clock.go): time spent downloading and seeding over the
	// task's life up to clockAt, and what it was doing since.
	secDown, secSeed time.Duration
	clockAt          time.Time
	clockKind        clockKind
	seedingSince     time.Time // when it last began seeding
	activeAt         time.Time // payload last moved either way
	uploadAt         time.Time // payload last went out (this session)
}

func newTask(rec store.Task) *task {
	return &task{
		rec: rec, addedAt: rec.AddedAt.Format(time.RFC3339Nano), prioGen: 1,
		secDown:  time.Duration(rec.SecondsDownloading) * time.Second,
		secSeed:  time.Duration(rec.SecondsSeeding) * time.Second,
		activeAt: rec.ActiveAt,
	}
}

// haltKind says why a task is stopped against the user's wishes.
type haltKind string

const (
	// haltNone: not halted.
	haltNone haltKind = ""
	// haltLoad: the engine refused the task (its record cannot be run).
	haltLoad haltKind = "load"
	// haltNoSpace: its remaining data does not fit; checked again every
	// spaceRetryInterval, and cleared by itself once it fits.
	haltNoSpace haltKind = "no_space"
	// haltWrite: writing its data failed; cleared by task.resume or
	// task.recheck.
	haltWrite haltKind = "write"
)

// halt is a task's halt reason, with the message the API shows.
type halt struct {
	kind haltKind
	text string
	at   time.Time // when it was set, or a space check last ran
}

// uploaded and downloaded are totals over all sessions.
func (tk *task) uploaded() int64   { return tk.rec.Uploaded - tk.flushedUp + tk.stats.BytesWritten }
func (tk *task) downloaded() int64 { return tk.rec.Downloaded - tk.flushedDown + tk.stats.BytesRead }

// ratio is lifetime uploaded bytes over completed bytes, 0 while nothing
// is completed.
func (tk *task) ratio() float64 {
	if tk.stats.Completed <= 0 {
		return 0
	}
	return float64(tk.uploaded()) / float64(tk.stats.Completed)
}

// eta estimates seconds to finish; -1 when unknown or not downloading.
func (tk *task) eta() int64 {
	r := tk.down.rate()
	if tk.state != api.StateDownloading || r <= 0 || !tk.stats.HasInfo {
		return -1
	}
	return (tk.stats.Size - tk.stats.Completed + r - 1) / r
}

// wantedDone reports whether every file the user wants is verified, by
// st and files (t's FileStats).
func wantedDone(st engine.Stats, prios map[int]string, files func() []engine.FileStat) bool {
	if !st.HasInfo {
		return false
	}
	if len(prios) == 0 {
		return st.Completed == st.Size
	}
	for i, f := range files() {
		if prios[i] != api.PrioritySkip && f.Completed < f.Size {
			return false
		}
	}
	return true
}

// zeroStoppedRates sets to 0 the rates of the directions tk does not
// transfer in its state, rather than letting their averages fade over
// seconds (a quiet task's are sampled only every quietPollInterval).
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
	if tk.busy != "" {
		tk.down.ema, tk.up.ema = 0, 0
	}
}

// active reports whether tk's progress is worth sending: it is fetching
// metadata, checking, downloading, or uploading.
func (tk *task) active() bool {
	if tk.busy != "" {
		return false
	}
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

// view renders tk for the wire at now; dir is its download dir.
func (tk *task) view(dir string, now time.Time, node string) api.Task {
	v := api.Task{
		Node:         node,
		TaskID:       tk.rec.ID,
		Name:         tk.rec.Name,
		Size:         tk.rec.Size,
		Completed:    tk.stats.Completed,
		State:        tk.state,
		Busy:         tk.busy,
		Network:      tk.stats.Network,
		AddedAt:      tk.addedAt,
		DownloadRate: tk.down.rate(),
		UploadRate:   tk.up.rate(),
		Peers:        tk.stats.Peers,
		Downloaded:   tk.downloaded(),
		Uploaded:     tk.uploaded(),
		ETASeconds:   tk.eta(),
		Pieces:       tk.stats.Pieces,
		PieceSize:    tk.stats.PieceSize,
		Labels:       tk.rec.Labels,
		Category:     tk.rec.Category,
		DownloadDir:  dir,
		Sequential:   tk.rec.Sequential,

		DownloadRateLimit: tk.rec.DownloadLimit,
		UploadRateLimit:   tk.rec.UploadLimit,

		Private:        tk.stats.Private,
		QueuePosition:  tk.qpos,
		SeedRatioLimit: float64(api.SeedLimitSession),
		SeedTimeLimit:  api.SeedLimitSession,
		SeedIdleLimit:  api.SeedLimitSession,
	}
	down, seed := tk.seconds(now)
	v.SecondsDownloading, v.SecondsSeeding = int64(down/time.Second), int64(seed/time.Second)
	if !tk.activeAt.IsZero() {
		v.ActiveAt = tk.activeAt.UTC().Format(time.RFC3339Nano)
	}
	if l := tk.rec.SeedRatioLimit; l != nil {
		v.SeedRatioLimit = *l
	}
	if l := tk.rec.SeedTimeLimit; l != nil {
		v.SeedTimeLimit = *l
	}
	if l := tk.rec.SeedIdleLimit; l != nil {
		v.SeedIdleLimit = *l
	}
	if v.Labels == nil {
		v.Labels = []string{}
	}
	v.Ratio = tk.ratio()
	if tk.state == api.StateError {
		v.Error = tk.halt.text
	}
	if !tk.rec.FinishedAt.IsZero() {
		v.FinishedAt = tk.rec.FinishedAt.Format(time.RFC3339Nano)
	}
	return v
}
