// Package service is the domain of the daemon: the set of tasks, their
// states and the operations on them. It is the one source of truth about a
// task. Each operation persists first (store), then acts on the engine, then
// publishes events (hub), so an answer that says "done" is on disk.
package service

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/events"
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
	// Fetcher fetches .torrent URLs for task.add type url; nil refuses
	// them.
	Fetcher *fetch.Fetcher
	// Tick is the progress polling interval.
	Tick time.Duration
	// Logger receives the service's logs.
	Logger *slog.Logger
}

// Service owns the tasks. Create it with New, start it with Run.
type Service struct {
	store *store.Store
	eng   engine.Engine
	hub   *events.Hub
	log   *slog.Logger
	tick  time.Duration

	fetcher     *fetch.Fetcher
	downloadDir string   // resolved
	roots       []string // resolved, DownloadDir first
	stateDir    string
	version     string
	started     time.Time

	ctx    context.Context // ends when the service closes
	cancel context.CancelFunc
	wg     sync.WaitGroup

	statsAt time.Time // when session.stats was last published; poll's goroutine only

	// mu guards the fields below it.
	mu        sync.Mutex
	tasks     map[string]*task
	closed    bool
	settings  api.Settings
	flushedAt time.Time // when byte totals were last stored
}

// task is the live state of one task. Its fields are guarded by Service.mu.
type task struct {
	rec     store.Task
	t       engine.Torrent // nil when it could not be added to the engine
	state   api.TaskState
	errText string
	stats   engine.Stats
	down    rateMeter
	up      rateMeter

	addedAt    string    // rec.AddedAt for the wire (RFC 3339), formatted once
	progressAt time.Time // when task.progress was last sent
	followed   bool      // task.progress snapshots are being sent (see poll)
	statsAt    time.Time // when stats were last read from the engine
	kickedAt   time.Time // when the engine was last prompted to dial
	done       bool      // every wanted file is verified
	queued     bool      // waiting for a download slot

	// halted: the download is stopped because of errText (a storage
	// write error, or no room for the data); it restarts once errText is
	// cleared. spaceWait: errText is a lack of space, checked again every
	// spaceRetryInterval (last at spaceCheckAt) and cleared when the data
	// fits. See diskspace.go.
	halted       bool
	spaceWait    bool
	spaceCheckAt time.Time

	// Session byte counters already folded into rec.Uploaded and
	// rec.Downloaded.
	flushedUp, flushedDown int64
}

// New restores every stored task into the engine. Call Run to start
// tracking them, and Close when done.
func New(st *store.Store, eng engine.Engine, hub *events.Hub, opts Options) (*Service, error) {
	if opts.Tick <= 0 {
		opts.Tick = DefaultTick
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	roots, err := resolveRoots(append([]string{opts.DownloadDir}, opts.DownloadRoots...))
	if err != nil {
		return nil, err
	}
	opts.DownloadDir = roots[0]
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		store: st, eng: eng, hub: hub, log: opts.Logger, tick: opts.Tick,
		fetcher: opts.Fetcher, downloadDir: opts.DownloadDir, roots: roots, stateDir: opts.StateDir, version: opts.Version, started: time.Now(),
		ctx: ctx, cancel: cancel,
		tasks: make(map[string]*task),
	}
	recs, err := st.Tasks()
	if err != nil {
		cancel()
		return nil, err
	}
	if s.settings, err = loadSettings(st); err != nil {
		cancel()
		return nil, err
	}
	eng.SetRateLimits(s.settings.DownloadRateLimit, s.settings.UploadRateLimit)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rec := range recs {
		tk := &task{rec: rec, addedAt: rec.AddedAt.Format(time.RFC3339Nano)}
		s.tasks[rec.ID] = tk
		spec := engine.Spec{ID: rec.ID, Name: rec.Name, Size: rec.Size, MetaInfo: rec.MetaInfo, Magnet: rec.Magnet, DownloadDir: s.taskDir(tk)}
		if err := s.startLocked(tk, spec); err != nil {
			s.log.Error("restore task", "task_id", rec.ID, "err", err)
			tk.errText = err.Error()
		}
	}
	s.requeueLocked()
	for _, tk := range s.tasks {
		tk.state = s.stateLocked(tk)
	}
	s.flushedAt = time.Now()
	s.log.Info("tasks restored", "count", len(recs))
	return s, nil
}

// Run tracks task progress and engine alerts, publishing events, until ctx
// ends or Close is called.
func (s *Service) Run(ctx context.Context) error {
	ticker := time.NewTicker(s.tick)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.ctx.Done():
			return nil
		case a := <-s.eng.Alerts():
			// Under s.mu, like every task event, so an alert cannot
			// overtake its task's task.added.
			s.mu.Lock()
			s.publish(api.EventEngineAlert, api.EngineAlertData{Message: a.Message, TaskID: a.TaskID, Level: a.Level})
			s.stopOnWriteErrorLocked(a.TaskID)
			s.mu.Unlock()
		case now := <-ticker.C:
			s.poll(now)
		}
	}
}

// Close stops background work and stores byte totals. It does not close
// the engine, store or hub.
func (s *Service) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.flushTotalsLocked()
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// Add adds a task from a magnet URI or base64 .torrent data and returns it
// once it is durably stored. Adding a task that exists returns it; the
// trackers and peers of a magnet added again are used for the running
// session but not stored.
func (s *Service) Add(ctx context.Context, p api.TaskAddParams) (api.TaskAddResult, error) {
	if p.Type == api.TaskTypeURL {
		// Fetched before taking the lock: it may take a while.
		if _, err := fetch.CheckURL(strings.TrimSpace(p.Data)); err != nil {
			return api.TaskAddResult{}, fmt.Errorf("%w: %w", ErrInvalidParams, err)
		}
		if s.fetcher == nil {
			return api.TaskAddResult{}, fmt.Errorf("%w: URL tasks are disabled", ErrInvalidParams)
		}
		body, err := s.fetcher.Get(ctx, strings.TrimSpace(p.Data))
		if err != nil {
			return api.TaskAddResult{}, err
		}
		p.Type, p.Data = api.TaskTypeTorrent, base64.StdEncoding.EncodeToString(body)
	}
	spec, err := parseAdd(p)
	if err != nil {
		return api.TaskAddResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return api.TaskAddResult{}, ErrClosed
	}
	if tk, ok := s.tasks[spec.ID]; ok {
		// A magnet added again may name new trackers or peers: use them
		// for this session.
		if tk.t != nil {
			if err := tk.t.Merge(spec); err != nil {
				return api.TaskAddResult{}, err
			}
		}
		return api.TaskAddResult{TaskID: tk.rec.ID, Name: tk.rec.Name, Size: tk.rec.Size}, nil
	}
	labels, err := cleanLabels(p.Labels)
	if err != nil {
		return api.TaskAddResult{}, err
	}
	dir, err := s.resolveDownloadDir(p.DownloadDir, s.defaultDirLocked())
	if err != nil {
		return api.TaskAddResult{}, err
	}
	spec.DownloadDir = dir
	rec := store.Task{
		ID: spec.ID, Magnet: spec.Magnet, MetaInfo: spec.MetaInfo,
		Name: spec.Name, Size: spec.Size, AddedAt: time.Now().UTC(),
		Paused: p.Paused, Labels: labels, DownloadDir: s.relDir(dir), Sequential: p.Sequential,
	}
	if len(p.Files) > 0 {
		if spec.NumFiles == 0 {
			rec.WantFiles = p.Files // checked when the metadata arrives
		} else if rec.FilePriorities, err = selectionPriorities(p.Files, spec.NumFiles); err != nil {
			return api.TaskAddResult{}, err
		}
	}
	if err := s.store.PutTask(rec); err != nil {
		return api.TaskAddResult{}, err
	}
	tk := &task{rec: rec, addedAt: rec.AddedAt.Format(time.RFC3339Nano)}
	if err := s.startLocked(tk, spec); err != nil {
		// Not acknowledged: undo the record so the store matches the answer.
		return api.TaskAddResult{}, errors.Join(err, s.store.DeleteTask(spec.ID))
	}
	if tk.spaceWait {
		// Its data does not fit (startLocked did not start it): refuse,
		// leaving nothing behind.
		reason := tk.errText
		tk.t.Drop()
		s.log.Info("task refused: not enough free space", "task_id", spec.ID, "reason", reason)
		return api.TaskAddResult{}, errors.Join(fmt.Errorf("%w%s", ErrNoSpace, strings.TrimPrefix(reason, ErrNoSpace.Error())), s.store.DeleteTask(spec.ID))
	}
	s.tasks[spec.ID] = tk
	if s.settings.MaxActiveDownloads > 0 || s.settings.MaxActiveSeeds > 0 {
		// Without limits no task is queued (session.set requeues when
		// limits change), so the new task needs no requeue; skipping the
		// sort of every task keeps adding 10,000 tasks linear.
		s.requeueLocked()
	}
	tk.state = s.stateLocked(tk)
	s.log.Info("task added", "task_id", spec.ID, "name", spec.Name)
	// Published under s.mu so that task.added precedes any event of the
	// task's progress.
	s.publish(api.EventTaskAdded, api.TaskAddedData{TaskID: rec.ID, Name: rec.Name, Size: rec.Size})
	return api.TaskAddResult{TaskID: rec.ID, Name: rec.Name, Size: rec.Size}, nil
}

func parseAdd(p api.TaskAddParams) (engine.Spec, error) {
	switch p.Type {
	case api.TaskTypeMagnet:
		return engine.ParseMagnet(strings.TrimSpace(p.Data))
	case api.TaskTypeTorrent:
		if p.Data == "" {
			return engine.Spec{}, fmt.Errorf("%w: data is empty", ErrBadTorrent)
		}
		if base64.StdEncoding.DecodedLen(len(p.Data)) > engine.MaxTorrentSize+3 {
			return engine.Spec{}, fmt.Errorf("%w: larger than %d bytes", ErrBadTorrent, engine.MaxTorrentSize)
		}
		raw, err := base64.StdEncoding.DecodeString(p.Data)
		if err != nil {
			return engine.Spec{}, fmt.Errorf("%w: data is not base64: %w", ErrBadTorrent, err)
		}
		return engine.ParseTorrent(raw)
	case "":
		return engine.Spec{}, fmt.Errorf("%w: type is required", ErrInvalidParams)
	default:
		return engine.Spec{}, fmt.Errorf("%w: type %q is not %q, %q or %q", ErrInvalidParams, p.Type, api.TaskTypeMagnet, api.TaskTypeTorrent, api.TaskTypeURL)
	}
}

// startLocked adds tk to the engine and starts it, now if its metadata is
// known, else once it arrives. s.mu must be held.
func (s *Service) startLocked(tk *task, spec engine.Spec) error {
	t, err := s.eng.Add(spec)
	if err != nil {
		return err
	}
	tk.t = t
	t.SetRateLimits(tk.rec.DownloadLimit, tk.rec.UploadLimit)
	tk.stats = t.Stats()
	tk.done = tk.wantedDone()
	if tk.rec.Paused {
		t.Pause()
	}
	if tk.rec.SeedingDone {
		t.StopUpload()
	}
	if tk.rec.Trackers != nil {
		t.SetTrackers(tk.rec.Trackers)
	}
	if len(tk.rec.MetaInfo) > 0 {
		if err := s.spaceErrLocked(tk); err != nil {
			s.haltLocked(tk, err.Error(), true, time.Now())
		} else if !tk.rec.Paused {
			s.startDownloadLocked(tk)
		}
		return nil
	}
	s.wg.Add(1)
	go s.awaitMetadata(tk, t)
	return nil
}

// awaitMetadata waits for a magnet's metadata, stores it so a restart needs
// no peer for it, announces it, and starts the download.
func (s *Service) awaitMetadata(tk *task, t engine.Torrent) {
	defer s.wg.Done()
	select {
	case <-t.GotInfo():
	case <-t.Closed():
		return
	case <-s.ctx.Done():
		return
	}
	mi, err := t.MetaInfo()
	if err != nil {
		s.log.Error("encode metadata", "task_id", t.ID(), "err", err)
		return
	}
	st := t.Stats()
	s.mu.Lock()
	if s.closed || tk.t != t {
		s.mu.Unlock()
		return
	}
	prios, perr := selectionPriorities(tk.rec.WantFiles, len(t.FileStats()))
	if perr != nil {
		s.publish(api.EventEngineAlert, api.EngineAlertData{TaskID: t.ID(), Level: api.LevelWarning,
			Message: "file selection ignored: " + perr.Error()})
	}
	err = s.store.UpdateTask(t.ID(), func(r *store.Task) {
		r.MetaInfo, r.Name, r.Size = mi, st.Name, st.Size
		r.FilePriorities, r.WantFiles = prios, nil
	})
	if err != nil {
		// The download goes on; after a restart the metadata is fetched
		// from peers again.
		s.log.Error("store metadata", "task_id", t.ID(), "err", err)
		s.publish(api.EventEngineAlert, api.EngineAlertData{TaskID: t.ID(), Level: api.LevelError,
			Message: "could not save the metadata; it will be fetched again after a restart: " + err.Error()})
	}
	tk.rec.MetaInfo, tk.rec.Name, tk.rec.Size = mi, st.Name, st.Size
	tk.rec.FilePriorities, tk.rec.WantFiles = prios, nil
	spaceErr := s.spaceErrLocked(tk)
	if spaceErr != nil {
		s.haltLocked(tk, spaceErr.Error(), true, time.Now())
	} else if !tk.rec.Paused {
		s.startDownloadLocked(tk)
	}
	s.publish(api.EventTaskMetadata, api.TaskMetadataData{TaskID: t.ID(), Name: st.Name, Size: st.Size})
	if spaceErr != nil {
		s.log.Warn("metadata arrived, but the data does not fit", "task_id", t.ID(), "err", spaceErr)
		s.publish(api.EventEngineAlert, api.EngineAlertData{TaskID: t.ID(), Level: api.LevelError,
			Message: "task not started: " + spaceErr.Error() + "; it starts by itself once the data fits"})
		tk.stats = st
		s.publishAll(s.stateChangeLocked(tk))
	}
	s.mu.Unlock()
}

// Get returns the task id.
func (s *Service) Get(id string) (api.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tk, err := s.lookupLocked(id)
	if err != nil {
		return api.Task{}, err
	}
	return s.view(tk), nil
}

// publish sends an event, logging a failure: an event that cannot be
// numbered durably is not sent rather than sent with a reused ID. Callers
// hold s.mu, so that events leave in the order of the changes they report.
func (s *Service) publish(name string, data any) {
	if _, err := s.hub.Publish(name, data); err != nil {
		s.logPublishError(name, err)
	}
}
