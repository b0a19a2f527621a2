package api

// Watch folders (issue 17): a .torrent or .magnet file dropped into a
// watched folder becomes a task. See docs/API.md, "Watch folders".

// Watch folder methods. All are admin methods.
const (
	MethodWatchAdd    = "watch.add"
	MethodWatchList   = "watch.list"
	MethodWatchRemove = "watch.remove"
)

// EventWatchChanged: a watch was added, changed (its category, counts or
// last_error) or removed (see WatchChangedData), for a UI to refresh
// watch.list. The tasks a watch adds appear as task.added.
const EventWatchChanged = "watch.changed"

// WatchAddParams are the params of watch.add.
type WatchAddParams struct {
	// Path is the folder: absolute, an existing directory inside a
	// download root or a --watch-root (symlinks resolved).
	Path string `json:"path"`
	// Category, when set, is the category of every task the folder adds
	// (so their data goes to its save path). Adding a watched path again
	// replaces its category.
	Category string `json:"category,omitempty"`
}

// Watch is a watched folder: the result of watch.add and an element of
// watch.list.
type Watch struct {
	// Path is the folder, absolute and cleaned, as it was given (not
	// resolved: the watch follows a symlink that is later changed, and
	// the roots are checked again at each scan).
	Path string `json:"path"`
	// Category is the category given to the tasks it adds; "" is none.
	Category string `json:"category"`
	// CreatedAt is when the folder was first watched (unix seconds).
	CreatedAt int64 `json:"created_at"`
	// Added counts the files turned into tasks since the daemon started
	// (a .magnet file counts once).
	Added int `json:"added"`
	// Invalid counts the files renamed *.invalid since the daemon
	// started.
	Invalid int `json:"invalid"`
	// LastError is the last problem of the folder itself or of a file in
	// it (the folder missing, a file that could not be read, renamed or
	// added), "" when the last scan had none.
	LastError string `json:"last_error,omitempty"`
}

// WatchListResult is the result of watch.list.
type WatchListResult struct {
	// Watches are sorted by path.
	Watches []Watch `json:"watches"`
}

// WatchRemoveParams are the params of watch.remove.
type WatchRemoveParams struct {
	Path string `json:"path"`
}

// WatchChangedData is the data of watch.changed.
type WatchChangedData struct {
	Path string `json:"path"`
	// Removed is true when the folder is no longer watched.
	Removed bool `json:"removed,omitempty"`
}
