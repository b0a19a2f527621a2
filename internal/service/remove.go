package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// Remove deletes the task durably, drops it from the engine and, when
// deleteData is set, deletes the task's own files (and the folders they
// leave empty) from the download dir — nothing else: only the files
// reserved for it that it created or verified as its own (paths.go). The task shows busy
// "removing" meanwhile; the store write, the drop and the deletion run
// without Service.mu. The same torrent added meanwhile waits for the
// removal to end, so its new data is never deleted nor its engine torrent
// dropped. The deletion is journaled (journal.go): a crash in the middle
// of it is finished at the next start.
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
	s.mu.Lock()
	dir := s.taskDir(tk)
	s.mu.Unlock()
	var serr error
	switch {
	case deleteData && len(owned) > 0:
		// The files to delete are journaled with the record's deletion:
		// a crash from here on leaves the entry, and the next start
		// deletes them (heal).
		serr = s.store.DeleteTaskJournaled(tk.rec.ID, store.JournalEntry{Op: store.JournalRemove, TaskID: tk.rec.ID, Dir: dir, Files: owned, Started: time.Now()})
	case deleteData:
		serr = s.store.DeleteTask(tk.rec.ID)
	default:
		serr = s.store.DeleteTaskLeaving(tk.rec.ID) // added again, it finds its files its own
	}
	if err := serr; err != nil {
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
		if len(files) > 0 {
			delErr = s.deleteData(tk.rec.ID, files, dir)
		}
		delErr = errors.Join(ownErr, delErr)
	}
	s.log.Info("task removed", "task_id", tk.rec.ID, "delete_data", deleteData)

	x = s.lock()
	delete(s.tasks, tk.rec.ID)
	s.dequeueLocked(tk)
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

// deleteData deletes a removed task's files (deleteFiles) and then clears
// the journal entry DeleteTaskJournaled wrote. The entry is cleared even
// when some deletions failed (the caller hears of them): the next start
// must not delete, in that dir, files a task added again meanwhile owns.
func (s *Service) deleteData(id string, files []string, dir string) error {
	var err error
	if n := s.stallAfterFiles; n > 0 && n < len(files) {
		// The test hook (Options.StallAfterFiles).
		err = deleteFiles(files[:n], dir)
		s.stall(store.JournalRemove, n)
		files = files[n:]
	}
	err = errors.Join(err, deleteFiles(files, dir))
	if cerr := s.store.ClearJournal(store.JournalRemove, id); cerr != nil {
		s.log.Warn("clear the journal of a removal", "task_id", id, "err", cerr)
	}
	return err
}

// deleteFiles removes the given paths (relative to root) and then the
// directories they leave empty, never leaving root: the paths are opened
// in an os.Root, so neither "..", nor a symlink swapped in for one of the
// task's folders, leads a deletion out of it. A missing file, or a
// missing root, is not an error.
func deleteFiles(rel []string, root string) error {
	r, err := os.OpenRoot(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete files: %w", err)
	}
	defer r.Close()
	var errs []error
	for _, p := range rel {
		if err := r.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("delete %s: %w", filepath.Join(root, p), err))
		}
	}
	removeEmptyParentsIn(r, rel)
	return errors.Join(errs...)
}

// removeEmptyParents removes, deepest first, the directories below root
// that held the paths rel and are now empty. Removing a directory fails
// unless it is empty, which is the point: anything else in them stays.
func removeEmptyParents(rel []string, root string) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return
	}
	defer r.Close()
	removeEmptyParentsIn(r, rel)
}

// removeEmptyParentsIn is removeEmptyParents inside an open root.
func removeEmptyParentsIn(r *os.Root, rel []string) {
	dirs := map[string]bool{}
	for _, p := range rel {
		for d := filepath.Dir(filepath.Clean(p)); d != "." && filepath.IsLocal(d); d = filepath.Dir(d) {
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
		r.Remove(deepest)
	}
}

// within reports whether p is strictly inside dir.
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != "." && !filepath.IsAbs(rel) && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
