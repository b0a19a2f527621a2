package service

import (
	"github.com/lodestone-bt/lodestone/internal/store"
)

// flushTotals stores, in one transaction, the byte totals of every task
// whose totals changed since they were last stored. The poll stores them
// every totalsFlushInterval; Close calls this once, after every other
// goroutine and operation has ended, so the last minute is not lost.
func (s *Service) flushTotals() error {
	type total struct {
		tk       *task
		up, down int64
		su, sd   int64 // the session counters they include
	}
	var ts []total
	writes := map[string]func(*store.Task){}
	s.mu.Lock()
	for _, tk := range s.tasks {
		up, down := tk.uploaded(), tk.downloaded()
		if up == tk.rec.Uploaded && down == tk.rec.Downloaded {
			continue
		}
		ts = append(ts, total{tk, up, down, tk.stats.BytesWritten, tk.stats.BytesRead})
		writes[tk.rec.ID] = func(r *store.Task) { r.Uploaded, r.Downloaded = up, down }
	}
	s.mu.Unlock()
	if len(writes) == 0 {
		return nil
	}
	if _, err := s.store.UpdateTasks(writes); err != nil {
		s.log.Warn("store totals", "tasks", len(writes), "err", err)
		return err
	}
	s.mu.Lock()
	for _, t := range ts {
		t.tk.rec.Uploaded, t.tk.rec.Downloaded = t.up, t.down
		t.tk.flushedUp, t.tk.flushedDown = t.su, t.sd
	}
	s.mu.Unlock()
	return nil
}
