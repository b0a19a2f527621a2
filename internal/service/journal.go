package service

// Healing at start-up.
//
// A move and the deletion of a removed task's data touch many files, one
// at a time; a SIGKILL or a power cut can stop either half-way. Each is
// journaled in the store (store/journal.go) before its first file is
// touched. New calls heal before any task is loaded into the engine, and
// heal settles every entry a crash left:
//
//   - A move is finished when its destination is still inside the
//     download roots: the files still in the old dir are moved (those
//     found in both dirs were renamed into place, whole, before the
//     source could be removed: the source goes), and the record's new dir
//     and the entry's end are written in one transaction. Otherwise, or
//     when finishing fails (a full disk), it is undone the same way in
//     the other direction. Temporary parts of an interrupted copy are
//     deleted either way. The files are the same bytes in the end, so the
//     engine's record of verified pieces stays true: the task comes back
//     as complete as it was, with nothing downloaded again. A task whose
//     move can be neither finished nor undone is not loaded (state error,
//     saying why), and the next start tries again.
//   - A removal's deletion is finished; a file already gone is fine.
//     Should the task have been added again meanwhile, its files are left
//     alone.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/lodestone-bt/lodestone/internal/store"
)

// heal settles the journal's entries, moves first. It returns the tasks
// whose move it could neither finish nor undo, with why; an error only
// when the store fails.
func heal(st Store, roots []string, log *slog.Logger) (map[string]error, error) {
	entries, err := st.Journal()
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	recs, err := st.Tasks()
	if err != nil {
		return nil, err
	}
	stored := make(map[string]bool, len(recs))
	for _, r := range recs {
		stored[r.ID] = true
	}
	unhealed := map[string]error{}
	for _, e := range entries {
		if e.Op != store.JournalMove {
			continue
		}
		if herr, err := healMove(st, e, stored[e.TaskID], roots, log); err != nil {
			return nil, err
		} else if herr != nil {
			log.Error("an interrupted move can be neither finished nor undone; the task stays unloaded until the next start", "task_id", e.TaskID, "err", herr)
			unhealed[e.TaskID] = herr
		}
	}
	for _, e := range entries {
		switch e.Op {
		case store.JournalMove:
		case store.JournalRemove:
			if err := healRemove(st, e, stored[e.TaskID], log); err != nil {
				return nil, err
			}
		default:
			log.Warn("journal entry of an unknown operation left alone", "op", e.Op, "task_id", e.TaskID)
		}
	}
	return unhealed, nil
}

// healMove finishes or undoes the interrupted move e. It returns herr when
// it could do neither (the entry stays), and err when the store fails.
func healMove(st Store, e store.JournalEntry, stored bool, roots []string, log *slog.Logger) (herr, err error) {
	removeParts(e.Files, e.To)
	removeParts(e.Files, e.From)
	if !stored {
		// A removal waits for a move to end, so this should not happen;
		// there is no task to finish the move for.
		log.Warn("journal: an interrupted move of a task no longer stored is dropped", "task_id", e.TaskID, "from", e.From, "to", e.To)
		return nil, st.ClearJournal(store.JournalMove, e.TaskID)
	}
	ctx, start := context.Background(), time.Now()
	var ferr error
	if !inRoots(e.To, roots) {
		ferr = fmt.Errorf("%s is no longer inside the download roots", e.To)
	} else if ferr = moveFiles(ctx, e.Files, e.From, e.To, true, nil); ferr == nil {
		switch err := finishMoveRecord(st, e); {
		case errors.Is(err, store.ErrPathConflict):
			ferr = err // undone below
		case err != nil:
			return nil, err
		default:
			removeEmptyParents(e.Files, e.From)
			log.Info("journal: finished a move a crash interrupted", "task_id", e.TaskID, "from", e.From, "to", e.To, "files", len(e.Files), "took", time.Since(start))
			return nil, nil
		}
	}
	log.Warn("journal: an interrupted move cannot be finished: undoing it", "task_id", e.TaskID, "from", e.From, "to", e.To, "err", ferr)
	if berr := moveFiles(ctx, e.Files, e.To, e.From, true, nil); berr != nil {
		removeParts(e.Files, e.From)
		return fmt.Errorf("move from %s to %s interrupted: finishing it failed (%w), and so did undoing it (%w)", e.From, e.To, ferr, berr), nil
	}
	removeEmptyParents(e.Files, e.To)
	if err := st.ClearJournal(store.JournalMove, e.TaskID); err != nil {
		return nil, err
	}
	log.Info("journal: undid a move a crash interrupted", "task_id", e.TaskID, "from", e.From, "to", e.To, "files", len(e.Files), "took", time.Since(start))
	return nil, nil
}

// healRemove finishes the interrupted deletion e. It fails only when the
// store does; files it cannot delete are logged.
func healRemove(st Store, e store.JournalEntry, stored bool, log *slog.Logger) error {
	start := time.Now()
	if stored {
		// The files now belong to the task added again.
		log.Warn("journal: an interrupted deletion is dropped: its task was added again", "task_id", e.TaskID, "dir", e.Dir)
	} else if err := deleteFiles(e.Files, e.Dir); err != nil {
		log.Error("journal: deleting the files of a removed task", "task_id", e.TaskID, "dir", e.Dir, "err", err)
	} else {
		log.Info("journal: finished deleting the files of a removed task", "task_id", e.TaskID, "dir", e.Dir, "files", len(e.Files), "took", time.Since(start))
	}
	return st.ClearJournal(store.JournalRemove, e.TaskID)
}

// removeParts deletes the temporary parts (partPath) of the files rel in
// dir.
func removeParts(rel []string, dir string) {
	for _, r := range rel {
		if err := os.Remove(partPath(filepath.Join(dir, r))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			continue // not ours to worry about: a later copy replaces it
		}
	}
}

// inRoots reports whether dir is one of roots or inside one.
func inRoots(dir string, roots []string) bool {
	for _, r := range roots {
		if dir == r || within(r, dir) {
			return true
		}
	}
	return false
}

// stallHook returns moveFiles' after for op: the test hook of
// Options.StallAfterFiles, nil when it is off.
func (s *Service) stallHook(op string) func(n int) {
	if s.stallAfterFiles <= 0 {
		return nil
	}
	return func(n int) {
		if n == s.stallAfterFiles {
			s.stall(op, n)
		}
	}
}

// stall is where the test hook waits, until the service closes.
func (s *Service) stall(op string, n int) {
	s.log.Info("test hook: stalled", "op", op, "files", n)
	<-s.ctx.Done()
}

// finishMoveRecord records the end of the move e: the task's new dir, its
// reserved paths (paths.go) moved from the old dir to the new, and the
// entry cleared, in one transaction. A path another task holds there
// fails it with store.ErrPathConflict.
func finishMoveRecord(st Store, e store.JournalEntry) error {
	set := func(r *store.Task) { r.DownloadDir = e.To }
	paths, ok, err := st.TaskPaths(e.TaskID)
	if err != nil {
		return err
	}
	if !ok {
		return st.UpdateTaskClearJournal(e.TaskID, set, store.JournalMove)
	}
	moved := make([]string, len(paths))
	for i, p := range paths {
		moved[i] = p
		if rel, err := filepath.Rel(e.From, p); err == nil && within(e.From, p) {
			moved[i] = filepath.Join(e.To, rel)
		}
	}
	return st.UpdateTaskPathsClearJournal(e.TaskID, moved, set, store.JournalMove)
}
