package service

import (
	"context"
	"fmt"
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
	if tk.halt.kind == haltWrite || tk.halt.kind == haltNoSpace {
		tk.halt = halt{}
	}
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
		x := s.lock()
		defer x.unlock()
		if tk.t != t {
			return
		}
		tk.rechecking = false
		tk.stats = st
		x.apply(tk)
	}()
	return nil
}
