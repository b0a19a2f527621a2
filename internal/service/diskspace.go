package service

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/engine"
)

// Free space. A task whose data does not fit is never started:
//
//   - task.add of a torrent with metadata is refused with ErrNoSpace (wire
//     code api.CodeNoSpace) when the bytes its wanted files still need
//     exceed the space available in its download dir;
//   - a magnet whose metadata arrives, or a stored task restored at start,
//     that does not fit goes to state error ("not enough free space …")
//     with an engine.alert, and starts by itself once room appears;
//   - a download that fails to write for lack of space (ENOSPC, EDQUOT:
//     the disk filled up after the task was admitted) goes to state error,
//     its download is stopped (uploads go on), and it resumes by itself
//     once its remaining data fits again.
//
// "Available" is the filesystem's free space for unprivileged writers,
// less StateReserve when the download dir shares the filesystem of the
// daemon's data dir. A task waiting for space checks again every
// spaceRetryInterval. Any other write error also stops the download and
// waits for task.resume or task.recheck. Changing file priorities (task.set)
// of a waiting task counts at its next check: skipping files can make it fit.

// StateReserve is the free space downloads leave on the filesystem that
// holds the daemon's data dir (its store and piece completion), so that a
// full disk never stops the daemon from recording state: 64 MiB.
const StateReserve = 64 << 20

// spaceRetryInterval is how often a task waiting for free space checks
// again.
const spaceRetryInterval = 2 * time.Second

// ErrNoSpace: a task's remaining data does not fit in the space available
// in its download dir.
var ErrNoSpace = errors.New("not enough free space")

// neededBytes returns how many bytes tk's wanted files still need on disk
// in dir: each file's size less what the file already occupies (a partial
// download is sparse, so its allocated blocks count, not its length). It
// is 0 until the metadata is known.
func (s *Service) neededBytes(tk *task, dir string) int64 {
	if tk.t == nil {
		return 0
	}
	var need int64
	for i, f := range tk.t.FileStats() {
		if tk.rec.FilePriorities[i] == string(engine.PrioritySkip) || f.Size == 0 {
			continue
		}
		have := allocatedBytes(filepath.Join(dir, filepath.FromSlash(f.Path)))
		need += max(0, f.Size-have)
	}
	return need
}

// availableBytes returns the space downloads may use in dir, StateReserve
// already taken off when dir shares the data dir's filesystem; -1 when
// unknown.
func (s *Service) availableBytes(dir string) (avail int64, reserved bool) {
	free := freeBytes(dir)
	if free < 0 {
		return -1, false
	}
	if s.stateDir != "" && sameFilesystem(dir, s.stateDir) {
		return max(0, free-StateReserve), true
	}
	return free, false
}

// spaceErrLocked returns an error wrapping ErrNoSpace when tk's remaining
// data does not fit in its download dir, nil when it fits or when either
// figure is unknown. s.mu must be held.
func (s *Service) spaceErrLocked(tk *task) error {
	if tk.t == nil || !tk.t.HasInfo() {
		return nil
	}
	dir := s.taskDir(tk)
	avail, reserved := s.availableBytes(dir)
	if avail < 0 {
		return nil
	}
	need := s.neededBytes(tk, dir)
	if need <= avail {
		return nil
	}
	kept := ""
	if reserved {
		kept = fmt.Sprintf(" (%s kept free for the daemon's data dir)", formatBytes(StateReserve))
	}
	return fmt.Errorf("%w in %s: the task needs %s more, %s available%s", ErrNoSpace, dir, formatBytes(need), formatBytes(avail), kept)
}

// haltLocked puts tk into state error with reason and stops its download
// (uploads go on). With forSpace the task checks for room every
// spaceRetryInterval and resumes by itself. s.mu must be held; the caller
// publishes the state change.
func (s *Service) haltLocked(tk *task, reason string, forSpace bool, now time.Time) {
	tk.errText = reason
	tk.halted = true
	tk.spaceWait = forSpace
	tk.spaceCheckAt = now
	tk.queued = false
	if tk.t != nil {
		tk.t.Stop()
	}
}

// checkHaltedLocked runs on every poll for a halted task: it keeps the
// download stopped while the error stands, restarts it when the user
// cleared the error (task.resume, task.recheck), and for a task waiting
// for space, checks every spaceRetryInterval whether its remaining data
// fits again; then it clears the error and resumes. It returns the
// events to publish. s.mu must be held.
func (s *Service) checkHaltedLocked(tk *task, now time.Time) []pending {
	if !tk.halted {
		return nil
	}
	if tk.errText == "" {
		// Cleared by the user: go on.
		tk.halted, tk.spaceWait = false, false
		if !tk.rec.Paused && tk.t != nil && tk.t.HasInfo() {
			s.startDownloadLocked(tk)
		}
		return nil
	}
	if tk.t != nil {
		// task.set (file priorities) allows download again: not while the
		// error stands.
		tk.t.Stop()
	}
	if !tk.spaceWait || now.Sub(tk.spaceCheckAt) < spaceRetryInterval {
		return nil
	}
	tk.spaceCheckAt = now
	if err := s.spaceErrLocked(tk); err != nil {
		return nil
	}
	dir := s.taskDir(tk)
	avail, _ := s.availableBytes(dir)
	s.log.Info("free space is back, resuming", "task_id", tk.rec.ID, "dir", dir, "available", avail)
	tk.t.ClearWriteError()
	tk.errText = ""
	tk.halted, tk.spaceWait = false, false
	if !tk.rec.Paused {
		s.startDownloadLocked(tk)
	}
	return []pending{{api.EventEngineAlert, api.EngineAlertData{TaskID: tk.rec.ID, Level: api.LevelInfo,
		Message: fmt.Sprintf("free space is back in %s (%s available): the task goes on", dir, formatBytes(avail))}}}
}

// onWriteErrorLocked handles a storage write error seen by poll: the task
// goes to state error and its download stops; a lack of space is retried
// by itself. It returns the events to publish besides the state change
// (the engine already sent its own "storage write failed" alert). s.mu
// must be held.
func (s *Service) onWriteErrorLocked(tk *task, werr error, now time.Time) []pending {
	if tk.halted && tk.errText != "" {
		return nil // already stopped; a write in flight failed too
	}
	space := isSpaceError(werr)
	s.haltLocked(tk, "storage: "+werr.Error(), space, now)
	s.log.Warn("download stopped on a write error", "task_id", tk.rec.ID, "err", werr, "waiting_for_space", space)
	if !space {
		return nil
	}
	return []pending{{api.EventEngineAlert, api.EngineAlertData{TaskID: tk.rec.ID, Level: api.LevelWarning,
		Message: fmt.Sprintf("download stopped: no space left in %s; it resumes by itself once the rest of the task fits", s.taskDir(tk))}}}
}

// stopOnWriteErrorLocked stops task id's download at once if it has a
// write error, without waiting for the next poll: every chunk that fails
// meanwhile is downloaded again, fails again, and is logged. s.mu must be
// held.
func (s *Service) stopOnWriteErrorLocked(id string) {
	tk, ok := s.tasks[id]
	if !ok || tk.t == nil {
		return
	}
	werr := tk.t.WriteError()
	if werr == nil {
		return
	}
	out := s.onWriteErrorLocked(tk, werr, time.Now())
	s.requeueLocked()
	s.publishAll(append(out, s.stateChangeLocked(tk)...))
}

// isSpaceError reports whether err is a lack of space (a full disk or an
// exhausted quota).
func isSpaceError(err error) bool {
	if err == nil {
		return false
	}
	if isSpaceErrno(err) {
		return true
	}
	// Not every layer wraps with %w.
	msg := err.Error()
	return strings.Contains(msg, "no space left on device") || strings.Contains(msg, "disk quota exceeded")
}

// allocatedBytes returns the bytes a file occupies on disk (its allocated
// blocks where the platform says, else its length); 0 when it does not
// exist.
func allocatedBytes(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return 0
	}
	if n, ok := allocatedOf(fi); ok {
		return min(n, fi.Size())
	}
	return fi.Size()
}

// formatBytes writes n in binary units for messages: "12.0 MiB".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
