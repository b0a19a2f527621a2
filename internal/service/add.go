package service

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/fetch"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// Add adds a task from a magnet URI, base64 .torrent data or a .torrent
// URL and returns it once it is durably stored. Adding a task that exists
// returns it; the trackers and peers of a magnet added again are used for
// the running session but not stored. The slow parts (fetching, creating
// the download dir, the store write, the free-space check) run without
// Service.mu; an add of the same torrent meanwhile waits for this one.
func (s *Service) Add(ctx context.Context, p api.TaskAddParams) (api.TaskAddResult, error) {
	exit, err := s.enter()
	if err != nil {
		return api.TaskAddResult{}, err
	}
	defer exit()
	if p.Node != "" && s.node == "" {
		return api.TaskAddResult{}, &api.Error{Code: api.CodeNotClustered, Message: "node names a cluster node, and this daemon is not in a cluster"}
	}
	if p.Type == api.TaskTypeURL {
		if p, err = s.fetchTorrent(ctx, p); err != nil {
			return api.TaskAddResult{}, err
		}
	}
	spec, err := parseAdd(p)
	if err != nil {
		return api.TaskAddResult{}, err
	}
	labels, err := cleanLabels(p.Labels)
	if err != nil {
		return api.TaskAddResult{}, err
	}
	if err := checkSeedLimits(p.SeedRatioLimit, p.SeedTimeLimit, p.SeedIdleLimit); err != nil {
		return api.TaskAddResult{}, err
	}
	base, existing, release, err := s.claim(ctx, spec)
	if err != nil || existing != nil {
		return resultOf(existing), err
	}
	defer release()

	// Held to the end, so that the category cannot be removed before the
	// task is in it (categories.go).
	s.catMu.RLock()
	defer s.catMu.RUnlock()
	var cat store.Category
	fromCategory := false
	if strings.TrimSpace(p.Category) != "" {
		s.mu.Lock()
		if cat, err = s.categoryLocked(p.Category); err == nil && p.DownloadDir == "" {
			// Without a download_dir, the data goes to the category's.
			p.DownloadDir, fromCategory = s.categoryDirLocked(cat), true
		}
		s.mu.Unlock()
		if err != nil {
			return api.TaskAddResult{}, err
		}
	}
	dir, err := s.resolveDownloadDir(p.DownloadDir, base)
	if err != nil && fromCategory {
		// Checked when the category was set: the roots changed since.
		err = fmt.Errorf("category %q: %w", cat.Name, err)
	}
	if err != nil {
		return api.TaskAddResult{}, err
	}
	spec.DownloadDir = dir
	s.mu.Lock()
	key := s.orderKeyLocked()
	s.mu.Unlock()
	rec := store.Task{
		ID: spec.ID, Magnet: spec.Magnet, MetaInfo: spec.MetaInfo,
		Name: spec.Name, Size: spec.Size, AddedAt: time.Now().UTC(),
		Paused: p.Paused || p.MetadataOnly, Labels: labels, DownloadDir: dir, Sequential: p.Sequential,
		Category: cat.Name, QueueOrder: key,
	}
	if p.SeedRatioLimit != nil {
		rec.SeedRatioLimit = ownLimit(*p.SeedRatioLimit)
	}
	if p.SeedTimeLimit != nil {
		rec.SeedTimeLimit = ownLimit(*p.SeedTimeLimit)
	}
	if p.SeedIdleLimit != nil {
		rec.SeedIdleLimit = ownLimit(*p.SeedIdleLimit)
	}
	if len(p.Files) > 0 {
		if spec.NumFiles == 0 {
			rec.WantFiles = p.Files // checked when the metadata arrives
		} else if rec.FilePriorities, err = selectionPriorities(p.Files, spec.NumFiles); err != nil {
			return api.TaskAddResult{}, err
		}
	}
	if spec.Paths != nil {
		// Its files are known: reserve them with the record (paths.go),
		// noting those already on disk.
		if rec.Foreign, err = s.foreignFiles(rec.ID, dir, spec.Paths); err == nil {
			err = s.store.PutTaskPaths(rec, absPaths(dir, spec.Paths))
		}
	} else {
		err = s.store.PutTask(rec)
	}
	if err != nil {
		return api.TaskAddResult{}, pathConflict(err)
	}
	tk := newTask(rec)
	l, err := s.prepare(spec, &tk.rec, dir)
	if err != nil {
		// Not acknowledged: undo the record so the store matches the answer.
		return api.TaskAddResult{}, errors.Join(err, s.store.DeleteTask(spec.ID))
	}
	if l.halt.kind == haltNoSpace {
		// Its data does not fit: refuse, leaving nothing behind.
		l.t.Drop()
		s.log.Info("task refused: not enough free space", "task_id", spec.ID, "reason", l.halt.text)
		return api.TaskAddResult{}, errors.Join(fmt.Errorf("%w%s", ErrNoSpace, strings.TrimPrefix(l.halt.text, ErrNoSpace.Error())), s.store.DeleteTask(spec.ID))
	}
	x := s.lock()
	s.install(tk, l)
	s.tasks[spec.ID] = tk
	pos := s.enqueueLocked(tk)
	s.startForeignCheckLocked(tk)
	if s.settings.MaxActiveDownloads > 0 || s.settings.MaxActiveSeeds > 0 {
		// Without limits no task is queued, so the new task needs no
		// requeue; skipping it keeps adding 10,000 tasks linear.
		s.requeueLocked(x)
	}
	x.apply(tk)
	// Before any event of the task's progress.
	x.emit(api.EventTaskAdded, api.TaskAddedData{TaskID: rec.ID, Name: rec.Name, Size: rec.Size})
	if bottom := len(s.queue) - 1; pos != bottom {
		// An add that began later finished first: a listener that put
		// this task at the bottom learns its place.
		x.emit(api.EventTaskQueue, api.TaskQueueData{TaskID: rec.ID, From: bottom, To: pos})
	}
	x.unlock()
	s.log.Info("task added", "task_id", spec.ID, "name", spec.Name)
	return api.TaskAddResult{TaskID: rec.ID, Name: rec.Name, Size: rec.Size}, nil
}

// claim reserves spec's task id for an add, returning the default
// download dir and a release function to call when the add is over. When
// the task exists, it returns it instead (with spec's trackers and peers
// merged into it). An add or a removal of the same id under way is waited
// for.
func (s *Service) claim(ctx context.Context, spec engine.Spec) (base string, existing *api.TaskAddResult, release func(), err error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return "", nil, nil, ErrClosed
		}
		var wait <-chan struct{}
		if tk, ok := s.tasks[spec.ID]; ok {
			if tk.busy != api.BusyRemoving {
				res := api.TaskAddResult{TaskID: tk.rec.ID, Name: tk.rec.Name, Size: tk.rec.Size}
				t := tk.t
				s.mu.Unlock()
				// A magnet added again may name new trackers or peers:
				// use them for this session.
				if t != nil {
					if err := t.Merge(spec); err != nil {
						return "", nil, nil, err
					}
				}
				return "", &res, nil, nil
			}
			wait = tk.gone
		} else if ch, ok := s.adding[spec.ID]; ok {
			wait = ch
		}
		if wait == nil {
			ch := make(chan struct{})
			s.adding[spec.ID] = ch
			base = s.defaultDirLocked()
			s.mu.Unlock()
			return base, nil, func() {
				s.mu.Lock()
				delete(s.adding, spec.ID)
				s.mu.Unlock()
				close(ch)
			}, nil
		}
		s.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return "", nil, nil, ctx.Err()
		case <-s.ctx.Done():
			return "", nil, nil, ErrClosed
		}
	}
}

func resultOf(r *api.TaskAddResult) api.TaskAddResult {
	if r == nil {
		return api.TaskAddResult{}
	}
	return *r
}

// fetchTorrent turns a task.add of type url into one of type torrent.
func (s *Service) fetchTorrent(ctx context.Context, p api.TaskAddParams) (api.TaskAddParams, error) {
	u := strings.TrimSpace(p.Data)
	if _, err := fetch.CheckURL(u); err != nil {
		return p, fmt.Errorf("%w: %w", ErrInvalidParams, err)
	}
	if s.fetcher == nil {
		return p, fmt.Errorf("%w: URL tasks are disabled", ErrInvalidParams)
	}
	body, err := s.fetcher.Get(ctx, u)
	if err != nil {
		return p, err
	}
	p.Type, p.Data = api.TaskTypeTorrent, base64.StdEncoding.EncodeToString(body)
	return p, nil
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

// awaitMetadata waits for a magnet's metadata, stores it so a restart needs
// no peer for it, checks that the data fits, announces it, and lets the
// task download.
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
	tk.op.Lock()
	defer tk.op.Unlock()
	s.mu.Lock()
	if s.closed || tk.t != t {
		s.mu.Unlock()
		return
	}
	want, dir := tk.rec.WantFiles, s.taskDir(tk)
	s.mu.Unlock()

	prios, perr := selectionPriorities(want, len(t.FileStats()))
	// The files are known now: reserve them with the metadata (paths.go),
	// noting those already on disk.
	files := t.Files()
	foreign, ferr := s.foreignFiles(t.ID(), dir, files)
	if ferr != nil {
		// Unknown: every file found counts as foreign.
		foreign, _ = s.foreignFiles("", dir, files)
	}
	serr := s.store.UpdateTaskPaths(t.ID(), absPaths(dir, files), func(r *store.Task) {
		r.MetaInfo, r.Name, r.Size = mi, st.Name, st.Size
		r.FilePriorities, r.WantFiles = prios, nil
		r.Foreign = foreign
	})
	if errors.Is(serr, store.ErrPathConflict) {
		// Nothing of it is written: it stops, naming the other task.
		x := s.lock()
		defer x.unlock()
		if tk.t != t {
			return
		}
		tk.halt = halt{kind: haltPaths, text: conflictText(serr)}
		s.log.Warn("metadata arrived, but the files collide with another task's", "task_id", t.ID(), "err", serr)
		s.requeueLocked(x)
		x.apply(tk)
		return
	}
	spaceErr := s.spaceErr(dir, prios, t)

	x := s.lock()
	defer x.unlock()
	if tk.t != t {
		return
	}
	if perr != nil {
		x.emit(api.EventEngineAlert, api.EngineAlertData{TaskID: t.ID(), Level: api.LevelWarning,
			Message: "file selection ignored: " + perr.Error()})
	}
	if serr != nil {
		// The download goes on; after a restart the metadata is fetched
		// from peers again.
		s.log.Error("store metadata", "task_id", t.ID(), "err", serr)
		x.emit(api.EventEngineAlert, api.EngineAlertData{TaskID: t.ID(), Level: api.LevelError,
			Message: "could not save the metadata; it will be fetched again after a restart: " + serr.Error()})
	}
	tk.rec.MetaInfo, tk.rec.Name, tk.rec.Size = mi, st.Name, st.Size
	tk.rec.FilePriorities, tk.rec.WantFiles = prios, nil
	tk.rec.Foreign = foreign // checked even when not on record
	if tk.halt.kind == haltPaths {
		tk.halt = halt{} // reserved now (after a task.move elsewhere)
	}
	tk.prioGen++
	tk.stats = st
	if spaceErr != nil {
		tk.halt = halt{kind: haltNoSpace, text: spaceErr.Error(), at: time.Now()}
	}
	x.emit(api.EventTaskMetadata, api.TaskMetadataData{TaskID: t.ID(), Name: st.Name, Size: st.Size})
	if spaceErr != nil {
		s.log.Warn("metadata arrived, but the data does not fit", "task_id", t.ID(), "err", spaceErr)
		x.emit(api.EventEngineAlert, api.EngineAlertData{TaskID: t.ID(), Level: api.LevelError,
			Message: "task not started: " + spaceErr.Error() + "; it starts by itself once the data fits"})
	}
	s.startForeignCheckLocked(tk)
	s.requeueLocked(x)
	x.apply(tk)
}

// Identify checks a task.add's params as Add would and returns them with a
// URL fetched (type torrent, the .torrent in Data), what Add would answer
// for a new task (id, name, size), and the .torrent when the params carry
// one. Nothing is added: a cluster node calls it to place the task before
// any node adds it.
func (s *Service) Identify(ctx context.Context, p api.TaskAddParams) (_ api.TaskAddParams, _ api.TaskAddResult, torrent []byte, err error) {
	if p.Type == api.TaskTypeURL {
		if p, err = s.fetchTorrent(ctx, p); err != nil {
			return p, api.TaskAddResult{}, nil, err
		}
	}
	spec, err := parseAdd(p)
	if err != nil {
		return p, api.TaskAddResult{}, nil, err
	}
	if _, err := cleanLabels(p.Labels); err != nil {
		return p, api.TaskAddResult{}, nil, err
	}
	if err := checkSeedLimits(p.SeedRatioLimit, p.SeedTimeLimit, p.SeedIdleLimit); err != nil {
		return p, api.TaskAddResult{}, nil, err
	}
	return p, api.TaskAddResult{TaskID: spec.ID, Name: spec.Name, Size: spec.Size}, spec.MetaInfo, nil
}
