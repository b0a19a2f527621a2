package service

// A task owns its paths, and only its paths (issue 15, items 1 and 3).
//
//   - Its files are reserved for it, by absolute path, in the store, in the
//     same transaction as its record: at task.add of a .torrent, when a
//     magnet's metadata arrives, when it moves. A task whose files would
//     collide with another task's is refused (ErrPathConflict, code 207)
//     or, for a magnet, stopped in state error naming the other task.
//   - A file that exists on disk when the task's files become known, and
//     is not the task's, is foreign (store.Task.Foreign). Download stays
//     off until every foreign file is hashed: one whose pieces all verify
//     is adopted as the task's own; otherwise the task stops in error and
//     the file is never written to.
//   - task.remove with delete_data deletes only the reserved files that are
//     not foreign, then the folders left empty.
//   - Every task stores the absolute dir its data is in; one whose dir has
//     gone is stopped in error ("data dir missing"), never re-pointed.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// ErrPathConflict: a file of the task would be at a path another task
// holds (code 207). The message names the path and the other task.
var ErrPathConflict = store.ErrPathConflict

// Halt reasons of this file (see haltKind).
const (
	// haltPaths: its files collide with another task's; nothing of it is
	// written. It stays until a restart finds the paths free (the other
	// task removed); a magnet's also ends when task.move elsewhere makes
	// it fetch its metadata again and the paths there are free.
	haltPaths haltKind = "paths"
	// haltForeign: a file that existed before the task holds other data;
	// it is not overwritten. task.recheck checks again.
	haltForeign haltKind = "foreign"
	// haltDirMissing: the task's download dir is gone; it is not made
	// again, nor the task pointed elsewhere.
	haltDirMissing haltKind = "dir_missing"
)

// errDirMissing is the error text of a task whose dir is gone.
const errDirMissing = "data dir missing"

// conflictText explains a path conflict for the API.
func conflictText(err error) string {
	var pc *store.PathConflictError
	if errors.As(err, &pc) {
		return fmt.Sprintf("path conflict: %s", pc.Error())
	}
	return err.Error()
}

// pathConflict turns a store conflict into the service's error, or
// returns err as it is.
func pathConflict(err error) error {
	if errors.Is(err, store.ErrPathConflict) {
		return fmt.Errorf("%w: %s", ErrPathConflict, strings.TrimPrefix(conflictText(err), "path conflict: "))
	}
	return err
}

// absPaths joins the relative paths rel to dir.
func absPaths(dir string, rel []string) []string {
	out := make([]string, len(rel))
	for i, r := range rel {
		out[i] = filepath.Join(dir, r)
	}
	return out
}

// foreignFiles returns the paths of rel (relative to dir) that exist on
// disk, as anything, and that task id did not leave there when it was
// removed without its data (its own, partial or not): a file there is not
// the task's until it verifies.
func (s *Service) foreignFiles(id, dir string, rel []string) ([]string, error) {
	var found []string
	for _, r := range rel {
		if _, err := os.Lstat(filepath.Join(dir, r)); err == nil {
			found = append(found, filepath.Join(dir, r))
		}
	}
	if len(found) == 0 {
		return nil, nil
	}
	left, err := s.store.LeftBy(id, found)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range found {
		if !slices.Contains(left, p) {
			r, _ := filepath.Rel(dir, p)
			out = append(out, r)
		}
	}
	return out, nil
}

// ownedFiles returns the absolute paths task.remove may delete: the
// reserved ones that are not foreign. A task without a reservation owns
// nothing.
func ownedFiles(reserved []string, dir string, foreign []string) []string {
	out := make([]string, 0, len(reserved))
	for _, p := range reserved {
		rel, err := filepath.Rel(dir, p)
		if err == nil && slices.Contains(foreign, rel) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// dirMissing reports whether dir is gone (or is not a directory).
func dirMissing(dir string) bool {
	fi, err := os.Stat(dir)
	return err != nil || !fi.IsDir()
}

// checkForeign hashes tk's files and settles its foreign ones: each whose
// pieces all verify, and whose size is the torrent's, becomes the task's
// own (stored); if any does not, the task stops in error naming it, and
// stays off it. Download is off until it ends (task.verifying). It runs
// in its own goroutine, counted in s.wg.
func (s *Service) checkForeign(tk *task, t engine.Torrent) {
	defer s.wg.Done()
	if err := t.Verify(s.ctx); err != nil {
		if s.ctx.Err() == nil {
			s.log.Warn("check files found on disk", "task_id", t.ID(), "err", err)
		}
		return
	}
	tk.op.Lock()
	defer tk.op.Unlock()
	s.mu.Lock()
	if tk.t != t {
		s.mu.Unlock()
		return
	}
	dir, foreign, mi := s.taskDir(tk), slices.Clone(tk.rec.Foreign), tk.rec.MetaInfo
	s.mu.Unlock()

	files := t.Files()
	index := map[string]int{}
	for i, p := range files {
		index[p] = i
	}
	exts, pieceLen, eerr := engine.FileExtents(mi)
	n, bits := t.PieceBitfield()
	have := func(p int64) bool { return p < int64(n) && bits[p/8]&(0x80>>(p%8)) != 0 }
	present := func(j int) bool {
		_, err := os.Lstat(filepath.Join(dir, files[j]))
		return err == nil
	}
	var keep, bad []string
	for _, rel := range foreign {
		i, ok := index[rel]
		if !ok || eerr != nil || i >= len(exts) || len(exts) != len(files) {
			if eerr != nil || len(exts) != len(files) {
				keep, bad = append(keep, rel), append(bad, rel)
			}
			continue // not a file of the task (any more)
		}
		fi, err := os.Lstat(filepath.Join(dir, rel))
		switch {
		case err != nil:
			// Gone meanwhile: the task may create it.
		case fi.Mode().IsRegular() && fi.Size() == exts[i].To-exts[i].From && verified(exts, pieceLen, i, have, present):
			// Its data verified: the task's own.
		default:
			keep, bad = append(keep, rel), append(bad, rel)
		}
	}
	var serr error
	if !slices.Equal(keep, foreign) {
		serr = s.store.UpdateTask(tk.rec.ID, func(r *store.Task) { r.Foreign = keep })
	}
	st := t.Stats()

	x := s.lock()
	defer x.unlock()
	if tk.t != t {
		return
	}
	tk.verifying = false
	tk.stats = st
	if serr != nil {
		s.log.Error("store adopted files", "task_id", tk.rec.ID, "err", serr)
		keep = foreign // not on record: not ours yet
		if len(bad) == 0 {
			bad = foreign
		}
	}
	tk.rec.Foreign = keep
	if len(bad) > 0 {
		text := fmt.Sprintf("%s existed before this task with other contents; not overwritten (move or delete it, then task.recheck)", filepath.Join(dir, bad[0]))
		if len(bad) > 1 {
			text = fmt.Sprintf("%s and %d more files existed before this task with other contents; not overwritten (move or delete them, then task.recheck)", filepath.Join(dir, bad[0]), len(bad)-1)
		}
		tk.halt = halt{kind: haltForeign, text: text}
		s.log.Warn("files found on disk hold other data; task stopped", "task_id", tk.rec.ID, "files", len(bad))
	} else if len(foreign) > 0 {
		s.log.Info("files found on disk verified; adopted", "task_id", tk.rec.ID, "files", len(foreign))
	}
	s.requeueLocked(x)
	x.apply(tk)
}

// startForeignCheckLocked starts checkForeign for tk when it has foreign
// files. Service.mu must be held; the caller applies the state.
func (s *Service) startForeignCheckLocked(tk *task) {
	if len(tk.rec.Foreign) == 0 || tk.t == nil || tk.verifying || len(tk.rec.MetaInfo) == 0 {
		return
	}
	tk.verifying = true
	s.wg.Add(1)
	go s.checkForeign(tk, tk.t)
}

// changedText explains a finished task whose data no longer verifies.
func changedText(lost int64) string {
	return fmt.Sprintf("its data changed or went missing on disk after it finished (%d bytes no longer verify); downloading them again", lost)
}

// filesGone reports whether a wanted, non-empty file of files (relative
// to dir) is missing from disk or of another size. A core that keeps its
// files open (anacrolix) still hashes a deleted file's data through the
// open handle, so hashing alone does not tell.
func filesGone(dir string, prios map[int]string, files []engine.FileStat) bool {
	for i, f := range files {
		if f.Size == 0 || prios[i] == api.PrioritySkip {
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil || fi.Size() != f.Size {
			return true
		}
	}
	return false
}

// emitAlertLocked is a shorthand for an engine.alert about tk.
func emitAlertLocked(x *locked, tk *task, level, msg string) {
	x.emit(api.EventEngineAlert, api.EngineAlertData{TaskID: tk.rec.ID, Level: level, Message: msg})
}

// ownedRel returns the files of tk that task.remove may delete, relative
// to its dir: the reserved ones that are not foreign. tk.op must be held.
func (s *Service) ownedRel(tk *task) ([]string, error) {
	reserved, ok, err := s.store.TaskPaths(tk.rec.ID)
	if err != nil || !ok {
		return nil, err
	}
	s.mu.Lock()
	dir, foreign := s.taskDir(tk), slices.Clone(tk.rec.Foreign)
	s.mu.Unlock()
	var out []string
	for _, p := range ownedFiles(reserved, dir, foreign) {
		if rel, err := filepath.Rel(dir, p); err == nil && within(dir, p) {
			out = append(out, rel)
		}
	}
	return out, nil
}

// pinDirs gives every record stored without a dir ("" stood for the
// default download dir before issue 15) the daemon's download dir of
// this start, durably, once: a later start with another --download-dir
// leaves them where their data is. It changes recs in place.
func (s *Service) pinDirs(recs []store.Task) error {
	fns := map[string]func(*store.Task){}
	for i := range recs {
		if recs[i].DownloadDir != "" {
			continue
		}
		recs[i].DownloadDir = s.downloadDir
		fns[recs[i].ID] = func(r *store.Task) {
			if r.DownloadDir == "" {
				r.DownloadDir = s.downloadDir
			}
		}
	}
	if len(fns) == 0 {
		return nil
	}
	if _, err := s.store.UpdateTasks(fns); err != nil {
		return fmt.Errorf("pin the download dir of %d tasks: %w", len(fns), err)
	}
	s.log.Info("tasks pinned to the download dir", "count", len(fns), "dir", s.downloadDir)
	return nil
}

// reserveRestored reserves the files of restored tasks that have none on
// record (stored before reservations existed), oldest first: of two that
// collide, the later-added one stops in error, and nothing is deleted.
// Their files on disk count as their own, as they did. Tasks are not
// shared yet.
func (s *Service) reserveRestored(tasks []*task) {
	var todo []*task
	for _, tk := range tasks {
		if tk.t == nil || len(tk.rec.MetaInfo) == 0 {
			continue
		}
		if _, ok, err := s.store.TaskPaths(tk.rec.ID); err != nil {
			s.log.Error("read task paths", "task_id", tk.rec.ID, "err", err)
		} else if !ok {
			todo = append(todo, tk)
		}
	}
	slices.SortStableFunc(todo, func(a, b *task) int { return a.rec.AddedAt.Compare(b.rec.AddedAt) })
	for _, tk := range todo {
		err := s.store.UpdateTaskPaths(tk.rec.ID, absPaths(s.taskDir(tk), tk.t.Files()), nil)
		switch {
		case errors.Is(err, store.ErrPathConflict):
			tk.halt = halt{kind: haltPaths, text: conflictText(err)}
			s.log.Warn("restored task's files collide with another task's", "task_id", tk.rec.ID, "err", err)
		case err != nil:
			s.log.Error("reserve task paths", "task_id", tk.rec.ID, "err", err)
		}
	}
}

// moveRecord stores a task's new dir, moving its reservation (if it has
// one) to its files rel there, and deletes its journal entry of op (none
// when op is ""), in one transaction: a path another task holds there
// fails the move.
func (s *Service) moveRecord(id string, rel []string, to, op string) error {
	set := func(r *store.Task) { r.DownloadDir = to }
	if _, ok, err := s.store.TaskPaths(id); err != nil {
		return err
	} else if !ok {
		return s.store.UpdateTaskClearJournal(id, set, op)
	}
	return pathConflict(s.store.UpdateTaskPathsClearJournal(id, absPaths(to, rel), set, op))
}

// verified reports whether data file i (of files, laid out in exts, in
// pieces of pieceLen bytes) holds the torrent's data, by the verified
// pieces (have): every piece that lies in it alone must verify, and so
// must each piece it shares with other files when those are all on disk
// (present). A piece shared with a file not on disk cannot be checked
// yet; a file with no piece that can be checked is not verified (an
// empty file is: it has no bytes to lose).
func verified(exts []engine.Extent, pieceLen int64, i int, have func(int64) bool, present func(int) bool) bool {
	e := exts[i]
	if e.To == e.From {
		return true
	}
	checked := 0
	for p := e.From / pieceLen; p <= (e.To-1)/pieceLen; p++ {
		lo, hi := p*pieceLen, (p+1)*pieceLen
		// Only a piece at either end can hold other files; exts are
		// sorted, so they are the neighbours.
		knowable := true
		for j := i - 1; lo < e.From && j >= 0 && exts[j].To > lo && knowable; j-- {
			knowable = exts[j].To == exts[j].From || present(j)
		}
		for j := i + 1; hi > e.To && j < len(exts) && exts[j].From < hi && knowable; j++ {
			knowable = exts[j].To == exts[j].From || present(j)
		}
		if !knowable {
			continue
		}
		if !have(p) {
			return false
		}
		checked++
	}
	return checked > 0
}

// reload drops tk's engine torrent and adds it again, so that the
// engine sees its files as they are on disk now (a core that keeps its
// files open, anacrolix, goes on reading a deleted file's data through
// the open handle), then ends the recheck under way. The task keeps its
// state meanwhile (tk.reloading). tk.op must be held.
func (s *Service) reload(tk *task, t engine.Torrent) {
	x := s.lock()
	if tk.t != t {
		x.unlock()
		return
	}
	// The new engine torrent counts bytes from zero: fold this session's
	// into the record, as a move does.
	up, down := tk.uploaded(), tk.downloaded()
	tk.rec.Uploaded, tk.rec.Downloaded = up, down
	tk.flushedUp, tk.flushedDown = 0, 0
	tk.stats = engine.Stats{HasInfo: tk.stats.HasInfo, Name: tk.stats.Name, Size: tk.stats.Size,
		Completed: tk.stats.Completed, Pieces: tk.stats.Pieces, PieceSize: tk.stats.PieceSize}
	tk.down, tk.up = rateMeter{}, rateMeter{}
	s.account(tk)
	tk.t, tk.reloading = nil, true
	x.apply(tk)
	dir := s.taskDir(tk)
	spec := engine.Spec{ID: tk.rec.ID, Name: tk.rec.Name, MetaInfo: tk.rec.MetaInfo, Magnet: tk.rec.Magnet, DownloadDir: dir}
	x.unlock()

	if err := s.store.UpdateTask(tk.rec.ID, func(r *store.Task) { r.Uploaded, r.Downloaded = up, down }); err != nil {
		s.log.Error("store byte totals", "task_id", tk.rec.ID, "err", err)
	}
	t.Drop()
	l, err := s.prepare(spec, &tk.rec, dir)

	x = s.lock()
	defer x.unlock()
	tk.reloading, tk.rechecking = false, false
	if err != nil {
		tk.halt = halt{kind: haltLoad, text: err.Error()}
		s.log.Error("reload task", "task_id", tk.rec.ID, "err", err)
	} else {
		s.install(tk, l)
	}
	s.requeueLocked(x)
	x.apply(tk)
}

// fileGone reports whether the file at path (slash-separated, relative to
// dir) is missing or not size bytes long.
func fileGone(dir, path string, size int64) bool {
	fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(path)))
	return err != nil || fi.Size() != size
}

// recheckChanged starts task.recheck of task id in the background, for a
// finished task found to miss data on a read: the recheck says so and
// downloads it again.
func (s *Service) recheckChanged(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.Recheck(s.ctx, id); err != nil && s.ctx.Err() == nil {
			s.log.Warn("recheck of a task missing data", "task_id", id, "err", err)
		}
	}()
}

// retryForeignLocked, for task.resume, checks again the files found on
// disk of a task stopped by one of them (haltForeign): one moved away or
// deleted meanwhile no longer stops it. Service.mu must be held; the
// caller applies the state.
func (s *Service) retryForeignLocked(tk *task) {
	if tk.halt.kind != haltForeign || tk.t == nil {
		return
	}
	tk.halt = halt{}
	s.startForeignCheckLocked(tk)
}
