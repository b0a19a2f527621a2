package service

import (
	"context"
	"fmt"

	"github.com/lodestone-bt/lodestone/api"
)

// Recheck verifies the task's data on disk again, in the background; the
// task is in state checking from the answer on, until the check ends. It
// clears a storage error, so the task tries again.
func (s *Service) Recheck(_ context.Context, id string) error {
	tk, exit, err := s.beginOp(id)
	if err != nil {
		return err
	}
	defer exit()
	x := s.lock()
	defer x.unlock()
	if tk.t == nil {
		return fmt.Errorf("%w: task %s could not be loaded: %s", ErrTaskState, tk.rec.ID, tk.errorText())
	}
	t := tk.t
	t.ClearWriteError()
	if tk.halt.kind == haltWrite || tk.halt.kind == haltNoSpace || tk.halt.kind == haltForeign {
		tk.halt = halt{}
	}
	if len(tk.rec.Foreign) > 0 {
		// Files found on disk are checked again, and adopted if they
		// verify now (paths.go).
		s.startForeignCheckLocked(tk)
		s.requeueLocked(x)
		x.apply(tk)
		return nil
	}
	// A finished task whose data changed on disk says so (paths.go).
	wasDone, dir := tk.done, s.taskDir(tk)
	tk.rechecking = true
	s.requeueLocked(x)
	x.apply(tk)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := t.Verify(s.ctx); err != nil && s.ctx.Err() == nil {
			s.log.Warn("recheck", "task_id", t.ID(), "err", err)
		}
		st := t.Stats()
		// For a reload, and so that no move or removal runs meanwhile.
		tk.op.Lock()
		defer tk.op.Unlock()
		x := s.lock()
		if tk.t != t {
			x.unlock()
			return
		}
		var gone bool
		if wasDone && !tk.rec.FinishedAt.IsZero() {
			gone = filesGone(dir, tk.rec.FilePriorities, t.FileStats())
			if gone || !wantedDone(st, tk.rec.FilePriorities, t.FileStats) {
				lost := st.Size - st.Completed
				if gone {
					lost = st.Size // not known until reloaded
				}
				s.log.Warn("finished task's data changed on disk", "task_id", t.ID(), "files_gone", gone)
				x.emit(api.EventEngineAlert, api.EngineAlertData{TaskID: t.ID(), Level: api.LevelWarning, Message: changedText(lost)})
			}
		}
		if gone {
			// The engine may still read deleted files through open
			// handles: add the torrent again to see the disk as it is.
			x.unlock()
			s.reload(tk, t)
			return
		}
		tk.rechecking = false
		tk.stats = st
		x.apply(tk)
		x.unlock()
	}()
	return nil
}
