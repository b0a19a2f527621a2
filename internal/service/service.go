// Package service is the domain of the daemon: the set of tasks, their
// states and the operations on them. It is the one source of truth about a
// task. Each operation persists first (Store), then acts on the engine,
// then publishes events (Publisher), so an answer that says "done" is on
// disk.
//
// One mutex, Service.mu, guards the tasks' in-memory state; it is never
// held across disk or network I/O. Slow work (store writes, moving and
// deleting data, free-space checks) runs under the task's own op lock,
// so a request about one task never waits for another task's I/O. The
// files are named by concern: state.go holds the state machine, queue.go
// the download and seeding slots, poll.go the progress loop, journal.go
// the start-up healing of moves and deletions a crash cut short, and add,
// pause, recheck, set, move, remove, settings, categories, totals,
// space, publish the rest.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/fetch"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// Errors returned by Service methods; wrap-checked with errors.Is.
var (
	// ErrInvalidParams: a parameter is missing or malformed.
	ErrInvalidParams = errors.New("invalid params")
	// ErrTaskNotFound: no task has the given ID.
	ErrTaskNotFound = errors.New("task not found")
	// ErrBadTorrent: torrent data is not valid base64 or not a .torrent.
	ErrBadTorrent = engine.ErrBadTorrent
	// ErrBadMagnet: not a valid magnet URI.
	ErrBadMagnet = engine.ErrBadMagnet
	// ErrUnsupported: a valid torrent or magnet that cannot be downloaded
	// (BEP 52 v2-only).
	ErrUnsupported = engine.ErrUnsupported
	// ErrTaskState: the task's state does not allow the operation.
	ErrTaskState = errors.New("task state does not allow this")
	// ErrFetch: a task.add URL could not be fetched.
	ErrFetch = fetch.ErrFetch
	// ErrClosed: the service is shutting down.
	ErrClosed = errors.New("service closed")
	// ErrTorrentClosed: a file stream's task was removed, moved or
	// stopped while it was being read.
	ErrTorrentClosed = engine.ErrTorrentClosed
	// ErrReaderClosed: a file stream was closed while a read waited.
	ErrReaderClosed = engine.ErrReaderClosed
)

// DefaultTick is how often task progress is polled when Options leaves it 0.
const DefaultTick = 500 * time.Millisecond

// Options configure a Service.
type Options struct {
	// DownloadDir is the default download dir of tasks.
	DownloadDir string
	// DownloadRoots are the directories a task's download_dir may be in
	// (DownloadDir is always one).
	DownloadRoots []string
	// StateDir is the daemon's data dir: downloads on its filesystem
	// leave StateReserve free. "" keeps no reserve.
	StateDir string
	// Version is the daemon's version, for server.info.
	Version string
	// Node is this daemon's cluster node id, set as every task's node
	// (api.Task.Node); empty outside a cluster.
	Node string
	// Fetcher fetches .torrent URLs for task.add type url; nil refuses
	// them.
	Fetcher *fetch.Fetcher
	// Tick is the progress polling interval.
	Tick time.Duration
	// Logger receives the service's logs.
	Logger *slog.Logger
	// StallAfterFiles is a test hook for the crash tests, 0 (off) in
	// production: when > 0, a move stops after that many files, and a
	// removal's deletion after that many, until the service closes (a
	// move then puts back what it moved, as any stopped move does), so
	// that a test can SIGKILL the daemon at a known point of either.
	StallAfterFiles int
	// Blocklists, if set, are the IP blocklists session.get reports and
	// session.set replaces (nil: the blocklists setting is refused).
	Blocklists Blocklists
	// Network, if set, is the network policy session.get reports and
	// session.set changes (nil: those settings are refused).
	Network Network
	// clock, when set, replaces time.Now for the task clocks (a
	// package test's clock).
	clock func() time.Time
}

// Service owns the tasks. Create it with New, run its loop with Run, and
// end it with Close.
type Service struct {
	store Store
	eng   Engine
	hub   Publisher
	log   *slog.Logger
	tick  time.Duration

	fetcher     *fetch.Fetcher
	downloadDir string   // resolved
	roots       []string // resolved, DownloadDir first
	stateDir    string
	version     string
	node        string // Options.Node
	started     time.Time
	// clock tells the time for the task clocks (clock.go): time.Now,
	// or a test's clock.
	clock func() time.Time

	stallAfterFiles int        // Options.StallAfterFiles
	blocklists      Blocklists // Options.Blocklists, may be nil
	network         Network    // Options.Network, may be nil

	ctx    context.Context // ends when the service closes
	cancel context.CancelFunc
	wg     sync.WaitGroup // Run, and the goroutines the service starts
	ops    sync.WaitGroup // operations in flight (enter)

	// poll's own: only its goroutine touches these.
	statsAt   time.Time // when session.stats was last published
	flushedAt time.Time // when byte totals were last stored
	probes    []probe   // the poll's buffer

	// settingsMu serialises session.set's read-modify-write, so that
	// concurrent calls cannot lose each other's updates. It is taken
	// before mu.
	settingsMu sync.Mutex
	// queueMu serialises QueueMove (order.go), each deciding on the
	// order the last left. It is taken before mu.
	queueMu sync.Mutex

	// catMu orders the writes of categories against the requests that
	// put tasks into them (categories.go). It is taken after a task's op
	// lock and before mu.
	catMu sync.RWMutex

	// mu guards the fields below it and every task's fields (but op).
	mu        sync.Mutex
	tasks     map[string]*task
	adding    map[string]chan struct{} // ids whose task.add is under way
	closed    bool
	settings  store.Settings
	counts    stateCounts        // tasks by state
	queuedN   int                // tasks the queue holds back (queue.go)
	totals    aggregates         // sums over the tasks (account)
	followed  map[*task]struct{} // tasks whose task.progress is followed
	queue     []*task            // every task, in queue order (order.go)
	queueNext int64              // the key of the next task at the bottom
	// categories are the categories by name (categories.go).
	categories map[string]store.Category
}

// New restores every stored task into the engine. Call Run to start
// tracking them, and Close when done.
func New(st Store, eng Engine, hub Publisher, opts Options) (*Service, error) {
	if opts.Tick <= 0 {
		opts.Tick = DefaultTick
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	roots, err := resolveRoots(append([]string{opts.DownloadDir}, opts.DownloadRoots...), opts.StateDir)
	if err != nil {
		return nil, err
	}
	opts.DownloadDir = roots[0]
	// Finish or undo what a crash interrupted before any task's files
	// are opened.
	unhealed, err := heal(st, roots, opts.Logger)
	if err != nil {
		return nil, err
	}
	recs, err := st.Tasks()
	if err != nil {
		return nil, err
	}
	settings, err := st.Settings()
	if err != nil {
		return nil, err
	}
	cats, err := st.Categories()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		store: st, eng: eng, hub: hub, log: opts.Logger, tick: opts.Tick,
		fetcher: opts.Fetcher, downloadDir: opts.DownloadDir, roots: roots, stateDir: opts.StateDir,
		version: opts.Version, node: opts.Node, started: time.Now(), stallAfterFiles: opts.StallAfterFiles,
		blocklists: opts.Blocklists,
		network:    opts.Network,
		ctx:        ctx, cancel: cancel,
		tasks: make(map[string]*task), adding: make(map[string]chan struct{}),
		settings: settings, counts: stateCounts{}, followed: map[*task]struct{}{},
		flushedAt: time.Now(), clock: opts.clock, categories: make(map[string]store.Category, len(cats)),
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	for _, c := range cats {
		s.categories[c.Name] = c
	}
	eng.SetRateLimits(settings.DownloadRateLimit, settings.UploadRateLimit)
	if err := s.pinDirs(recs); err != nil {
		cancel()
		return nil, err
	}
	restored := make([]*task, 0, len(recs))
	for _, rec := range recs {
		tk := newTask(rec)
		restored = append(restored, tk)
		if err, ok := unhealed[rec.ID]; ok {
			// Its files are neither all in the old dir nor all in the
			// new: the engine must not touch them. The next start tries
			// again.
			tk.halt = halt{kind: haltLoad, text: err.Error()}
			continue
		}
		if dirMissing(s.taskDir(tk)) {
			// Never made again nor pointed elsewhere (paths.go).
			s.log.Error("restore task: data dir missing", "task_id", rec.ID, "dir", s.taskDir(tk))
			tk.halt = halt{kind: haltDirMissing, text: errDirMissing + ": " + s.taskDir(tk)}
			continue
		}
		spec := engine.Spec{ID: rec.ID, Name: rec.Name, Size: rec.Size, MetaInfo: rec.MetaInfo, Magnet: rec.Magnet, DownloadDir: s.taskDir(tk)}
		l, err := s.prepare(spec, &tk.rec, s.taskDir(tk))
		if err != nil {
			s.log.Error("restore task", "task_id", rec.ID, "err", err)
			tk.halt = halt{kind: haltLoad, text: err.Error()}
			continue
		}
		s.install(tk, l)
	}
	s.reserveRestored(restored)
	s.queueNext = s.restoreOrder(restored)
	x := s.lock()
	s.queue = restored
	for _, tk := range restored {
		s.tasks[tk.rec.ID] = tk
		// Also when halted: a halt for space clears by itself, and must
		// not let a download start over unchecked files.
		s.startForeignCheckLocked(tk)
	}
	s.requeueLocked(x)
	for _, tk := range restored {
		x.apply(tk)
	}
	x.unlock()
	if opts.StallAfterFiles > 0 {
		s.log.Warn("test hook on: moves and deletions stall after some files", "files", opts.StallAfterFiles)
	}
	s.log.Info("tasks restored", "count", len(recs))
	return s, nil
}

// loaded is a task's engine torrent, prepared without Service.mu.
type loaded struct {
	t     engine.Torrent
	stats engine.Stats
	done  bool // every wanted file is verified (on record or not)
	halt  halt // haltNoSpace when its data does not fit
}

// prepare adds spec to the engine and, when rec has the metadata, checks
// whether its wanted files fit in dir. It does disk I/O: call it without
// Service.mu.
func (s *Service) prepare(spec engine.Spec, rec *store.Task, dir string) (loaded, error) {
	t, err := s.eng.Add(spec)
	if err != nil {
		return loaded{}, err
	}
	l := loaded{t: t, stats: t.Stats()}
	l.done = len(rec.MetaInfo) > 0 && wantedDone(l.stats, rec.FilePriorities, t.FileStats)
	if len(rec.MetaInfo) > 0 {
		if err := s.spaceErr(dir, rec.FilePriorities, t); err != nil {
			l.halt = halt{kind: haltNoSpace, text: err.Error(), at: time.Now()}
		}
	}
	return l, nil
}

// install makes l tk's engine torrent and, for a magnet, starts waiting
// for its metadata. Service.mu must be held, or tk not yet shared.
func (s *Service) install(tk *task, l loaded) {
	tk.attach(l.t)
	tk.stats = l.stats
	tk.done = l.done && !tk.rec.FinishedAt.IsZero()
	if l.halt.kind != haltNone {
		tk.halt = l.halt
	}
	if len(tk.rec.MetaInfo) == 0 {
		s.wg.Add(1)
		go s.awaitMetadata(tk, l.t)
	}
}

// Run tracks task progress and engine alerts, publishing events, until ctx
// ends or Close is called. Close waits for it to return.
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	ticker := time.NewTicker(s.tick)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.ctx.Done():
			return nil
		case a := <-s.eng.Alerts():
			s.onAlert(a)
		case now := <-ticker.C:
			s.poll(now)
		}
	}
}

// onAlert publishes an engine alert and, when it reports a write error,
// halts the task at once rather than at the next poll: every chunk that
// fails meanwhile is downloaded again, fails again, and is logged.
func (s *Service) onAlert(a engine.Alert) {
	x := s.lock()
	// Under the lock, like every task event, so an alert cannot overtake
	// its task's task.added.
	x.emit(api.EventEngineAlert, api.EngineAlertData{Message: a.Message, TaskID: a.TaskID, Level: a.Level})
	if tk, ok := s.tasks[a.TaskID]; ok && tk.t != nil {
		if werr := tk.t.WriteError(); werr != nil {
			s.onWriteErrorLocked(x, tk, werr, time.Now())
			s.requeueLocked(x)
			x.apply(tk)
		}
	}
	x.unlock()
}

// enter registers an operation, refusing it once the service is closing;
// call the returned function when it is done. Close waits for every
// operation entered.
func (s *Service) enter() (exit func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	s.ops.Add(1)
	return s.ops.Done, nil
}

// Close refuses new operations, ends Run and the service's goroutines
// (a move under way stops between files and puts back what it moved),
// waits for them and for the operations in flight, then stores byte
// totals. It does not close the engine, store or hub. Later calls do
// nothing.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	s.ops.Wait()
	return s.flushTotals()
}

// lookupLocked returns the task id. Service.mu must be held.
func (s *Service) lookupLocked(id string) (*task, error) {
	id = strings.ToLower(strings.TrimSpace(id))
	if id == "" {
		return nil, fmt.Errorf("%w: task_id is required", ErrInvalidParams)
	}
	if s.closed {
		return nil, ErrClosed
	}
	tk, ok := s.tasks[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrTaskNotFound, id)
	}
	return tk, nil
}

// Get returns the task id.
func (s *Service) Get(id string) (api.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tk, err := s.lookupLocked(id)
	if err != nil {
		return api.Task{}, err
	}
	return tk.view(s.taskDir(tk), s.clock(), s.node), nil
}

// Info returns what server.info reports.
func (s *Service) Info() (api.ServerInfo, error) {
	last, err := s.hub.LastID()
	if err != nil {
		return api.ServerInfo{}, err
	}
	return api.ServerInfo{
		Version:       s.version,
		APIVersion:    api.Version,
		EngineVersion: engine.Version,
		UptimeSeconds: int64(time.Since(s.started).Seconds()),
		LastEventID:   strconv.FormatUint(last, 10),
	}, nil
}
