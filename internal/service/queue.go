package service

import (
	"slices"
)

// The queue: at most max_active_downloads tasks download and at most
// max_active_seeds finished tasks seed; the others wait in state queued.
// Downloads get their slots in the queue order (order.go), seeds first
// finished first (then in the queue order). A task that is paused,
// halted, without metadata, done seeding or busy holds no slot.

// requeueLocked decides which tasks the queue holds back, applying the
// state of each task whose place changed. Service.mu must be held.
func (s *Service) requeueLocked(x *locked) {
	if s.settings.MaxActiveDownloads == 0 && s.settings.MaxActiveSeeds == 0 && s.queuedN == 0 {
		return // no limit, and nothing held back from an earlier one
	}
	var downloads, seeds []*task
	// In queue order (order.go): downloads get their slots in it.
	for _, tk := range s.queue {
		switch {
		case tk.busy != "":
		case tk.t == nil || tk.rec.Paused || tk.halt.kind != haltNone || len(tk.rec.MetaInfo) == 0 || tk.rec.SeedingDone:
			if tk.queued {
				s.setQueuedLocked(x, tk, false)
			}
		case tk.done:
			seeds = append(seeds, tk)
		default:
			downloads = append(downloads, tk)
		}
	}
	// Without a limit the order does not matter: sorting thousands of
	// seeds on every poll and add is skipped.
	if s.settings.MaxActiveSeeds > 0 {
		slices.SortStableFunc(seeds, func(a, b *task) int {
			return a.rec.FinishedAt.Compare(b.rec.FinishedAt)
		})
	}
	place := func(ts []*task, limit int) {
		for i, tk := range ts {
			if queue := limit > 0 && i >= limit; queue != tk.queued {
				s.setQueuedLocked(x, tk, queue)
			}
		}
	}
	place(downloads, s.settings.MaxActiveDownloads)
	place(seeds, s.settings.MaxActiveSeeds)
}

// setQueuedLocked holds tk back or lets it go, keeping count of the
// tasks held back. Service.mu must be held.
func (s *Service) setQueuedLocked(x *locked, tk *task, queued bool) {
	tk.queued = queued
	if queued {
		s.queuedN++
	} else {
		s.queuedN--
	}
	x.apply(tk)
}
