package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/lodestone-bt/lodestone/api"
)

// Remove deletes the task durably, drops it from the engine and, when
// deleteData is set, deletes the task's own files (and the folders they
// leave empty) from the download dir — nothing else: only the files
// reserved for it that it created or verified as its own (paths.go). The task shows busy
// "removing" meanwhile; the store write, the drop and the deletion run
// without Service.mu. The same torrent added meanwhile waits for the
// removal to end, so its new data is never deleted nor its engine torrent
// dropped.
func (s *Service) Remove(_ context.Context, id string, deleteData bool) error {
	leave, err := s.enter()
	if err != nil {
		return err
	}
	defer leave()
	s.mu.Lock()
	tk, err := s.lookupLocked(id)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	// A move under way ends first (it holds the op lock).
	tk.op.Lock()
	defer tk.op.Unlock()
	x := s.lock()
	if s.tasks[tk.rec.ID] != tk {
		x.unlock()
		return fmt.Errorf("%w: %s", ErrTaskNotFound, tk.rec.ID)
	}
	t := tk.t
	tk.t = nil // stops awaitMetadata, the poll and the recheck from acting on it
	tk.busy, tk.gone = api.BusyRemoving, make(chan struct{})
	s.requeueLocked(x)
	x.apply(tk)
	x.unlock()

	// Only the files it owns may be deleted (paths.go): read them before
	// the record, and its reservation, go.
	owned, ownErr := s.ownedRel(tk)
	del := s.store.DeleteTask
	if !deleteData {
		del = s.store.DeleteTaskLeaving // added again, it finds its files its own
	}
	if err := del(tk.rec.ID); err != nil {
		x := s.lock()
		tk.busy = ""
		tk.attach(t)
		close(tk.gone)
		s.requeueLocked(x)
		x.apply(tk)
		x.unlock()
		return err
	}
	if t != nil {
		t.Drop()
	}
	files := owned
	var delErr error
	if deleteData {
		delErr = errors.Join(ownErr, deleteFiles(files, s.taskDir(tk)))
	}
	s.log.Info("task removed", "task_id", tk.rec.ID, "delete_data", deleteData)

	x = s.lock()
	delete(s.tasks, tk.rec.ID)
	delete(s.followed, tk)
	s.totals.add(tk.counted, -1)
	s.counts.move(tk.state, "")
	if tk.queued {
		s.queuedN--
	}
	close(tk.gone)
	s.requeueLocked(x)
	x.emit(api.EventTaskRemoved, api.TaskRemovedData{TaskID: tk.rec.ID, DataDeleted: deleteData && delErr == nil && len(files) > 0})
	x.unlock()
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
