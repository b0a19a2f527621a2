package transmission

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/service"
)

// fileChoices are torrent-set's (and torrent-add's) file arguments: file
// indices, where an empty array means every file.
type fileChoices struct {
	wanted, unwanted     []int
	high, normal, low    []int
	hasWanted, hasUnwant bool
	hasHigh, hasNormal   bool
	hasLow               bool
}

func (c fileChoices) empty() bool {
	return !c.hasWanted && !c.hasUnwant && !c.hasHigh && !c.hasNormal && !c.hasLow
}

func parseFileChoices(a args) (fileChoices, error) {
	var c fileChoices
	var err error
	for _, f := range []struct {
		key string
		dst *[]int
		has *bool
	}{
		{"files_wanted", &c.wanted, &c.hasWanted},
		{"files_unwanted", &c.unwanted, &c.hasUnwant},
		{"priority_high", &c.high, &c.hasHigh},
		{"priority_normal", &c.normal, &c.hasNormal},
		{"priority_low", &c.low, &c.hasLow},
	} {
		if *f.dst, *f.has, err = a.ints(f.key); err != nil {
			return c, err
		}
	}
	return c, nil
}

// priorities applies c to a task's files (their current priorities) and
// returns the changed ones as task.set's file_priorities. Transmission
// keeps "wanted" apart from a file's priority; Lodestone has one value,
// "skip" for an unwanted file. So: unwanted is skip; wanted makes a
// skipped file normal; a priority applies to the wanted files (an
// unwanted one stays skipped, its priority not kept); low is normal, as
// Lodestone has no low. An index out of range is refused, as
// Transmission does.
func (c fileChoices) priorities(cur []api.TaskFile) (map[int]string, error) {
	n := len(cur)
	all := func(idx []int) ([]int, error) {
		if len(idx) == 0 {
			out := make([]int, n)
			for i := range out {
				out[i] = i
			}
			return out, nil
		}
		for _, i := range idx {
			if i < 0 || i >= n {
				return nil, failed(codeFileIndexOOR, "file index out of range")
			}
		}
		return idx, nil
	}
	next := make([]string, n)
	for i, f := range cur {
		next[i] = f.Priority
	}
	steps := []struct {
		has bool
		idx []int
		fn  func(i int)
	}{
		{c.hasUnwant, c.unwanted, func(i int) { next[i] = api.PrioritySkip }},
		{c.hasWanted, c.wanted, func(i int) {
			if next[i] == api.PrioritySkip {
				next[i] = api.PriorityNormal
			}
		}},
		{c.hasHigh, c.high, func(i int) {
			if next[i] != api.PrioritySkip {
				next[i] = api.PriorityHigh
			}
		}},
		{c.hasLow, c.low, func(i int) {
			if next[i] != api.PrioritySkip {
				next[i] = api.PriorityNormal
			}
		}},
		{c.hasNormal, c.normal, func(i int) {
			if next[i] != api.PrioritySkip {
				next[i] = api.PriorityNormal
			}
		}},
	}
	for _, s := range steps {
		if !s.has {
			continue
		}
		idx, err := all(s.idx)
		if err != nil {
			return nil, err
		}
		for _, i := range idx {
			s.fn(i)
		}
	}
	out := map[int]string{}
	for i, p := range next {
		if p != cur[i].Priority {
			out[i] = p
		}
	}
	return out, nil
}

// applyFileChoices sets the file priorities c asks of task id.
func (h *Handler) applyFileChoices(id string, c fileChoices) error {
	fs, err := h.svc.Files(id)
	if err != nil {
		return err
	}
	prios, err := c.priorities(fs.Files)
	if err != nil || len(prios) == 0 {
		return err
	}
	_, err = h.svc.Set(id, api.TaskSetParams{TaskID: id, FilePriorities: prios})
	return err
}

// limitArgs are a limit's value (kB/s, Transmission's 1000 bytes) and
// switch, either absent.
type limitArgs struct {
	kb         int64
	hasKB      bool
	on, hasOn  bool
	key, onKey string
}

func parseLimit(a args, key, onKey string) (limitArgs, error) {
	l := limitArgs{key: key, onKey: onKey}
	var err error
	if l.kb, l.hasKB, err = a.integer(key); err != nil {
		return l, err
	}
	if l.hasKB && (l.kb < 0 || l.kb > math.MaxInt64/1000) {
		return l, invalid(key, "a number of kB/s from 0")
	}
	if l.on, l.hasOn, err = a.boolean(onKey); err != nil {
		return l, err
	}
	return l, nil
}

// resolve returns the new limit in bytes per second (0: none) given the
// current one, and whether it changes (see resolveNum).
func (h *Handler) resolve(l limitArgs, mem string, cur int64) (int64, bool) {
	v, ok := h.resolveNum(numArg{float64(l.kb), l.hasKB, l.on, l.hasOn}, mem, float64(cur)/1000)
	if !ok {
		return cur, false
	}
	b := int64(v) * 1000
	return b, b != cur
}

// limitKB is a limit in kB/s as reported: the one in force, or the one
// remembered while it is off.
func (h *Handler) limitKB(mem string, cur int64) int64 {
	if cur > 0 {
		return cur / 1000
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return int64(h.off[mem])
}

// trackerArgs are torrent-set's tracker arguments.
type trackerArgs struct {
	add     []string
	remove  []int
	replace []struct {
		id  int
		url string
	}
	list    string
	hasList bool
}

func parseTrackers(a args) (trackerArgs, error) {
	var t trackerArgs
	var err error
	if t.add, _, err = a.strs("tracker_add"); err != nil {
		return t, err
	}
	if t.remove, _, err = a.ints("tracker_remove"); err != nil {
		return t, err
	}
	if raw, ok := a["tracker_replace"]; ok {
		var pairs []any
		if err := decodeJSON(raw, &pairs); err != nil || len(pairs)%2 != 0 {
			return t, invalid("tracker_replace", "an array of tracker id and URL pairs")
		}
		for i := 0; i < len(pairs); i += 2 {
			id, ok1 := pairs[i].(float64)
			u, ok2 := pairs[i+1].(string)
			if !ok1 || !ok2 || id != math.Trunc(id) {
				return t, invalid("tracker_replace", "an array of tracker id and URL pairs")
			}
			t.replace = append(t.replace, struct {
				id  int
				url string
			}{int(id), u})
		}
	}
	if t.list, t.hasList, err = a.str("tracker_list"); err != nil {
		return t, err
	}
	return t, nil
}

// apply edits task id's trackers. Ids are indices into its current list
// (as torrent-get's trackers and trackerStats give them); an unknown id
// is refused, as Transmission refuses it.
func (t trackerArgs) apply(svc Service, id string) error {
	if len(t.add) == 0 && len(t.remove) == 0 && len(t.replace) == 0 && !t.hasList {
		return nil
	}
	res, err := svc.Trackers(id)
	if err != nil {
		return err
	}
	cur := make([]string, len(res.Trackers))
	for i, tr := range res.Trackers {
		cur[i] = tr.URL
	}
	byID := func(i int) (string, error) {
		if i < 0 || i >= len(cur) {
			return "", failed(codeInvalidTracker, "unknown tracker id %d", i)
		}
		return cur[i], nil
	}
	var add, remove []string
	for _, i := range t.remove {
		u, err := byID(i)
		if err != nil {
			return err
		}
		remove = append(remove, u)
	}
	for _, r := range t.replace {
		u, err := byID(r.id)
		if err != nil {
			return err
		}
		remove = append(remove, u)
		add = append(add, r.url)
	}
	add = append(add, t.add...)
	if t.hasList {
		// The whole list: one URL a line, blank lines between tiers.
		var want []string
		for _, line := range strings.Split(t.list, "\n") {
			if u := strings.TrimSpace(line); u != "" {
				want = append(want, u)
			}
		}
		for _, u := range cur {
			if !slices.Contains(want, u) {
				remove = append(remove, u)
			}
		}
		for _, u := range want {
			if !slices.Contains(cur, u) {
				add = append(add, u)
			}
		}
	}
	if len(remove) > 0 {
		if _, err := svc.RemoveTrackers(id, remove); err != nil {
			return trackerErr(err)
		}
	}
	if len(add) > 0 {
		if _, err := svc.AddTrackers(id, add); err != nil {
			return trackerErr(err)
		}
	}
	return nil
}

func trackerErr(err error) error {
	if errors.Is(err, service.ErrInvalidParams) {
		return failed(codeInvalidTracker, "%v", err)
	}
	return err
}

func (h *Handler) torrentSet(_ context.Context, a args) (map[string]any, error) {
	// Every argument is checked before any task is changed.
	labels, hasLabels, err := a.strs("labels")
	if err != nil {
		return nil, err
	}
	fc, err := parseFileChoices(a)
	if err != nil {
		return nil, err
	}
	down, err := parseLimit(a, "download_limit", "download_limited")
	if err != nil {
		return nil, err
	}
	up, err := parseLimit(a, "upload_limit", "upload_limited")
	if err != nil {
		return nil, err
	}
	seed, err := parseSeedLimits(a)
	if err != nil {
		return nil, err
	}
	tr, err := parseTrackers(a)
	if err != nil {
		return nil, err
	}
	seq, hasSeq, err := a.boolean("sequential_download")
	if err != nil {
		return nil, err
	}
	qpos, hasQpos, err := a.integer("queue_position")
	if err != nil {
		return nil, err
	}
	if hasQpos && qpos < 0 {
		return nil, invalid("queue_position", "a position from 0")
	}
	// Accepted and not used (docs/COMPAT.md): bandwidth priority, peer
	// limit, honoring the session's limits (always), bandwidth group,
	// location (Transmission documents it here but does not act on it:
	// torrent-set-location moves).
	for _, k := range []string{"bandwidth_priority", "peer_limit", "sequential_download_from_piece"} {
		if _, _, err := a.integer(k); err != nil {
			return nil, err
		}
	}
	if _, _, err := a.boolean("honors_session_limits"); err != nil {
		return nil, err
	}
	for _, k := range []string{"group", "location"} {
		if _, _, err := a.str(k); err != nil {
			return nil, err
		}
	}
	sel, err := h.selected(a)
	if err != nil {
		return nil, err
	}
	session, err := h.svc.Settings()
	if err != nil {
		return nil, err
	}
	for _, t := range sel.tasks {
		err := h.setOne(t, session, setArgs{labels, hasLabels, fc, down, up, seed, tr, seq, hasSeq})
		if err == nil && hasQpos {
			err = h.queueTo(t, int(qpos))
		}
		if err != nil && !errors.Is(err, service.ErrTaskNotFound) {
			return nil, err
		}
	}
	return nil, nil
}

// setArgs are torrent-set's checked arguments.
type setArgs struct {
	labels    []string
	hasLabels bool
	files     fileChoices
	down, up  limitArgs
	seed      seedArgs
	trackers  trackerArgs
	seq       bool
	hasSeq    bool
}

func (h *Handler) setOne(t api.Task, session api.Settings, s setArgs) error {
	p := api.TaskSetParams{TaskID: t.TaskID}
	changed := false
	if s.hasLabels {
		l := s.labels
		p.Labels, changed = &l, true
	}
	if v, ok := h.resolve(s.down, "task_down/"+t.TaskID, t.DownloadRateLimit); ok {
		p.DownloadRateLimit, changed = &v, true
	}
	if v, ok := h.resolve(s.up, "task_up/"+t.TaskID, t.UploadRateLimit); ok {
		p.UploadRateLimit, changed = &v, true
	}
	if s.hasSeq {
		q := s.seq
		p.Sequential, changed = &q, true
	}
	if s.seed.apply(&p, t, session) {
		changed = true
	}
	if !s.files.empty() {
		fs, err := h.svc.Files(t.TaskID)
		if err != nil {
			return err
		}
		prios, err := s.files.priorities(fs.Files)
		if err != nil {
			return err
		}
		if len(prios) > 0 {
			p.FilePriorities, changed = prios, true
		}
	}
	if changed {
		if _, err := h.svc.Set(t.TaskID, p); err != nil {
			return err
		}
	}
	return s.trackers.apply(h.svc, t.TaskID)
}
