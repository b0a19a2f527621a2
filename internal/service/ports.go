package service

import (
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/events"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// The service's seams: the narrow interfaces it needs from the parts it
// drives. The daemon passes the real ones (*store.Store, engine.New's
// Engine, *events.Hub); the package's tests pass an in-memory store and a
// fake engine, so a state rule is tested without a swarm or a disk.

// Store is where tasks and settings are kept durably. Every write returns
// only once it is on disk.
type Store interface {
	// Tasks returns every stored task.
	Tasks() ([]store.Task, error)
	// PutTask creates or replaces a task.
	PutTask(t store.Task) error
	// UpdateTask applies fn to the stored task id in one transaction; it
	// fails with store.ErrNotFound when there is no such task. fn may be
	// given the task without its metainfo (the store keeps it apart):
	// setting MetaInfo replaces it, leaving it nil keeps it.
	UpdateTask(id string, fn func(*store.Task)) error
	// UpdateTasks applies each function to its task, all in one
	// transaction, skipping tasks no longer stored; it returns the ids
	// updated.
	UpdateTasks(fns map[string]func(*store.Task)) (updated []string, err error)
	// DeleteTask removes a task and releases its paths; a missing one is
	// not an error.
	DeleteTask(id string) error
	// PutTaskPaths creates or replaces a task and reserves its files'
	// absolute paths, in one transaction; a path another task holds
	// fails it with a *store.PathConflictError, writing nothing.
	PutTaskPaths(t store.Task, paths []string) error
	// UpdateTaskPaths applies fn (when not nil) to a task and replaces
	// its reservation with paths, in one transaction, failing like
	// PutTaskPaths and UpdateTask.
	UpdateTaskPaths(id string, paths []string, fn func(*store.Task)) error
	// UpdateTaskPathsClearJournal is UpdateTaskPaths that also clears the
	// task's journal entry of op (none when op is ""), in the same
	// transaction.
	UpdateTaskPathsClearJournal(id string, paths []string, fn func(*store.Task), op string) error
	// TaskPaths returns the paths reserved for a task; ok is false when
	// none are on record.
	TaskPaths(id string) (paths []string, ok bool, err error)
	// DeleteTaskLeaving is DeleteTask for a task whose files stay on
	// disk: it records them as left by it, in the same transaction.
	DeleteTaskLeaving(id string) error
	// LeftBy returns those of paths whose files the task left on disk
	// when it was removed without its data.
	LeftBy(id string, paths []string) ([]string, error)
	// Settings returns the stored settings (the zero value when none).
	Settings() (store.Settings, error)
	// PutSettings stores the settings and, when peerPort > 0, the peer
	// port, in one transaction.
	PutSettings(set store.Settings, peerPort int) error
	// PeerPort returns the stored peer port, 0 when none.
	PeerPort() (int, error)

	// The journal of file operations under way (journal.go).

	// Journal returns every entry.
	Journal() ([]store.JournalEntry, error)
	// PutJournal records an entry, replacing one of the same op and task.
	PutJournal(e store.JournalEntry) error
	// ClearJournal deletes an entry; a missing one is not an error.
	ClearJournal(op, id string) error
	// DeleteTaskJournaled deletes a task and records e, in one
	// transaction.
	DeleteTaskJournaled(id string, e store.JournalEntry) error
	// UpdateTaskClearJournal applies fn to the stored task id and clears
	// its entry of op, in one transaction; it fails with
	// store.ErrNotFound, clearing nothing, when there is no such task.
	UpdateTaskClearJournal(id string, fn func(*store.Task), op string) error

	// Categories (categories.go).

	// Categories returns every category, ordered by name.
	Categories() ([]store.Category, error)
	// PutCategory creates or replaces a category.
	PutCategory(c store.Category) error
	// DeleteCategory removes a category and sets the category of the
	// tasks ids that are in it to "", in one transaction.
	DeleteCategory(name string, ids []string) error
}

// Engine is the BitTorrent engine the tasks run on.
type Engine interface {
	// Add adds the torrent of spec, or returns the one already added.
	Add(spec engine.Spec) (engine.Torrent, error)
	// Alerts delivers the engine's alerts.
	Alerts() <-chan engine.Alert
	// SetRateLimits caps the engine's total rates (0: none).
	SetRateLimits(down, up int64)
}

// Publisher numbers, logs and sends events.
type Publisher interface {
	// Post numbers an event and starts logging it; Wait on the result
	// says when it is durable and sent. Events leave in Post order.
	Post(name string, data any) (*events.Pending, error)
	// PublishCoalesced sends a snapshot event keyed by key; a newer one
	// replaces an undelivered older one.
	PublishCoalesced(name, key string, data any) error
	// Wanted reports whether any subscriber wants events named name.
	Wanted(name string) bool
	// LastID returns the number of the last event published.
	LastID() (uint64, error)
}

var (
	_ Store     = (*store.Store)(nil)
	_ Publisher = (*events.Hub)(nil)
)
