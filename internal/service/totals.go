package service

import (
	"time"

	"github.com/lodestone-bt/lodestone/internal/store"
)

// flushTotals stores, in one transaction, the byte totals, clocks and
// last activity of every task whose totals changed since they were last
// stored. The poll stores them
// every totalsFlushInterval; Close calls this once, after every other
// goroutine and operation has ended, so the last minute is not lost.
func (s *Service) flushTotals() error {
	type total struct {
		tk       *task
		up, down int64
		su, sd   int64 // the session counters they include
		activeAt time.Time
		secDown  int64
		secSeed  int64
	}
	var ts []total
	writes := map[string]func(*store.Task){}
	now := s.clock()
	s.mu.Lock()
	for _, tk := range s.tasks {
		up, down := tk.uploaded(), tk.downloaded()
		d, sd := tk.seconds(now)
		secDown, secSeed := int64(d/time.Second), int64(sd/time.Second)
		if up == tk.rec.Uploaded && down == tk.rec.Downloaded && tk.activeAt.Equal(tk.rec.ActiveAt) &&
			secDown == tk.rec.SecondsDownloading && secSeed == tk.rec.SecondsSeeding {
			continue
		}
		activeAt := tk.activeAt
		ts = append(ts, total{tk, up, down, tk.stats.BytesWritten, tk.stats.BytesRead, activeAt, secDown, secSeed})
		writes[tk.rec.ID] = func(r *store.Task) {
			r.Uploaded, r.Downloaded = up, down
			r.ActiveAt, r.SecondsDownloading, r.SecondsSeeding = activeAt, secDown, secSeed
		}
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
		t.tk.rec.ActiveAt, t.tk.rec.SecondsDownloading, t.tk.rec.SecondsSeeding = t.activeAt, t.secDown, t.secSeed
	}
	s.mu.Unlock()
	return nil
}
