package service

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// ListFilter selects tasks for List. Zero fields select everything.
type ListFilter struct {
	State api.TaskState
	Label string
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
		es = append(es, entry{tk.rec.AddedAt.UnixNano(), tk})
	}
	slices.SortFunc(es, func(a, b entry) int {
		if c := cmp.Compare(a.added, b.added); c != 0 {
			return c
		}
		return strings.Compare(a.tk.rec.ID, b.tk.rec.ID)
	})
	ts := make([]api.Task, len(es))
	for i, e := range es {
		ts[i] = s.view(e.tk)
	}
	return ts
}

// Set changes a task's settings durably: labels.
func (s *Service) Set(id string, p api.TaskSetParams) (api.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tk, err := s.lookupLocked(id)
	if err != nil {
		return api.Task{}, err
	}
	var labels []string
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
	if len(p.FilePriorities) > 0 {
		if err := s.setPrioritiesLocked(tk, p.FilePriorities); err != nil {
			return api.Task{}, err
		}
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
	})
	if err != nil {
		return api.Task{}, err
	}
	if p.Labels != nil {
		tk.rec.Labels = labels
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
	if tk.t != nil {
		tk.t.SetRateLimits(tk.rec.DownloadLimit, tk.rec.UploadLimit)
	}
	return s.view(tk), nil
}

// view renders tk for the wire. Service.mu must be held.
func (s *Service) view(tk *task) api.Task {
	v := tk.view()
	v.DownloadDir = s.taskDir(tk)
	return v
}

// view renders tk for the wire, but for its download dir. Service.mu must
// be held.
func (tk *task) view() api.Task {
	v := api.Task{
		TaskID:       tk.rec.ID,
		Name:         tk.rec.Name,
		Size:         tk.rec.Size,
		Completed:    tk.stats.Completed,
		State:        tk.state,
		AddedAt:      tk.addedAt,
		DownloadRate: tk.down.rate(),
		UploadRate:   tk.up.rate(),
		Peers:        tk.stats.Peers,
		Downloaded:   tk.downloaded(),
		Uploaded:     tk.uploaded(),
		ETASeconds:   tk.eta(),
		Pieces:       tk.stats.Pieces,
		PieceSize:    tk.stats.PieceSize,
		Labels:       tk.rec.Labels,
		Sequential:   tk.rec.Sequential,

		DownloadRateLimit: tk.rec.DownloadLimit,
		UploadRateLimit:   tk.rec.UploadLimit,
	}
	if v.AddedAt == "" {
		v.AddedAt = tk.rec.AddedAt.Format(time.RFC3339Nano)
	}
	if v.Labels == nil {
		v.Labels = []string{}
	}
	v.Ratio = tk.ratio()
	if tk.state == api.StateError {
		v.Error = tk.errText
	}
	if !tk.rec.FinishedAt.IsZero() {
		v.FinishedAt = tk.rec.FinishedAt.Format(time.RFC3339Nano)
	}
	return v
}

// ratio is lifetime uploaded bytes over completed bytes, 0 while nothing
// is completed.
func (tk *task) ratio() float64 {
	if tk.stats.Completed <= 0 {
		return 0
	}
	return float64(tk.uploaded()) / float64(tk.stats.Completed)
}

// eta estimates seconds to finish; -1 when unknown or not downloading.
func (tk *task) eta() int64 {
	r := tk.down.rate()
	if tk.state != api.StateDownloading || r <= 0 || !tk.stats.HasInfo {
		return -1
	}
	return (tk.stats.Size - tk.stats.Completed + r - 1) / r
}

// Stats returns what session.stats reports. It is O(tasks) under s.mu.
func (s *Service) Stats() api.SessionStats {
	var byState [len(statesIndexed)]int
	s.mu.Lock()
	st := api.SessionStats{Tasks: len(s.tasks)}
	other := map[api.TaskState]int{}
	for _, tk := range s.tasks {
		st.DownloadRate += tk.down.rate()
		st.UploadRate += tk.up.rate()
		st.Downloaded += tk.stats.BytesRead
		st.Uploaded += tk.stats.BytesWritten
		if i := stateIndex(tk.state); i >= 0 {
			byState[i]++
		} else {
			other[tk.state]++
		}
	}
	s.mu.Unlock()
	// Counted in an array, not a map, in the loop: with 10,000 tasks the
	// map assignments were a third of session.stats.
	st.TasksByState = other
	for i, n := range byState {
		if n > 0 {
			st.TasksByState[statesIndexed[i]] = n
		}
	}
	st.FreeDiskBytes = freeBytes(s.downloadDir)
	return st
}

// statesIndexed are the states Stats counts in an array.
var statesIndexed = [...]api.TaskState{
	api.StateMetadata, api.StateChecking, api.StateDownloading, api.StateSeeding,
	api.StatePaused, api.StateError, api.StateQueued, api.StateFinished,
}

func stateIndex(st api.TaskState) int {
	for i, s := range statesIndexed {
		if s == st {
			return i
		}
	}
	return -1
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
