// Package watch turns the .torrent and .magnet files dropped into watched
// folders into tasks (issue 17): it keeps the list of watched folders
// (watch.add, watch.list, watch.remove), scans them, adds each file's
// tasks through the service, and renames the file NAME.added or
// NAME.invalid.
//
// The rules, which docs/API.md ("Watch folders") states for users:
//   - A file is taken only once its size and modification time are the
//     same in two consecutive scans, and it is not empty; it is read whole
//     and parsed before anything is added. A file that does not parse is
//     retried while it changes, and is renamed *.invalid only once it has
//     been unchanged for Options.InvalidAfter: a writer that pauses
//     between scans is never taken half-read.
//   - A restart never adds a file's tasks twice: before its first add, the
//     file (path, size, modification time, SHA-256 of its content) is
//     recorded in the store with how many of its items are done, updated
//     after each acknowledged add, and deleted after the rename. A restart
//     that finds the file still matching its record resumes after the
//     items done; the one item that may have been in flight is added
//     again, which the service answers with the existing task (task.add of
//     a known info-hash adds nothing).
//   - Folders lie inside the download roots or a --watch-root (symlinks
//     resolved), checked at watch.add and again at every scan.
package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// Service is what the watcher needs of the task service.
type Service interface {
	// Add adds a task, as task.add does (every rule of task.add holds).
	Add(ctx context.Context, p api.TaskAddParams) (api.TaskAddResult, error)
	// Categories returns the categories, for watch.add to check.
	Categories() []api.Category
}

// Publisher publishes events (the daemon's hub).
type Publisher interface {
	Publish(name string, data any) (api.Event, error)
}

// Store is the durable state the watcher keeps (internal/store).
type Store interface {
	Watches() ([]store.Watch, error)
	PutWatch(store.Watch) error
	DeleteWatch(path string) error
	WatchAdds() ([]store.WatchAdd, error)
	WatchAdd(path string) (store.WatchAdd, error)
	PutWatchAdd(store.WatchAdd) error
	DeleteWatchAdd(path string) error
}

// DefaultInterval is the time between two scans of the watched folders.
const DefaultInterval = 2 * time.Second

// Options configure a Watcher.
type Options struct {
	Store   Store
	Service Service
	Events  Publisher
	// Roots are the dirs a watched folder may lie in: the download dir,
	// the download roots and the --watch-root dirs. They are resolved
	// (symlinks) at every check, so a root created later counts.
	Roots []string
	// Interval is the time between scans; 0 is DefaultInterval.
	Interval time.Duration
	// InvalidAfter is how long a file that does not parse must stay
	// unchanged before it is renamed *.invalid; 0 is ten intervals.
	InvalidAfter time.Duration
	// Logger receives the watcher's logs; nil discards them.
	Logger *slog.Logger
}

// Watcher keeps the watched folders and scans them. Create it with New,
// run its scans with Run.
type Watcher struct {
	opts Options
	log  *slog.Logger
	// kick asks Run for a scan now (after watch.add); never blocks.
	kick chan struct{}

	// mu guards folders and the counters in them; scanning state
	// (folder.files) belongs to Run's goroutine alone.
	mu      sync.Mutex
	folders map[string]*folder
}

// folder is a watched folder.
type folder struct {
	// Guarded by Watcher.mu.
	rec       store.Watch
	added     int
	invalid   int
	lastError string

	// Run's goroutine only.
	problem string               // the folder's own problem alerted last ("" none)
	files   map[string]fileState // by name, as seen by the last scan
}

// New loads the watched folders from the store.
func New(opts Options) (*Watcher, error) {
	if opts.Store == nil || opts.Service == nil || opts.Events == nil {
		return nil, errors.New("watch: Store, Service and Events are required")
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.InvalidAfter <= 0 {
		opts.InvalidAfter = 10 * opts.Interval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{opts: opts, log: opts.Logger, kick: make(chan struct{}, 1), folders: map[string]*folder{}}
	recs, err := opts.Store.Watches()
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	for _, r := range recs {
		w.folders[r.Path] = &folder{rec: r, files: map[string]fileState{}}
	}
	return w, nil
}

// Add watches the folder p.Path (watch.add), or gives a watched one the
// category p.Category, durably, and returns it. The path must be
// absolute, an existing dir, inside a root (else an *api.Error 103); the
// category must exist (else 208).
func (w *Watcher) Add(_ context.Context, p api.WatchAddParams) (api.Watch, error) {
	path, err := cleanPath(p.Path)
	if err != nil {
		return api.Watch{}, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return api.Watch{}, invalidParams("path %s: %v", path, err)
	}
	if !fi.IsDir() {
		return api.Watch{}, invalidParams("path %s is not a directory", path)
	}
	if _, err := w.inRoots(path); err != nil {
		return api.Watch{}, err
	}
	cat := strings.TrimSpace(p.Category)
	if cat != "" && !slices.ContainsFunc(w.opts.Service.Categories(), func(c api.Category) bool { return c.Name == cat }) {
		return api.Watch{}, &api.Error{Code: api.CodeNoSuchCategory, Message: fmt.Sprintf("no such category %q (create it with category.set)", cat)}
	}
	w.mu.Lock()
	f := w.folders[path]
	rec := store.Watch{Path: path, Category: cat, CreatedAt: time.Now().UTC().Truncate(time.Second)}
	if f != nil {
		rec.CreatedAt = f.rec.CreatedAt
	}
	// Durable before the answer. Under mu, so that a concurrent remove
	// cannot interleave between the store and the map.
	if err := w.opts.Store.PutWatch(rec); err != nil {
		w.mu.Unlock()
		return api.Watch{}, err
	}
	if f == nil {
		f = &folder{files: map[string]fileState{}}
		w.folders[path] = f
	}
	f.rec = rec
	out := f.wireLocked()
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	w.log.Info("folder watched", "path", path, "category", cat)
	w.changed(api.WatchChangedData{Path: path})
	return out, nil
}

// List returns the watched folders, sorted by path (watch.list).
func (w *Watcher) List(context.Context, struct{}) (api.WatchListResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := api.WatchListResult{Watches: make([]api.Watch, 0, len(w.folders))}
	for _, f := range w.folders {
		out.Watches = append(out.Watches, f.wireLocked())
	}
	slices.SortFunc(out.Watches, func(a, b api.Watch) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// Remove stops watching p.Path, durably (watch.remove): an *api.Error 209
// when it is not watched. Files in the folder stay as they are.
func (w *Watcher) Remove(_ context.Context, p api.WatchRemoveParams) (api.Empty, error) {
	path, err := cleanPath(p.Path)
	if err != nil {
		return api.Empty{}, err
	}
	w.mu.Lock()
	if w.folders[path] == nil {
		w.mu.Unlock()
		return api.Empty{}, &api.Error{Code: api.CodeNoSuchWatch, Message: fmt.Sprintf("%s is not watched", path)}
	}
	if err := w.opts.Store.DeleteWatch(path); err != nil {
		w.mu.Unlock()
		return api.Empty{}, err
	}
	delete(w.folders, path)
	w.mu.Unlock()
	w.log.Info("folder no longer watched", "path", path)
	w.changed(api.WatchChangedData{Path: path, Removed: true})
	return api.Empty{}, nil
}

// changed publishes watch.changed, for the UI; the change is durable
// already, so a failure to publish is only logged.
func (w *Watcher) changed(d api.WatchChangedData) {
	if _, err := w.opts.Events.Publish(api.EventWatchChanged, d); err != nil {
		w.log.Error("publish watch.changed", "err", err)
	}
}

// wireLocked renders f for the wire. Watcher.mu must be held.
func (f *folder) wireLocked() api.Watch {
	return api.Watch{
		Path: f.rec.Path, Category: f.rec.Category, CreatedAt: f.rec.CreatedAt.Unix(),
		Added: f.added, Invalid: f.invalid, LastError: f.lastError,
	}
}

// cleanPath checks that p is absolute and returns it cleaned.
func cleanPath(p string) (string, error) {
	if strings.TrimSpace(p) == "" {
		return "", invalidParams("path is required")
	}
	if !filepath.IsAbs(p) {
		return "", invalidParams("path %q is not absolute", p)
	}
	return filepath.Clean(p), nil
}

// inRoots returns path with its symlinks resolved, or an *api.Error 103
// when that is not inside (or one of) the roots. path must exist.
func (w *Watcher) inRoots(path string) (string, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", invalidParams("path %s: %v", path, err)
	}
	var roots []string
	for _, r := range w.opts.Roots {
		rr, err := filepath.Abs(r)
		if err != nil {
			continue
		}
		if res, err := filepath.EvalSymlinks(rr); err == nil {
			rr = res
		}
		if real == rr || within(rr, real) {
			return real, nil
		}
		roots = append(roots, rr)
	}
	return "", invalidParams("path %s (%s) is outside the download roots and watch roots %v", path, real, roots)
}

// within reports whether p lies strictly inside dir (both clean and
// absolute).
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

func invalidParams(format string, args ...any) error {
	return &api.Error{Code: api.CodeInvalidParams, Message: fmt.Sprintf(format, args...)}
}
