// Package api is the wire contract of Lodestone's WebSocket API: the three
// message envelopes, method and event names, task states, error codes and the
// params, result and event payload types.
//
// It depends on the standard library only, so that any Go program can import
// it to speak to a daemon. Every wire name is an explicit constant: renaming a
// Go identifier never changes the protocol. docs/API.md is the prose
// reference; this package is its machine-readable twin.
package api

import "encoding/json"

// Version is the API version reported by server.info. Version 1 is the
// first release; later versions will only add methods, events and fields:
// existing messages never change meaning.
const Version = 1

// Path is the HTTP path of the WebSocket endpoint.
const Path = "/ws"

// Request is a message from client to server asking for an action.
type Request struct {
	// ID is chosen by the client and echoed in the Response.
	ID string `json:"id"`
	// Method names the action, e.g. MethodTaskAdd.
	Method string `json:"method"`
	// Params holds the method's parameters, a JSON object.
	Params json.RawMessage `json:"params,omitempty"`
}

// Response answers one Request.
type Response struct {
	// ID is the ID of the request answered; "" when none could be read.
	ID string `json:"id"`
	// Error is 0 on success, else one of the Code constants.
	Error Code `json:"error"`
	// Message explains a non-zero Error in words; absent on success.
	Message string `json:"message,omitempty"`
	// Result is the method's result; JSON null when Error is non-zero.
	Result json.RawMessage `json:"result"`
}

// Event is a message pushed by the server.
type Event struct {
	// ID is unique for the daemon's data directory, across restarts. It is
	// the decimal form of an increasing sequence number.
	ID string `json:"id"`
	// Name is one of the Event* constants.
	Name string `json:"name"`
	// Node is, in cluster mode, the node the event comes from; absent
	// otherwise.
	Node string `json:"node,omitempty"`
	// Data is the event's payload, a JSON object.
	Data json.RawMessage `json:"data"`
}

// Method names.
const (
	MethodTaskAdd     = "task.add"
	MethodTaskList    = "task.list"
	MethodTaskGet     = "task.get"
	MethodTaskPause   = "task.pause"
	MethodTaskResume  = "task.resume"
	MethodTaskRemove  = "task.remove"
	MethodTaskRecheck = "task.recheck"
	MethodTaskSet     = "task.set"
	MethodTaskFiles   = "task.files"
	MethodTaskPeers   = "task.peers"
	MethodTaskMove    = "task.move"
	MethodTaskPieces  = "task.pieces"

	MethodTaskQueueMove  = "task.queue_move"
	MethodTaskReannounce = "task.reannounce"

	MethodTaskTrackers       = "task.trackers"
	MethodTaskAddTrackers    = "task.add_trackers"
	MethodTaskRemoveTrackers = "task.remove_trackers"

	// MethodTaskExport returns a task's .torrent file.
	MethodTaskExport = "task.export"

	MethodSessionStats = "session.stats"
	MethodSessionGet   = "session.get"
	MethodSessionSet   = "session.set"

	MethodEventsSubscribe = "events.subscribe"
	MethodEventsReplay    = "events.replay"

	MethodServerInfo = "server.info"

	MethodCategoryList   = "category.list"
	MethodCategorySet    = "category.set"
	MethodCategoryRemove = "category.remove"
)

// Event names.
const (
	EventEngineAlert  = "engine.alert"
	EventTaskFinished = "task.finished"
	EventTaskMetadata = "task.metadata"
	EventTaskState    = "task.state"
	EventTaskAdded    = "task.added"
	EventTaskRemoved  = "task.removed"
	EventTaskProgress = "task.progress"
	EventTaskError    = "task.error"
	// EventTaskQueue: a task moved in the queue order (task.queue_move).
	EventTaskQueue = "task.queue"
	// EventTaskChanged: a request changed a task's settings (see
	// TaskChangedData).
	EventTaskChanged = "task.changed"
	// EventCategoryChanged carries every category after the set changed.
	EventCategoryChanged = "category.changed"
	// EventSessionStats carries the session.stats result every second.
	EventSessionStats = "session.stats"
)

// EventNames lists every event name, for events.subscribe.
var EventNames = []string{
	EventEngineAlert, EventTaskFinished, EventTaskMetadata, EventTaskState,
	EventTaskAdded, EventTaskRemoved, EventTaskProgress, EventTaskError,
	EventSessionStats, EventTaskChanged, EventCategoryChanged, EventTaskQueue,
	EventWatchChanged,
	EventRSSItemAdded,
	EventTaskMoved, EventClusterNode,
}

// EphemeralEvents are snapshots that are not logged, so never replayed.
var EphemeralEvents = []string{EventTaskProgress, EventSessionStats}

// DefaultEvents are the events a new connection receives: all but the
// EphemeralEvents, which a client asks for with events.subscribe.
var DefaultEvents = []string{
	EventEngineAlert, EventTaskFinished, EventTaskMetadata, EventTaskState,
	EventTaskAdded, EventTaskRemoved, EventTaskError,
	EventTaskChanged, EventCategoryChanged, EventTaskQueue,
	EventWatchChanged,
	EventRSSItemAdded,
	EventTaskMoved, EventClusterNode,
}

// Task types accepted by task.add.
const (
	TaskTypeMagnet  = "magnet"
	TaskTypeTorrent = "torrent"
	// TaskTypeURL: Data is an http(s) URL of a .torrent file, fetched by
	// the daemon.
	TaskTypeURL = "url"
)

// TaskState is the state of a task as seen on the wire.
type TaskState string

// Task states.
const (
	// StateMetadata: a magnet task waiting for the torrent's metadata.
	StateMetadata TaskState = "metadata"
	// StateChecking: verifying data already on disk.
	StateChecking TaskState = "checking"
	// StateDownloading: fetching data.
	StateDownloading TaskState = "downloading"
	// StateSeeding: all data verified on disk; uploading to others.
	StateSeeding TaskState = "seeding"
	// StatePaused: stopped by the user.
	StatePaused TaskState = "paused"
	// StateError: stopped by an error; Task.Error says which.
	StateError TaskState = "error"
	// StateQueued: waiting for a download slot (max_active_downloads).
	StateQueued TaskState = "queued"
	// StateFinished: all wanted data verified and the seeding limit
	// (ratio or time) reached: no longer uploading.
	StateFinished TaskState = "finished"
)

// TaskStates lists every state.
var TaskStates = []TaskState{
	StateMetadata, StateChecking, StateDownloading, StateSeeding,
	StatePaused, StateError, StateQueued, StateFinished,
}

// File priorities, as in TaskFile.Priority and TaskSetParams.FilePriorities.
const (
	// PrioritySkip: the file is not downloaded.
	PrioritySkip = "skip"
	// PriorityNormal: the default.
	PriorityNormal = "normal"
	// PriorityHigh: the file's pieces are fetched first.
	PriorityHigh = "high"
)

// Priorities lists every file priority.
var Priorities = []string{PrioritySkip, PriorityNormal, PriorityHigh}

// Busy values of Task.Busy: slow work a task is doing in the background.
// While busy, the task transfers nothing and its state stays the one it had
// when the work began.
const (
	// BusyMoving: task.move is moving the task's data.
	BusyMoving = "moving"
	// BusyRemoving: task.remove is dropping the task and deleting its data.
	BusyRemoving = "removing"
)

// NetworkDown is Task.Network while the interface the daemon is bound to
// (serve --bind-interface) is down or has no address.
const NetworkDown = "down"

// Alert levels of engine.alert.
const (
	LevelInfo    = "info"
	LevelWarning = "warning"
	LevelError   = "error"
)
