package service

import (
	"slices"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/internal/store"
)

// The queue: at most max_active_downloads tasks download and at most
// max_active_seeds finished tasks seed; the others wait in state queued.
// Downloads get their slots oldest added first, seeds first finished
// first. A task that is paused, halted, without metadata, done seeding or
// busy holds no slot.

// requeueLocked decides which tasks the queue holds back, applying the
// state of each task whose place changed. Service.mu must be held.
func (s *Service) requeueLocked(x *locked) {
	if s.settings.MaxActiveDownloads == 0 && s.settings.MaxActiveSeeds == 0 && s.queuedN == 0 {
		return // no limit, and nothing held back from an earlier one
	}
	var downloads, seeds []*task
	for _, tk := range s.tasks {
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
	byAdded := func(a, b *task) int {
		if c := a.rec.AddedAt.Compare(b.rec.AddedAt); c != 0 {
			return c
		}
		return strings.Compare(a.rec.ID, b.rec.ID)
	}
	// Without a limit the order does not matter: sorting thousands of
	// tasks on every poll and add is skipped.
	if s.settings.MaxActiveDownloads > 0 {
		slices.SortFunc(downloads, byAdded)
	}
	if s.settings.MaxActiveSeeds > 0 {
		slices.SortFunc(seeds, func(a, b *task) int {
			if c := a.rec.FinishedAt.Compare(b.rec.FinishedAt); c != 0 {
				return c
			}
			return byAdded(a, b)
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

// seedLimitReached reports whether a task that finished at finishedAt,
// with completed bytes and uploaded bytes over its life, has seeded
// enough by set's limits.
func seedLimitReached(set store.Settings, finishedAt time.Time, completed, uploaded int64, now time.Time) bool {
	if finishedAt.IsZero() {
		return false
	}
	if set.SeedRatioLimit > 0 && completed > 0 && float64(uploaded)/float64(completed) >= set.SeedRatioLimit {
		return true
	}
	return set.SeedTimeLimit > 0 && now.Sub(finishedAt) >= time.Duration(set.SeedTimeLimit)*time.Second
}
