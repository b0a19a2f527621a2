package service

import (
	"context"
	"fmt"

	"github.com/lodestone-bt/lodestone/internal/store"
)

// Pause stops a task's download and upload, durably. Pausing a paused task
// is not an error.
func (s *Service) Pause(_ context.Context, id string) error {
	return s.setPaused(id, true)
}

// Resume undoes Pause, durably, and clears a storage error so the task
// tries again. A finished task (seeding limit reached) seeds again, until
// the limit, which session.set may have raised, is reached again.
func (s *Service) Resume(_ context.Context, id string) error {
	return s.setPaused(id, false)
}

func (s *Service) setPaused(id string, paused bool) error {
	tk, exit, err := s.beginOp(id)
	if err != nil {
		return err
	}
	defer exit()
	s.mu.Lock()
	clearSeedingDone := !paused && tk.rec.SeedingDone
	write := tk.rec.Paused != paused || clearSeedingDone
	s.mu.Unlock()
	if write {
		err := s.store.UpdateTask(tk.rec.ID, func(r *store.Task) {
			r.Paused = paused
			if clearSeedingDone {
				r.SeedingDone = false
			}
		})
		if err != nil {
			return err
		}
	}
	x := s.lock()
	defer x.unlock()
	tk.rec.Paused = paused
	if clearSeedingDone {
		tk.rec.SeedingDone = false
	}
	if !paused && tk.t != nil && (tk.halt.kind == haltWrite || tk.halt.kind == haltNoSpace) {
		tk.t.ClearWriteError()
		tk.halt = halt{}
	}
	if !paused {
		s.retryForeignLocked(tk) // paths.go
	}
	s.requeueLocked(x)
	x.apply(tk)
	return nil
}

// beginOp enters an operation on task id and takes the task's op lock;
// exit releases both. A task busy with slow work (a move, a removal) is
// refused with ErrTaskState rather than waited for.
func (s *Service) beginOp(id string) (_ *task, exit func(), err error) {
	leave, err := s.enter()
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	tk, err := s.lookupLocked(id)
	if err == nil && tk.busy != "" {
		err = fmt.Errorf("%w: task %s is busy %s", ErrTaskState, tk.rec.ID, tk.busy)
	}
	s.mu.Unlock()
	if err != nil {
		leave()
		return nil, nil, err
	}
	tk.op.Lock()
	// Removed or made busy while the lock was awaited?
	s.mu.Lock()
	switch {
	case s.tasks[tk.rec.ID] != tk:
		err = fmt.Errorf("%w: %s", ErrTaskNotFound, tk.rec.ID)
	case tk.busy != "":
		err = fmt.Errorf("%w: task %s is busy %s", ErrTaskState, tk.rec.ID, tk.busy)
	}
	s.mu.Unlock()
	if err != nil {
		tk.op.Unlock()
		leave()
		return nil, nil, err
	}
	return tk, func() { tk.op.Unlock(); leave() }, nil
}
