package transmission

import (
	"cmp"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/service"
)

// The torrent methods other than torrent-get and torrent-set.

func (h *Handler) torrentAdd(ctx context.Context, a args) (map[string]any, error) {
	filename, _, err := a.str("filename")
	if err != nil {
		return nil, err
	}
	metainfo, _, err := a.str("metainfo")
	if err != nil {
		return nil, err
	}
	dir, _, err := a.str("download_dir")
	if err != nil {
		return nil, err
	}
	paused, _, err := a.boolean("paused")
	if err != nil {
		return nil, err
	}
	labels, _, err := a.strs("labels")
	if err != nil {
		return nil, err
	}
	seq, _, err := a.boolean("sequential_download")
	if err != nil {
		return nil, err
	}
	// The file choices are checked before anything is added.
	fc, err := parseFileChoices(a)
	if err != nil {
		return nil, err
	}
	// cookies, peer-limit and bandwidthPriority are accepted and not
	// used (docs/COMPAT.md); their types are still checked.
	if _, _, err := a.str("cookies"); err != nil {
		return nil, err
	}
	for _, k := range []string{"peer_limit", "bandwidth_priority"} {
		if _, _, err := a.integer(k); err != nil {
			return nil, err
		}
	}
	p := api.TaskAddParams{Paused: paused, Labels: labels, DownloadDir: dir, Sequential: seq}
	lower := strings.ToLower(filename)
	switch {
	case metainfo != "":
		p.Type, p.Data = api.TaskTypeTorrent, metainfo
	case strings.HasPrefix(lower, "magnet:"):
		p.Type, p.Data = api.TaskTypeMagnet, filename
	case strings.HasPrefix(lower, "http://"), strings.HasPrefix(lower, "https://"):
		p.Type, p.Data = api.TaskTypeURL, filename
	case filename != "":
		// Transmission also reads a file on its own disk; an RPC client
		// must not make the daemon read its local files.
		return nil, badArgs("torrent-add: filename must be a magnet link or an http(s) URL")
	default:
		return nil, badArgs("no filename or metainfo specified")
	}
	// The service answers a duplicate add with the task it has; whether
	// it had it is told by the tasks before the add (a task added through
	// the WebSocket API may have no id yet, so the id table cannot tell).
	before := h.svc.List(service.ListFilter{})
	res, err := h.svc.Add(ctx, p)
	if err != nil {
		return nil, err
	}
	dup := slices.ContainsFunc(before, func(t api.Task) bool { return t.TaskID == res.TaskID })
	ids, err := h.ids.assign([]string{res.TaskID}, nil)
	if err != nil {
		return nil, err
	}
	if !dup && !fc.empty() {
		// Applied once the task exists (its file list is the torrent's);
		// refused, the task is removed again: a failed add adds nothing.
		// A magnet has no file list before its metadata: its choices are
		// refused (torrent-set them once it has one).
		err := h.applyFileChoices(res.TaskID, fc)
		if err == nil && p.Type != api.TaskTypeTorrent {
			if fs, ferr := h.svc.Files(res.TaskID); ferr == nil && len(fs.Files) == 0 {
				err = badArgs("torrent-add: file choices need the torrent's metadata; set them with torrent-set once it has arrived")
			}
		}
		if err != nil {
			if rerr := h.svc.Remove(ctx, res.TaskID, false); rerr != nil {
				h.log.Warn("torrent-add: could not remove the task whose file choices were refused", "task_id", res.TaskID, "err", rerr)
			}
			h.ids.forget(res.TaskID)
			return nil, err
		}
	}
	key := "torrent-added"
	if dup {
		key = "torrent-duplicate"
	}
	return map[string]any{key: map[string]any{
		"id": ids[res.TaskID], "hashString": res.TaskID, "name": res.Name,
	}}, nil
}

// selection is what an ids argument names.
type selection struct {
	tasks []api.Task     // in id order
	ids   map[string]int // every live task's id
	// recent: the ids were "recently-active"; removed lists the ids
	// removed within the window.
	recent  bool
	removed []int
}

// selected returns the tasks named by the ids argument: absent, all; a
// number; a hash; "recently-active" (or "recently_active"); an array of
// numbers and hashes. Every live task is given its id on the way, and the
// tasks gone since are dropped from the table.
func (h *Handler) selected(a args) (selection, error) {
	all := h.svc.List(service.ListFilter{})
	names := make([]string, len(all))
	live := make(map[string]bool, len(all))
	for i, t := range all {
		names[i] = t.TaskID
		live[t.TaskID] = true
	}
	// A task missing from this list may have been added since it was
	// taken (by a request running beside this one): only the service's
	// word drops it from the table.
	ids, err := h.ids.assign(names, func(task string) bool {
		if live[task] {
			return true
		}
		_, err := h.svc.Get(task)
		return !errors.Is(err, service.ErrTaskNotFound)
	})
	if err != nil {
		return selection{}, err
	}
	slices.SortStableFunc(all, func(x, y api.Task) int { return cmp.Compare(ids[x.TaskID], ids[y.TaskID]) })
	sel := selection{tasks: all, ids: ids}
	raw, ok := a["ids"]
	if !ok {
		return sel, nil
	}
	var list []any
	if err := decodeJSON(raw, &list); err != nil {
		var one any
		if err := decodeJSON(raw, &one); err != nil {
			return selection{}, invalid("ids", "a number, a hash, \"recently-active\" or an array of numbers and hashes")
		}
		if s, ok := one.(string); ok && snake(s) == "recently_active" {
			now := time.Now()
			sel.recent = true
			sel.removed = h.ids.recentlyRemoved(now.Add(-recentWindow))
			sel.tasks = slices.DeleteFunc(sel.tasks, func(t api.Task) bool { return !recentlyActive(t, now) })
			return sel, nil
		}
		list = []any{one}
	}
	wantID := map[int]bool{}
	wantHash := map[string]bool{}
	for _, v := range list {
		switch v := v.(type) {
		case float64:
			if v != float64(int(v)) {
				return selection{}, invalid("ids", "whole numbers")
			}
			wantID[int(v)] = true
		case string:
			wantHash[strings.ToLower(v)] = true
		default:
			return selection{}, invalid("ids", "numbers and hashes")
		}
	}
	sel.tasks = slices.DeleteFunc(sel.tasks, func(t api.Task) bool {
		return !wantID[ids[t.TaskID]] && !wantHash[t.TaskID]
	})
	return sel, nil
}

// recentlyActive reports whether t moved payload, was added or finished
// within recentWindow of now.
func recentlyActive(t api.Task, now time.Time) bool {
	since := now.Add(-recentWindow)
	for _, ts := range []string{activeAt(t), t.AddedAt, t.FinishedAt} {
		if ts == "" {
			continue
		}
		if at, err := time.Parse(time.RFC3339, ts); err == nil && !at.Before(since) {
			return true
		}
	}
	return t.DownloadRate > 0 || t.UploadRate > 0
}

// each runs op on every selected task. A task removed meanwhile is
// skipped, as Transmission skips ids it does not know.
func (h *Handler) each(a args, op func(id string) error) (map[string]any, error) {
	sel, err := h.selected(a)
	if err != nil {
		return nil, err
	}
	for _, t := range sel.tasks {
		if err := op(t.TaskID); err != nil && !errors.Is(err, service.ErrTaskNotFound) {
			return nil, err
		}
	}
	return nil, nil
}

func (h *Handler) torrentStart(ctx context.Context, a args) (map[string]any, error) {
	return h.each(a, func(id string) error { return h.svc.Resume(ctx, id) })
}

func (h *Handler) torrentStop(ctx context.Context, a args) (map[string]any, error) {
	return h.each(a, func(id string) error { return h.svc.Pause(ctx, id) })
}

func (h *Handler) torrentVerify(ctx context.Context, a args) (map[string]any, error) {
	return h.each(a, func(id string) error { return h.svc.Recheck(ctx, id) })
}

func (h *Handler) torrentReannounce(ctx context.Context, a args) (map[string]any, error) {
	return h.each(a, func(id string) error { return h.reannounce(ctx, id) })
}

func (h *Handler) torrentRemove(ctx context.Context, a args) (map[string]any, error) {
	del, _, err := a.boolean("delete_local_data")
	if err != nil {
		return nil, err
	}
	return h.each(a, func(id string) error {
		if err := h.svc.Remove(ctx, id, del); err != nil {
			return err
		}
		return h.ids.forget(id)
	})
}

// torrentSetLocation moves tasks (move: true) with the service's Move.
// Without move, Transmission points the task at the new dir and looks for
// its data there. Lodestone can do that only for a task none of whose
// files are in its current dir: Move then moves nothing and the task
// starts over in the new dir, adopting (after hashing) the files it finds
// there. A task that still has files where it is would need them moved,
// which the client did not ask for: refused.
func (h *Handler) torrentSetLocation(_ context.Context, a args) (map[string]any, error) {
	loc, ok, err := a.str("location")
	if err != nil {
		return nil, err
	}
	if !ok || loc == "" {
		return nil, badArgs("no location")
	}
	if !filepath.IsAbs(loc) {
		return nil, failed(codePathNotAbsolute, "new location path is not absolute: %q", loc)
	}
	move, _, err := a.boolean("move")
	if err != nil {
		return nil, err
	}
	sel, err := h.selected(a)
	if err != nil {
		return nil, err
	}
	if !move {
		for _, t := range sel.tasks {
			if filepath.Clean(t.DownloadDir) == filepath.Clean(loc) {
				continue
			}
			if left, err := h.filesIn(t); err != nil {
				return nil, err
			} else if left != "" {
				return nil, failed(codeSystemError, "torrent-set-location without move: %s still has its data in %s (%s); Lodestone cannot point a task elsewhere while its data stays behind: set move to true", t.Name, t.DownloadDir, left)
			}
		}
	}
	for _, t := range sel.tasks {
		if _, err := h.svc.Move(t.TaskID, loc); err != nil && !errors.Is(err, service.ErrTaskNotFound) {
			return nil, err
		}
	}
	return nil, nil
}

// filesIn returns a file of t present in t's download dir, "" if none.
func (h *Handler) filesIn(t api.Task) (string, error) {
	files, err := h.svc.Files(t.TaskID)
	if err != nil {
		return "", err
	}
	for _, f := range files.Files {
		if _, err := os.Lstat(filepath.Join(t.DownloadDir, filepath.FromSlash(f.Path))); !errors.Is(err, fs.ErrNotExist) {
			return f.Path, nil
		}
	}
	return "", nil
}

func (h *Handler) torrentRenamePath(_ context.Context, _ args) (map[string]any, error) {
	return nil, failed(codeSystemError, "torrent-rename-path is not supported by Lodestone: a task's file names are those of its torrent")
}

// queueMove returns the method moving tasks in the queue. Several tasks
// keep their relative order, as Transmission's: they are moved one at a
// time in the order that leaves them so (the first one last to the top,
// the last one first to the bottom).
func queueMove(to string) func(h *Handler, ctx context.Context, a args) (map[string]any, error) {
	return func(h *Handler, _ context.Context, a args) (map[string]any, error) {
		sel, err := h.selected(a)
		if err != nil {
			return nil, err
		}
		ts := slices.Clone(sel.tasks)
		slices.SortStableFunc(ts, func(x, y api.Task) int { return cmp.Compare(queuePosition(x), queuePosition(y)) })
		if to == "top" || to == "down" {
			slices.Reverse(ts)
		}
		for _, t := range ts {
			if _, err := h.queueMove(t.TaskID, to); err != nil && !errors.Is(err, service.ErrTaskNotFound) {
				return nil, err
			}
		}
		return nil, nil
	}
}
