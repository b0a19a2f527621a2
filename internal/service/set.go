package service

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// Set changes a task's settings: labels, file priorities, sequential
// order, rate limits, category and seeding limits. Everything is checked
// first and then committed in one store transaction: all of it or, on an
// error, none. Putting the task in a category whose dir (its save path,
// or the default download dir) is not the task's first moves its data
// there, as Move does; should the move fail, nothing is changed. Category
// "" takes the task out of its category and moves nothing. A task.changed
// names the Task fields that changed.
func (s *Service) Set(id string, p api.TaskSetParams) (api.Task, error) {
	var labels []string
	var err error
	if p.Labels != nil {
		if labels, err = cleanLabels(*p.Labels); err != nil {
			return api.Task{}, err
		}
	}
	for _, l := range []*int64{p.DownloadRateLimit, p.UploadRateLimit} {
		if l != nil && *l < 0 {
			return api.Task{}, fmt.Errorf("%w: rate limits must be 0 (none) or positive", ErrInvalidParams)
		}
	}
	if err := checkSeedLimits(p.SeedRatioLimit, p.SeedTimeLimit, p.SeedIdleLimit); err != nil {
		return api.Task{}, err
	}
	var ratio *float64
	var seedTime, idle *int64
	if p.SeedRatioLimit != nil {
		ratio = ownLimit(*p.SeedRatioLimit)
	}
	if p.SeedTimeLimit != nil {
		seedTime = ownLimit(*p.SeedTimeLimit)
	}
	if p.SeedIdleLimit != nil {
		idle = ownLimit(*p.SeedIdleLimit)
	}
	if p.Category != nil && strings.TrimSpace(*p.Category) != "" {
		// Checked before anything is done, and again at the commit.
		s.mu.Lock()
		_, err := s.categoryLocked(*p.Category)
		s.mu.Unlock()
		if err != nil {
			return api.Task{}, err
		}
	}
	tk, exit, err := s.beginOp(id)
	if err != nil {
		return api.Task{}, err
	}
	defer exit()
	var prios map[int]string
	if len(p.FilePriorities) > 0 {
		s.mu.Lock()
		cur, t := tk.rec.FilePriorities, tk.t
		s.mu.Unlock()
		if t == nil || !t.HasInfo() {
			return api.Task{}, fmt.Errorf("%w: file priorities need the task's metadata", ErrInvalidParams)
		}
		if prios, err = mergePriorities(cur, p.FilePriorities, len(t.FileStats())); err != nil {
			return api.Task{}, err
		}
	}
	// Last, once all else is checked: the data moves before the commit.
	if err := s.moveToCategory(tk, p.Category); err != nil {
		return api.Task{}, err
	}
	// From the check of the category to the commit (categories.go).
	s.catMu.RLock()
	defer s.catMu.RUnlock()
	var category string
	if p.Category != nil && strings.TrimSpace(*p.Category) != "" {
		s.mu.Lock()
		c, err := s.categoryLocked(*p.Category)
		s.mu.Unlock()
		if err != nil {
			return api.Task{}, err
		}
		category = c.Name
	}
	err = s.store.UpdateTask(tk.rec.ID, func(r *store.Task) {
		if p.Labels != nil {
			r.Labels = labels
		}
		if p.Sequential != nil {
			r.Sequential = *p.Sequential
		}
		if p.DownloadRateLimit != nil {
			r.DownloadLimit = *p.DownloadRateLimit
		}
		if p.UploadRateLimit != nil {
			r.UploadLimit = *p.UploadRateLimit
		}
		if prios != nil {
			// Wanting more data makes a finished task active again.
			r.FilePriorities, r.SeedingDone = prios, false
		}
		// Like the session's limits, a seeding limit changed does not
		// bring a finished task back: task.resume does.
		if p.SeedRatioLimit != nil {
			r.SeedRatioLimit = ratio
		}
		if p.SeedTimeLimit != nil {
			r.SeedTimeLimit = seedTime
		}
		if p.SeedIdleLimit != nil {
			r.SeedIdleLimit = idle
		}
		if p.Category != nil {
			r.Category = category
		}
	})
	if err != nil {
		return api.Task{}, err
	}
	x := s.lock()
	defer x.unlock()
	before := tk.view(s.taskDir(tk), s.clock(), s.node)
	if p.Labels != nil {
		tk.rec.Labels = labels
	}
	if p.Category != nil {
		tk.rec.Category = category
	}
	if p.Sequential != nil {
		if tk.rec.Sequential && !*p.Sequential && tk.t != nil {
			tk.t.ClearSequential()
		}
		tk.rec.Sequential = *p.Sequential
	}
	if p.DownloadRateLimit != nil {
		tk.rec.DownloadLimit = *p.DownloadRateLimit
	}
	if p.UploadRateLimit != nil {
		tk.rec.UploadLimit = *p.UploadRateLimit
	}
	if p.SeedRatioLimit != nil {
		tk.rec.SeedRatioLimit = ratio
	}
	if p.SeedTimeLimit != nil {
		tk.rec.SeedTimeLimit = seedTime
	}
	if p.SeedIdleLimit != nil {
		tk.rec.SeedIdleLimit = idle
	}
	if tk.t != nil && (p.DownloadRateLimit != nil || p.UploadRateLimit != nil) {
		tk.t.SetRateLimits(tk.rec.DownloadLimit, tk.rec.UploadLimit)
	}
	if prios != nil {
		tk.rec.FilePriorities, tk.rec.SeedingDone = prios, false
		tk.prioGen++
		if tk.t != nil {
			if tk.rec.Sequential {
				// Pieces raised for sequential order would override a
				// skip.
				tk.t.ClearSequential()
			}
			// Un-skipping a file makes a done task download at once.
			tk.done = tk.done && wantedDone(tk.stats, prios, tk.t.FileStats)
		}
	}
	s.requeueLocked(x)
	x.apply(tk)
	after := tk.view(s.taskDir(tk), s.clock(), s.node)
	if fields := changedSettings(before, after); len(fields) > 0 {
		x.changed(tk, fields...)
	}
	return after, nil
}

// changedSettings names the fields of the settings task.set changes that
// differ between two views of a task.
func changedSettings(a, b api.Task) []string {
	var out []string
	if !slices.Equal(a.Labels, b.Labels) {
		out = append(out, "labels")
	}
	if a.Category != b.Category {
		out = append(out, "category")
	}
	if a.Sequential != b.Sequential {
		out = append(out, "sequential")
	}
	if a.DownloadRateLimit != b.DownloadRateLimit {
		out = append(out, "download_rate_limit")
	}
	if a.UploadRateLimit != b.UploadRateLimit {
		out = append(out, "upload_rate_limit")
	}
	if a.SeedRatioLimit != b.SeedRatioLimit {
		out = append(out, "seed_ratio_limit")
	}
	if a.SeedTimeLimit != b.SeedTimeLimit {
		out = append(out, "seed_time_limit")
	}
	if a.SeedIdleLimit != b.SeedIdleLimit {
		out = append(out, "seed_idle_limit")
	}
	return out
}

// moveToCategory moves tk's data to the dir of the category name, when
// name is not "", not tk's category already, and its dir is not tk's. tk's
// op lock must be held.
func (s *Service) moveToCategory(tk *task, name *string) error {
	if name == nil || strings.TrimSpace(*name) == "" {
		return nil
	}
	s.mu.Lock()
	c, err := s.categoryLocked(*name)
	var to string
	if err == nil {
		to = s.categoryDirLocked(c)
	}
	same := err == nil && (c.Name == tk.rec.Category || to == s.taskDir(tk))
	s.mu.Unlock()
	if err != nil || same {
		return err
	}
	// Checked again, as task.move does: the roots may have changed.
	if to, err = s.resolveDownloadDir(to, to); err != nil {
		return fmt.Errorf("category %q: %w", c.Name, err)
	}
	if _, err := s.moveTask(tk, to); err != nil {
		return fmt.Errorf("moving the data to category %q's dir: %w", c.Name, err)
	}
	return nil
}

// mergePriorities returns cur with the changes of p applied, checked
// against a torrent of n files. Normal priorities are left out.
func mergePriorities(cur, p map[int]string, n int) (map[int]string, error) {
	merged := make(map[int]string, len(cur)+len(p))
	for i, v := range cur {
		merged[i] = v
	}
	for i, v := range p {
		if i < 0 || i >= n {
			return nil, fmt.Errorf("%w: file index %d out of range (the task has %d files)", ErrInvalidParams, i, n)
		}
		switch v {
		case api.PriorityNormal:
			delete(merged, i)
		case api.PrioritySkip, api.PriorityHigh:
			merged[i] = v
		default:
			return nil, fmt.Errorf("%w: priority %q of file %s is not skip, normal or high", ErrInvalidParams, v, strconv.Itoa(i))
		}
	}
	return merged, nil
}

// selectionPriorities turns "download only these files" into priorities.
func selectionPriorities(want []int, numFiles int) (map[int]string, error) {
	if len(want) == 0 {
		return nil, nil
	}
	keep := make(map[int]bool, len(want))
	for _, i := range want {
		if i < 0 || i >= numFiles {
			return nil, fmt.Errorf("%w: file index %d out of range (the torrent has %d files)", ErrInvalidParams, i, numFiles)
		}
		keep[i] = true
	}
	prios := make(map[int]string)
	for i := range numFiles {
		if !keep[i] {
			prios[i] = api.PrioritySkip
		}
	}
	return prios, nil
}
