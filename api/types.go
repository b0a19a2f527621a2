package api

// TaskAddParams are the params of task.add.
type TaskAddParams struct {
	// Type is TaskTypeMagnet, TaskTypeTorrent or TaskTypeURL.
	Type string `json:"type"`
	// Data is a magnet URI, base64 (standard encoding) .torrent data, or
	// an http(s) URL of a .torrent.
	Data string `json:"data"`
	// Paused adds the task without starting it. Optional.
	Paused bool `json:"paused,omitempty"`
	// Labels are the task's labels. Optional.
	Labels []string `json:"labels,omitempty"`
	// Files are the indices (as in task.files) of the files to download;
	// the others are skipped. Optional: all files by default.
	Files []int `json:"files,omitempty"`
	// DownloadDir is where the data goes: absolute, or relative to the
	// default download dir; it must be inside a download root. Optional.
	DownloadDir string `json:"download_dir,omitempty"`
	// Sequential downloads pieces in order. Optional.
	Sequential bool `json:"sequential,omitempty"`
	// Category is the name of the task's category (see Category);
	// optional. Without DownloadDir, the data goes to the category's
	// save path.
	Category string `json:"category,omitempty"`
	// SeedRatioLimit, SeedTimeLimit and SeedIdleLimit are the task's
	// seeding limits, as in TaskSetParams. Optional: the session's
	// (SeedLimitSession) by default.
	SeedRatioLimit *float64 `json:"seed_ratio_limit,omitempty"`
	SeedTimeLimit  *int64   `json:"seed_time_limit,omitempty"`
	SeedIdleLimit  *int64   `json:"seed_idle_limit,omitempty"`
	// MetadataOnly adds the task paused with nothing downloaded: a
	// magnet still fetches its metadata (task.metadata), so that files
	// can be chosen (task.set file_priorities) before task.resume.
	// Optional.
	MetadataOnly bool `json:"metadata_only,omitempty"`
	// Node pins the task to this cluster node instead of letting
	// placement choose (cluster mode; CodeNoNode when it is not live).
	// Optional; refused with CodeNotClustered outside a cluster.
	Node string `json:"node,omitempty"`
}

// TaskExportResult is the result of task.export.
type TaskExportResult struct {
	// Torrent is the task's .torrent file, base64 (standard encoding).
	// Its info dictionary is byte for byte the task's, so its info-hash
	// is the task's id.
	Torrent string `json:"torrent"`
}

// TaskMoveParams are the params of task.move.
type TaskMoveParams struct {
	TaskID string `json:"task_id"`
	// DownloadDir is the new directory, as in TaskAddParams.
	DownloadDir string `json:"download_dir"`
}

// TaskAddResult is the result of task.add.
type TaskAddResult struct {
	TaskID string `json:"task_id"`
	Name   string `json:"name"`
	// Size is the total size of all files; 0 for a magnet until its
	// metadata arrives (see EventTaskMetadata).
	Size int64 `json:"size"`
	// Node is the cluster node the task was placed on (cluster mode);
	// absent otherwise.
	Node string `json:"node,omitempty"`
}

// TaskGetParams are the params of task.get.
type TaskGetParams struct {
	TaskID string `json:"task_id"`
}

// TaskListParams are the params of task.list. Every field is optional.
type TaskListParams struct {
	// State keeps only tasks in this state.
	State TaskState `json:"state,omitempty"`
	// Label keeps only tasks with this label.
	Label string `json:"label,omitempty"`
	// Fields selects the task fields returned (task_id is always
	// included); empty means all.
	Fields []string `json:"fields,omitempty"`
}

// TaskListResult is the result of task.list. With Fields set, each task
// holds only the selected fields: the tag schema:"partial=task_id" makes
// the schema's items a TaskPartial, whose fields but task_id may each be
// absent.
type TaskListResult struct {
	Tasks []Task `json:"tasks" schema:"partial=task_id"`
}

// Task is a task as returned by task.get and task.list.
type Task struct {
	// TaskID is the lowercase hex v1 info-hash: stable across restarts.
	TaskID string `json:"task_id"`
	Name   string `json:"name"`
	// Size is the total size of all files; 0 until metadata is known.
	Size int64 `json:"size"`
	// Completed is the number of bytes verified on disk.
	Completed int64     `json:"completed"`
	State     TaskState `json:"state"`
	// Error explains StateError; absent otherwise.
	Error string `json:"error,omitempty"`
	// Busy names slow work the task is doing in the background (BusyMoving,
	// BusyRemoving); absent when none. Requests about the task that need
	// its data wait for that work or are refused with CodeTaskState.
	Busy string `json:"busy,omitempty"`
	// Network is NetworkDown while the network interface the daemon is
	// bound to (serve --bind-interface) is down or has no address: the
	// task transfers nothing until it is back. Absent otherwise.
	Network string `json:"network,omitempty"`
	// AddedAt is when the task was added, RFC 3339 UTC.
	AddedAt string `json:"added_at"`
	// FinishedAt is when all data was first verified, RFC 3339 UTC; absent
	// until then.
	FinishedAt string `json:"finished_at,omitempty"`
	// DownloadRate and UploadRate are bytes per second, averaged over the
	// last few seconds.
	DownloadRate int64 `json:"download_rate"`
	UploadRate   int64 `json:"upload_rate"`
	// Peers is the number of connected peers.
	Peers int `json:"peers"`
	// Downloaded and Uploaded are payload bytes received and sent over
	// the task's life (kept across restarts; stored every minute and at
	// shutdown, so a crash may lose the last minute's count).
	Downloaded int64 `json:"downloaded"`
	Uploaded   int64 `json:"uploaded"`
	// Ratio is Uploaded / Completed (0 when nothing is completed).
	Ratio float64 `json:"ratio"`
	// ETASeconds estimates the time to finish at the current rate; -1 when
	// unknown or not downloading.
	ETASeconds int64 `json:"eta_seconds"`
	// Pieces is the number of pieces and PieceSize their size; 0 until
	// the metadata is known.
	Pieces    int   `json:"pieces"`
	PieceSize int64 `json:"piece_size"`
	// Labels are the user's labels of the task.
	Labels []string `json:"labels"`
	// Category is the name of the task's category; "" when it has none.
	Category string `json:"category"`
	// DownloadDir is the directory holding the task's data.
	DownloadDir string `json:"download_dir"`
	// Sequential reports that pieces are downloaded in order.
	Sequential bool `json:"sequential"`
	// DownloadRateLimit and UploadRateLimit are this task's caps in bytes
	// per second, 0 for none.
	DownloadRateLimit int64 `json:"download_rate_limit"`
	UploadRateLimit   int64 `json:"upload_rate_limit"`
	// Private reports the torrent's private flag (BEP 27: the info
	// dictionary's "private" is 1); false until the metadata is known.
	Private bool `json:"private"`
	// ActiveAt is the last time payload data moved either way, RFC 3339
	// UTC; absent if none ever did.
	ActiveAt string `json:"active_at,omitempty"`
	// SecondsDownloading and SecondsSeeding are the time the task spent
	// running (not paused, queued, in error or finished) while
	// incomplete, and while complete; kept across restarts like
	// Downloaded and Uploaded.
	SecondsDownloading int64 `json:"seconds_downloading"`
	SecondsSeeding     int64 `json:"seconds_seeding"`
	// QueuePosition is the task's place in the queue order, 0 first:
	// positions are 0 to n-1 over all tasks. Downloads get their slots
	// (max_active_downloads) in this order.
	QueuePosition int `json:"queue_position"`
	// SeedRatioLimit, SeedTimeLimit (seconds since finished_at) and
	// SeedIdleLimit (seconds without upload) end this task's seeding:
	// SeedLimitSession (-2) follows the session's setting, SeedLimitNone
	// (-1) sets none, 0 or more is this task's own limit.
	SeedRatioLimit float64 `json:"seed_ratio_limit"`
	SeedTimeLimit  int64   `json:"seed_time_limit"`
	SeedIdleLimit  int64   `json:"seed_idle_limit"`
	// Node is the id of the cluster node the task runs on (cluster mode,
	// docs/CLUSTER.md); absent for a daemon not in a cluster.
	Node string `json:"node,omitempty"`
}

// Values of the per-task seeding limits (Task.SeedRatioLimit and the
// others).
const (
	// SeedLimitSession: the task follows the session's setting.
	SeedLimitSession = -2
	// SeedLimitNone: the task has no such limit, whatever the session's.
	SeedLimitNone = -1
)

// TaskFieldNames lists the JSON names of Task's fields, for
// TaskListParams.Fields.
var TaskFieldNames = []string{
	"task_id", "name", "size", "completed", "state", "error", "busy", "network", "added_at",
	"finished_at", "download_rate", "upload_rate", "peers", "downloaded",
	"uploaded", "ratio", "eta_seconds", "pieces", "piece_size", "labels",
	"category", "download_dir", "sequential", "download_rate_limit", "upload_rate_limit",
	"private", "active_at", "seconds_downloading", "seconds_seeding",
	"queue_position", "seed_ratio_limit", "seed_time_limit", "seed_idle_limit", "node",
}

// TaskProgressData is the data of task.progress: a snapshot of an active
// task, sent at most once a second per task.
type TaskProgressData struct {
	TaskID       string    `json:"task_id"`
	State        TaskState `json:"state"`
	Size         int64     `json:"size"`
	Completed    int64     `json:"completed"`
	DownloadRate int64     `json:"download_rate"`
	UploadRate   int64     `json:"upload_rate"`
	Peers        int       `json:"peers"`
	ETASeconds   int64     `json:"eta_seconds"`
	// Downloaded, Uploaded and Ratio are as in Task: lifetime totals.
	Downloaded int64   `json:"downloaded"`
	Uploaded   int64   `json:"uploaded"`
	Ratio      float64 `json:"ratio"`
}

// TaskErrorData is the data of task.error: a task entered StateError.
type TaskErrorData struct {
	TaskID string `json:"task_id"`
	Error  string `json:"error"`
}

// TaskSetParams are the params of task.set; absent fields are unchanged.
type TaskSetParams struct {
	TaskID string `json:"task_id"`
	// Select, in place of TaskID: see TaskIDParams.
	Select *TaskSelect `json:"select,omitempty"`
	// Labels replaces the task's labels.
	Labels *[]string `json:"labels,omitempty"`
	// Sequential downloads pieces in order (for playing while
	// downloading), when true.
	Sequential *bool `json:"sequential,omitempty"`
	// DownloadRateLimit and UploadRateLimit cap this task, in bytes per
	// second; 0 removes the cap (the session's limits still apply).
	DownloadRateLimit *int64 `json:"download_rate_limit,omitempty"`
	UploadRateLimit   *int64 `json:"upload_rate_limit,omitempty"`
	// FilePriorities sets the priority of files by index: "skip",
	// "normal" or "high".
	FilePriorities map[int]string `json:"file_priorities,omitempty"`
	// Category puts the task in that category, moving its data (as
	// task.move does) when the category's save path is not the task's
	// download dir; "" takes it out of its category, moving nothing.
	Category *string `json:"category,omitempty"`
	// SeedRatioLimit, SeedTimeLimit and SeedIdleLimit set the task's
	// seeding limits (see Task): SeedLimitSession, SeedLimitNone, or 0
	// or more. Other values are refused.
	SeedRatioLimit *float64 `json:"seed_ratio_limit,omitempty"`
	SeedTimeLimit  *int64   `json:"seed_time_limit,omitempty"`
	SeedIdleLimit  *int64   `json:"seed_idle_limit,omitempty"`
}

// TaskQueueMoveParams are the params of task.queue_move.
type TaskQueueMoveParams struct {
	TaskID string `json:"task_id"`
	// To is QueueTop, QueueUp, QueueDown or QueueBottom.
	To string `json:"to"`
}

// Queue moves of task.queue_move.
const (
	QueueTop    = "top"
	QueueUp     = "up"
	QueueDown   = "down"
	QueueBottom = "bottom"
)

// TaskQueueData is the data of task.queue: a task moved in the queue
// order from position From to position To. The tasks between took one
// step towards From: those at To..From-1 moved down one when To < From,
// those at From+1..To moved up one when To > From.
type TaskQueueData struct {
	TaskID string `json:"task_id"`
	From   int    `json:"from"`
	To     int    `json:"to"`
}

// TaskPiecesResult is the result of task.pieces.
type TaskPiecesResult struct {
	// Pieces is the number of pieces, 0 until the metadata is known.
	Pieces int `json:"pieces"`
	// Have is a bitfield in standard base64: bit 7 of byte 0 is piece 0,
	// set when the piece is verified on disk.
	Have string `json:"have"`
}

// TaskFilesResult is the result of task.files.
type TaskFilesResult struct {
	Files []TaskFile `json:"files"`
}

// TaskFile is one file of a task.
type TaskFile struct {
	Index int `json:"index"`
	// Path is relative to the download dir, slash-separated, starting with
	// the torrent's name.
	Path string `json:"path"`
	Size int64  `json:"size"`
	// Completed counts the file's bytes in verified pieces.
	Completed int64 `json:"completed"`
	// Priority is "skip", "normal" or "high".
	Priority string `json:"priority"`
}

// SessionStats is the result of session.stats.
type SessionStats struct {
	DownloadRate int64 `json:"download_rate"`
	UploadRate   int64 `json:"upload_rate"`
	// Downloaded and Uploaded are payload bytes since the daemon started.
	Downloaded int64 `json:"downloaded"`
	Uploaded   int64 `json:"uploaded"`
	Tasks      int   `json:"tasks"`
	// TasksByState counts tasks per state.
	TasksByState map[TaskState]int `json:"tasks_by_state"`
	// FreeDiskBytes is the free space of the download dir's filesystem.
	FreeDiskBytes int64 `json:"free_disk_bytes"`
}

// EngineAlertData is the data of engine.alert.
type EngineAlertData struct {
	Message string `json:"message"`
	// TaskID is the task the alert is about, when there is one.
	TaskID string `json:"task_id,omitempty"`
	// Level is LevelInfo, LevelWarning or LevelError.
	Level string `json:"level,omitempty"`
}

// TaskFinishedData is the data of task.finished.
type TaskFinishedData struct {
	TaskID string `json:"task_id"`
}

// TaskMetadataData is the data of task.metadata.
type TaskMetadataData struct {
	TaskID string `json:"task_id"`
	Name   string `json:"name"`
	Size   int64  `json:"size"`
}

// TaskStateData is the data of task.state.
type TaskStateData struct {
	TaskID string    `json:"task_id"`
	From   TaskState `json:"from"`
	To     TaskState `json:"to"`
	// Error explains a change to StateError.
	Error string `json:"error,omitempty"`
}

// TaskIDParams are the params of methods that act on one task:
// task.pause, task.resume, task.recheck.
type TaskIDParams struct {
	TaskID string `json:"task_id"`
	// Select, in place of TaskID, acts on every task it selects; the
	// result is then a TaskBulkResult.
	Select *TaskSelect `json:"select,omitempty"`
}

// TaskRemoveParams are the params of task.remove.
type TaskRemoveParams struct {
	TaskID string `json:"task_id"`
	// Select, in place of TaskID: see TaskIDParams.
	Select *TaskSelect `json:"select,omitempty"`
	// DeleteData also deletes the task's own files (only those) from
	// disk. Optional (schema:"optional": false when absent).
	DeleteData bool `json:"delete_data" schema:"optional"`
}

// Empty is the result of methods that return nothing: {}.
type Empty struct{}

// TaskAddedData is the data of task.added.
type TaskAddedData struct {
	TaskID string `json:"task_id"`
	Name   string `json:"name"`
	Size   int64  `json:"size"`
}

// TaskRemovedData is the data of task.removed.
type TaskRemovedData struct {
	TaskID string `json:"task_id"`
	// DataDeleted reports that the task's files were deleted.
	DataDeleted bool `json:"data_deleted"`
}

// EventsSubscribeParams are the params of events.subscribe.
type EventsSubscribeParams struct {
	// Names are the event names the connection receives from now on.
	Names []string `json:"names"`
}

// EventsSubscribeResult is the result of events.subscribe.
type EventsSubscribeResult struct {
	Names []string `json:"names"`
}

// EventsReplayParams are the params of events.replay.
type EventsReplayParams struct {
	// After is the id of the last event the client saw; "0" (or "", or
	// absent) replays the whole log.
	After string `json:"after" schema:"optional"`
}

// EventsReplayResult is the result of events.replay. The replayed events
// follow this response, in order, then live events.
type EventsReplayResult struct {
	// Replayed is how many logged events follow.
	Replayed int `json:"replayed"`
	// Complete is false when events after After were already dropped from
	// the log (it keeps the last 10,000): re-read state with task.list.
	Complete bool `json:"complete"`
}

// ServerInfo is the result of server.info.
type ServerInfo struct {
	Version       string `json:"version"`
	APIVersion    int    `json:"api_version"`
	EngineVersion string `json:"engine_version"`
	// UptimeSeconds since the daemon started.
	UptimeSeconds int64 `json:"uptime_seconds"`
	// LastEventID is at least the id of the last event published and
	// below that of any event to come (ids are reserved in blocks, so it
	// may be above the last id seen): replaying after it yields only
	// future events.
	LastEventID string `json:"last_event_id"`
	// Scope is what this connection's credential may do: "admin" for the
	// token, else the API key's scope (see api/keys.go).
	Scope Scope `json:"scope"`
	// Cluster names the cluster and this node in cluster mode; absent
	// otherwise.
	Cluster *ClusterInfo `json:"cluster,omitempty"`
}

// Settings are the daemon-wide settings of session.get and session.set.
// They persist across restarts. 0 means "no limit" for every limit.
type Settings struct {
	// DownloadRateLimit and UploadRateLimit cap the whole daemon, in bytes
	// per second.
	DownloadRateLimit int64 `json:"download_rate_limit"`
	UploadRateLimit   int64 `json:"upload_rate_limit"`
	// MaxActiveDownloads is how many tasks download at once; the others
	// wait in state queued, oldest first.
	MaxActiveDownloads int `json:"max_active_downloads"`
	// SeedRatioLimit stops uploading a finished task (state finished) once
	// uploaded/completed reaches it.
	SeedRatioLimit float64 `json:"seed_ratio_limit"`
	// SeedTimeLimit stops uploading a finished task this many seconds
	// after it finished.
	SeedTimeLimit int64 `json:"seed_time_limit"`
	// SeedIdleLimit stops uploading a finished task once it has uploaded
	// nothing for this many seconds while seeding.
	SeedIdleLimit int64 `json:"seed_idle_limit"`
	// MaxActiveSeeds is how many finished tasks upload at once; the others
	// wait in state queued, first finished first served.
	MaxActiveSeeds int `json:"max_active_seeds"`
	// DownloadDir is the default download dir of new tasks; it must be
	// inside a download root. "" means the daemon's --download-dir.
	DownloadDir string `json:"download_dir"`
	// PeerPort is the BitTorrent listen port used from the next start
	// (when the daemon is not given --peer-addr); 0 means "keep the
	// current one".
	PeerPort int `json:"peer_port"`
	// Blocklists are the IP blocklists in force: file paths and http(s)
	// URLs, merged (docs/PRIVACY.md). session.set replaces them,
	// reading every one first: one that cannot be read fails the call
	// and changes nothing. Kept across restarts; until set, the daemon's
	// --blocklist flags.
	Blocklists []string `json:"blocklists"`
	// BlocklistRules is how many blocking rules the lists hold, and
	// BlocklistSkipped how many of their lines were skipped as
	// malformed; BlocklistRefused counts the peer addresses and
	// connections refused since the daemon started. Read-only.
	BlocklistRules   int   `json:"blocklist_rules"`
	BlocklistSkipped int   `json:"blocklist_skipped"`
	BlocklistRefused int64 `json:"blocklist_refused"`

	// The network privacy settings (docs/PRIVACY.md, "Settings at
	// runtime"). Each starts as its serve flag says; once session.set
	// changes it, the stored value wins over the flag at every start.

	// BindInterface ties every BitTorrent socket to this network
	// interface, with a kill switch; "" for none. An interface that does
	// not exist yet is accepted (a VPN's may appear later): traffic waits
	// for it.
	BindInterface string `json:"bind_interface"`
	// BindAddress is the local address of every BitTorrent socket; ""
	// for none. It must be an address of this machine.
	BindAddress string `json:"bind_address"`
	// Proxy is the SOCKS5 proxy, socks5://[user:pass@]host:port; "" for
	// none. session.get masks the password (socks5://user:***@host:port);
	// giving that masked form back to session.set keeps the password.
	Proxy string `json:"proxy"`
	// ProxyOnly, with a proxy: nothing leaves but through it (no
	// incoming peers, DHT, uTP or UPnP).
	ProxyOnly bool `json:"proxy_only"`
	// Encryption is the MSE/PE policy of peer connections: "prefer",
	// "require" or "disable".
	Encryption string `json:"encryption"`
	// Anonymous hides Lodestone's name and version from peers and
	// trackers.
	Anonymous bool `json:"anonymous"`
	// RestartRequired names the network settings above that were
	// changed but are not fully in force until the daemon restarts (the
	// engine core cannot change them live); [] when none. Read-only.
	RestartRequired []string `json:"restart_required"`
}

// SessionSetParams are the params of session.set: absent fields are
// unchanged. The result is the new Settings.
type SessionSetParams struct {
	DownloadRateLimit  *int64   `json:"download_rate_limit,omitempty"`
	UploadRateLimit    *int64   `json:"upload_rate_limit,omitempty"`
	MaxActiveDownloads *int     `json:"max_active_downloads,omitempty"`
	SeedRatioLimit     *float64 `json:"seed_ratio_limit,omitempty"`
	SeedTimeLimit      *int64   `json:"seed_time_limit,omitempty"`
	SeedIdleLimit      *int64   `json:"seed_idle_limit,omitempty"`
	MaxActiveSeeds     *int     `json:"max_active_seeds,omitempty"`
	DownloadDir        *string  `json:"download_dir,omitempty"`
	PeerPort           *int     `json:"peer_port,omitempty"`
	// Blocklists replaces the IP blocklists; [] removes them all.
	Blocklists *[]string `json:"blocklists,omitempty"`
	// The network settings (see Settings): a bad value fails the whole
	// call and changes nothing.
	BindInterface *string `json:"bind_interface,omitempty"`
	BindAddress   *string `json:"bind_address,omitempty"`
	Proxy         *string `json:"proxy,omitempty"`
	ProxyOnly     *bool   `json:"proxy_only,omitempty"`
	Encryption    *string `json:"encryption,omitempty"`
	Anonymous     *bool   `json:"anonymous,omitempty"`
}

// TaskPeersResult is the result of task.peers.
type TaskPeersResult struct {
	Peers []TaskPeer `json:"peers"`
}

// TaskPeer is one connected peer of a task.
type TaskPeer struct {
	// Address is ip:port.
	Address string `json:"address"`
	// Client is the peer's self-reported client name, "" if unknown.
	Client string `json:"client"`
	// Network is the transport: "tcp4", "tcp6", "udp4" (uTP), ...
	Network string `json:"network"`
	// Source is how the peer was found: tracker, incoming, dht, pex, lan,
	// holepunch, direct, unknown.
	Source string `json:"source"`
	// Downloaded and Uploaded are payload bytes from and to this peer.
	Downloaded int64 `json:"downloaded"`
	Uploaded   int64 `json:"uploaded"`
	// DownloadRate and UploadRate are bytes per second.
	DownloadRate int64 `json:"download_rate"`
	UploadRate   int64 `json:"upload_rate"`
	// Progress is the fraction of the torrent the peer has, 0 to 1.
	Progress float64 `json:"progress"`
	// Flags describe the connection: "utp" (else TCP), "incoming" (the
	// peer dialled us), "seed" (it has everything).
	Flags []string `json:"flags"`
	// Encryption is the connection's: "rc4" (an MSE/PE handshake, then
	// RC4 on the whole stream), "header" (an MSE/PE handshake, then
	// plaintext) or "plaintext" (no MSE/PE).
	Encryption string `json:"encryption"`
}

// TaskTrackersResult is the result of task.trackers.
type TaskTrackersResult struct {
	Trackers []TaskTracker `json:"trackers"`
}

// TaskTracker is one tracker of a task.
type TaskTracker struct {
	URL string `json:"url"`
	// Status is "not_contacted", "working" or "error".
	Status string `json:"status"`
	// LastError is the error of the last announce, "" after a success.
	LastError string `json:"last_error,omitempty"`
	// LastAnnounce and NextAnnounce are RFC 3339 times, "" when unknown.
	LastAnnounce string `json:"last_announce,omitempty"`
	NextAnnounce string `json:"next_announce,omitempty"`
	// Seeders and Leechers are as reported by the tracker; -1 when unknown.
	Seeders  int `json:"seeders"`
	Leechers int `json:"leechers"`
}

// TaskTrackersParams are the params of task.add_trackers and
// task.remove_trackers.
type TaskTrackersParams struct {
	TaskID string   `json:"task_id"`
	URLs   []string `json:"urls"`
}

// Category is a named destination for tasks, as in qBittorrent: the result
// of category.set and an element of category.list.
type Category struct {
	// Name is the category's name: 1 to 255 bytes of UTF-8 without
	// control characters, trimmed; "/" separates subcategories.
	Name string `json:"name"`
	// SavePath is where the data of a task added in the category goes:
	// absolute, or relative to the default download dir; inside a
	// download root. "" is the default download dir. The daemon answers
	// with it absolute.
	SavePath string `json:"save_path"`
	// CompletePath, when set, is where a task of the category moves its
	// data once it finishes; same rules as SavePath.
	CompletePath string `json:"complete_path,omitempty"`
}

// CategoryListResult is the result of category.list.
type CategoryListResult struct {
	// Categories are sorted by name.
	Categories []Category `json:"categories"`
}

// CategoryRemoveParams are the params of category.remove.
type CategoryRemoveParams struct {
	Name string `json:"name"`
}

// CategoryChangedData is the data of category.changed: the whole set of
// categories after a change.
type CategoryChangedData struct {
	Categories []Category `json:"categories"`
}

// TaskChangedData is the data of task.changed: a request changed some of
// a task's settings (its category; its download dir, when that moved its
// data). State changes have task.state instead, and progress
// task.progress.
type TaskChangedData struct {
	TaskID string `json:"task_id"`
	// Fields names the Task fields that changed, e.g. ["category",
	// "download_dir"].
	Fields []string `json:"fields"`
	// Task is the task after the change.
	Task Task `json:"task"`
}

// TaskSelect selects the tasks a bulk call (task.pause, task.resume,
// task.remove, task.recheck, task.set) acts on. The criteria set combine
// with AND; at least one must be set, so that acting on every task takes
// an explicit All.
type TaskSelect struct {
	// TaskIDs selects these tasks (in this order); an id of no task
	// gets its own result with CodeTaskNotFound.
	TaskIDs []string `json:"task_ids,omitempty"`
	// Label selects the tasks that have this label.
	Label string `json:"label,omitempty"`
	// Category selects the tasks in this category.
	Category string `json:"category,omitempty"`
	// State selects the tasks in this state.
	State TaskState `json:"state,omitempty"`
	// All selects every task.
	All bool `json:"all,omitempty"`
}

// TaskBulkResult is the result of a bulk call: one entry per task
// selected, oldest first (in TaskIDs' order when given).
type TaskBulkResult struct {
	Results []TaskBulkItem `json:"results"`
}

// TaskBulkItem is the outcome of a bulk call for one task: Error is 0 when
// it succeeded, else the code (and Message) the single-task call would
// have answered.
type TaskBulkItem struct {
	TaskID  string `json:"task_id"`
	Error   Code   `json:"error"`
	Message string `json:"message,omitempty"`
}
