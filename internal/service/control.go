package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/events"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// lookupLocked returns the task id. s.mu must be held.
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

// Pause stops a task's download and upload, durably. Pausing a paused task
// is not an error.
func (s *Service) Pause(_ context.Context, id string) error {
	return s.setPaused(id, true)
}

// Resume undoes Pause, durably, and clears a storage error so the task
// tries again. A finished task (seeding limit reached) seeds again.
func (s *Service) Resume(_ context.Context, id string) error {
	return s.setPaused(id, false)
}

func (s *Service) setPaused(id string, paused bool) error {
	s.mu.Lock()
	tk, err := s.lookupLocked(id)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	// Resuming a finished task seeds again (until the limit, which
	// session.set may have raised, is reached again).
	clearSeedingDone := !paused && tk.rec.SeedingDone
	if tk.rec.Paused != paused || clearSeedingDone {
		err := s.store.UpdateTask(tk.rec.ID, func(r *store.Task) {
			r.Paused = paused
			if clearSeedingDone {
				r.SeedingDone = false
			}
		})
		if err != nil {
			s.mu.Unlock()
			return err
		}
		tk.rec.Paused = paused
		if clearSeedingDone {
			tk.rec.SeedingDone = false
		}
	}
	if tk.t != nil {
		if paused {
			tk.t.Pause()
		} else {
			tk.t.ClearWriteError()
			tk.errText = ""
			tk.t.Resume()
			if tk.t.HasInfo() {
				s.startDownloadLocked(tk)
			}
			s.holdQueuedLocked(tk)
		}
	}
	if paused && tk.queued {
		tk.queued = false
	}
	s.requeueLocked()
	wait := s.postAll(s.stateChangeLocked(tk))
	s.mu.Unlock()
	wait()
	return nil
}

// Recheck verifies the task's data on disk again, in the background; the
// task is in state checking meanwhile.
func (s *Service) Recheck(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tk, err := s.lookupLocked(id)
	if err != nil {
		return err
	}
	if tk.t == nil {
		return fmt.Errorf("%w: task %s could not be loaded: %s", ErrTaskState, tk.rec.ID, tk.errText)
	}
	t := tk.t
	t.ClearWriteError()
	tk.errText = ""
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := t.Verify(s.ctx); err != nil && s.ctx.Err() == nil {
			s.log.Warn("recheck", "task_id", t.ID(), "err", err)
		}
	}()
	return nil
}

// Remove deletes the task durably, drops it from the engine and, when
// deleteData is set, deletes the task's own files (and the folders they
// leave empty) from the download dir — nothing else. It holds s.mu
// throughout, so the same torrent added again meanwhile cannot have its
// new data deleted or its engine torrent dropped.
func (s *Service) Remove(_ context.Context, id string, deleteData bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tk, err := s.lookupLocked(id)
	if err != nil {
		return err
	}
	if err := s.store.DeleteTask(tk.rec.ID); err != nil {
		return err
	}
	delete(s.tasks, tk.rec.ID)
	t := tk.t
	tk.t = nil // stops awaitMetadata from acting on it
	var files []string
	if t != nil {
		files = t.Files()
		t.Drop()
	}
	var delErr error
	if deleteData {
		delErr = deleteFiles(files, s.taskDir(tk))
	}
	s.log.Info("task removed", "task_id", tk.rec.ID, "delete_data", deleteData)
	s.requeueLocked()
	s.publish(api.EventTaskRemoved, api.TaskRemovedData{TaskID: tk.rec.ID, DataDeleted: deleteData && delErr == nil && len(files) > 0})
	if delErr != nil {
		return fmt.Errorf("task removed, but deleting its data failed: %w", delErr)
	}
	return nil
}

// deleteFiles removes the given paths (relative to root) and then the
// directories they leave empty, never leaving root.
func deleteFiles(rel []string, root string) error {
	var errs []error
	for _, r := range rel {
		p := filepath.Join(root, r)
		if !within(root, p) {
			errs = append(errs, fmt.Errorf("refusing to delete %s: outside %s", p, root))
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	removeEmptyParents(rel, root)
	return errors.Join(errs...)
}

// removeEmptyParents removes, deepest first, the directories below root
// that held the paths rel and are now empty. os.Remove refuses a non-empty
// directory, which is the point: anything else in them stays.
func removeEmptyParents(rel []string, root string) {
	dirs := map[string]bool{}
	for _, r := range rel {
		for d := filepath.Dir(filepath.Join(root, r)); within(root, d); d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	for len(dirs) > 0 {
		deepest := ""
		for d := range dirs {
			if len(d) > len(deepest) {
				deepest = d
			}
		}
		delete(dirs, deepest)
		os.Remove(deepest)
	}
}

// within reports whether p is strictly inside dir.
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != "." && !filepath.IsAbs(rel) && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
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

// stateChangeLocked recomputes tk's state and returns the task.state event
// to publish, if it changed. s.mu must be held.
func (s *Service) stateChangeLocked(tk *task) []pending {
	to := s.stateLocked(tk)
	if to == tk.state {
		return nil
	}
	d := api.TaskStateData{TaskID: tk.rec.ID, From: tk.state, To: to}
	tk.state = to
	out := []pending{{api.EventTaskState, d}}
	if to == api.StateError {
		d.Error = tk.errText
		out[0].data = d
		out = append(out, pending{api.EventTaskError, api.TaskErrorData{TaskID: tk.rec.ID, Error: tk.errText}})
	}
	return out
}

// pending is an event to publish.
type pending struct {
	name string
	data any
}

// postAll numbers ps's events in order (call it under s.mu, so they keep
// the order of the changes they report) and returns a function that waits
// until they are durable and sent, to be called after s.mu is released:
// events posted together share the event log's fsyncs.
func (s *Service) postAll(ps []pending) (wait func()) {
	posted := make([]*events.Pending, len(ps))
	for i, p := range ps {
		pe, err := s.hub.Post(p.name, p.data)
		if err != nil {
			s.logPublishError(p.name, err)
			continue
		}
		posted[i] = pe
	}
	return func() {
		for i, pe := range posted {
			if pe == nil {
				continue
			}
			if _, err := pe.Wait(); err != nil {
				s.logPublishError(ps[i].name, err)
			}
		}
	}
}

// publishAll publishes ps's events in order, sharing fsyncs, and waits.
func (s *Service) publishAll(ps []pending) { s.postAll(ps)() }

func (s *Service) logPublishError(name string, err error) {
	if !errors.Is(err, events.ErrClosed) {
		s.log.Error("publish event", "event", name, "err", err)
	}
}
