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
// spaceRetryInterval, in the poll and without Service.mu. Any other write
// error also stops the download and waits for task.resume or
// task.recheck. Changing file priorities (task.set) of a waiting task
// counts at its next check: skipping files can make it fit.

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

// neededBytes returns how many bytes the wanted files of t still need on
// disk in dir: each file's size less what the file already occupies (a
// partial download is sparse, so its allocated blocks count, not its
// length).
func neededBytes(t engine.Torrent, prios map[int]string, dir string) int64 {
	var need int64
	for i, f := range t.FileStats() {
		if prios[i] == api.PrioritySkip || f.Size == 0 {
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

// spaceErr returns an error wrapping ErrNoSpace when the wanted files of
// t (by prios) do not fit in dir, nil when they fit, when t has no
// metadata yet, or when either figure is unknown. It reads the disk: call
// it without Service.mu.
func (s *Service) spaceErr(dir string, prios map[int]string, t engine.Torrent) error {
	if !t.HasInfo() {
		return nil
	}
	avail, reserved := s.availableBytes(dir)
	if avail < 0 {
		return nil
	}
	need := neededBytes(t, prios, dir)
	if need <= avail {
		return nil
	}
	kept := ""
	if reserved {
		kept = fmt.Sprintf(" (%s kept free for the daemon's data dir)", formatBytes(StateReserve))
	}
	return fmt.Errorf("%w in %s: the task needs %s more, %s available%s", ErrNoSpace, dir, formatBytes(need), formatBytes(avail), kept)
}

// spaceCheckedLocked takes in the result of a poll's space check of a
// task waiting for space: when its data fits again, the halt is cleared
// and the task goes on. Service.mu must be held.
func (s *Service) spaceCheckedLocked(x *locked, tk *task, dir string, err error, now time.Time) {
	tk.halt.at = now
	if err != nil {
		tk.halt.text = err.Error()
		return
	}
	avail, _ := s.availableBytes(dir)
	s.log.Info("free space is back, resuming", "task_id", tk.rec.ID, "dir", dir, "available", avail)
	tk.t.ClearWriteError()
	tk.halt = halt{}
	x.emit(api.EventEngineAlert, api.EngineAlertData{TaskID: tk.rec.ID, Level: api.LevelInfo,
		Message: fmt.Sprintf("free space is back in %s (%s available): the task goes on", dir, formatBytes(avail))})
}

// onWriteErrorLocked halts tk on a storage write error: its download
// stops (uploads go on); a lack of space is retried by itself, any other
// error waits for task.resume or task.recheck. The engine sends its own
// "storage write failed" alert; this adds one when the disk is full.
// Service.mu must be held; the caller applies the state.
func (s *Service) onWriteErrorLocked(x *locked, tk *task, werr error, now time.Time) {
	if tk.halt.kind == haltWrite || tk.halt.kind == haltNoSpace {
		return // already stopped; a write in flight failed too
	}
	space := isSpaceError(werr)
	kind := haltWrite
	if space {
		kind = haltNoSpace
	}
	tk.halt = halt{kind: kind, text: "storage: " + werr.Error(), at: now}
	s.log.Warn("download stopped on a write error", "task_id", tk.rec.ID, "err", werr, "waiting_for_space", space)
	if space {
		x.emit(api.EventEngineAlert, api.EngineAlertData{TaskID: tk.rec.ID, Level: api.LevelWarning,
			Message: fmt.Sprintf("download stopped: no space left in %s; it resumes by itself once the rest of the task fits", s.taskDir(tk))})
	}
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

// DiskSpace returns the space available to unprivileged writers and the
// size of the filesystem holding dir, an absolute directory that is a
// download root or lies inside one (after resolving symlinks). Any other
// path is refused with ErrInvalidParams, so that no client learns about
// the rest of the machine through it.
func (s *Service) DiskSpace(dir string) (free, total int64, err error) {
	if !filepath.IsAbs(dir) {
		return 0, 0, fmt.Errorf("%w: %q is not an absolute path", ErrInvalidParams, dir)
	}
	real, err := s.inRoots(dir)
	if err != nil {
		return 0, 0, err
	}
	if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
		return 0, 0, fmt.Errorf("%w: %s: no such directory", ErrInvalidParams, dir)
	}
	free, total, ok := diskStats(real)
	if !ok {
		return 0, 0, fmt.Errorf("disk space of %s: not available on this system", dir)
	}
	return free, total, nil
}
