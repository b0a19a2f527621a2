package service

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/lodestone-bt/lodestone/api"
)

// ListFilter selects tasks for List. Zero fields select everything.
type ListFilter struct {
	State api.TaskState
	Label string
	// Category selects the tasks in this category.
	Category string
}

// List returns the tasks passing f, oldest first.
func (s *Service) List(f ListFilter) []api.Task {
	s.mu.Lock()
	defer s.mu.Unlock()
	type entry struct {
		added int64 // rec.AddedAt in Unix ns: cheaper to compare than time.Time
		tk    *task
	}
	es := make([]entry, 0, len(s.tasks))
	for _, tk := range s.tasks {
		if f.State != "" && tk.state != f.State {
			continue
		}
		if f.Label != "" && !slices.Contains(tk.rec.Labels, f.Label) {
			continue
		}
		if f.Category != "" && tk.rec.Category != f.Category {
			continue
		}
		es = append(es, entry{tk.rec.AddedAt.UnixNano(), tk})
	}
	slices.SortFunc(es, func(a, b entry) int {
		if c := cmp.Compare(a.added, b.added); c != 0 {
			return c
		}
		return strings.Compare(a.tk.rec.ID, b.tk.rec.ID)
	})
	ts := make([]api.Task, len(es))
	now := s.clock()
	for i, e := range es {
		ts[i] = e.tk.view(s.taskDir(e.tk), now, s.node)
	}
	return ts
}

// Stats returns what session.stats reports. It is O(1) in the tasks: the
// counts by state are kept as states change, and the sums by the poll.
func (s *Service) Stats() api.SessionStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := api.SessionStats{
		Tasks:        len(s.tasks),
		DownloadRate: s.totals.downloadRate,
		UploadRate:   s.totals.uploadRate,
		Downloaded:   s.totals.downloaded,
		Uploaded:     s.totals.uploaded,
		TasksByState: make(map[api.TaskState]int, len(s.counts)),
	}
	for state, n := range s.counts {
		st.TasksByState[state] = n
	}
	st.FreeDiskBytes = s.totals.freeDisk
	if st.FreeDiskBytes == 0 {
		st.FreeDiskBytes = freeBytes(s.downloadDir) // before the first poll
	}
	return st
}

// cleanLabels trims and de-duplicates labels, refusing empty or long ones.
func cleanLabels(in []string) ([]string, error) {
	var labels []string
	for _, l := range in {
		l = strings.TrimSpace(l)
		if l == "" || utf8.RuneCountInString(l) > 64 {
			return nil, fmt.Errorf("%w: a label must have 1 to 64 characters", ErrInvalidParams)
		}
		if !slices.Contains(labels, l) {
			labels = append(labels, l)
		}
	}
	if len(labels) > 32 {
		return nil, fmt.Errorf("%w: at most 32 labels", ErrInvalidParams)
	}
	return labels, nil
}
