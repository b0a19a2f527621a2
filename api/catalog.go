package api

// This file is the catalogue the machine-readable schema
// (docs/asyncapi.json, served at GET /api/schema) is generated from: every
// method with the Go types of its params and result, every event with the
// type of its data, and every error code. A test fails when a Method* or
// Event* constant of this package has no row, naming it; adding a method is
// one line here and `go generate ./api`.

//go:generate go run ../internal/schema/cmd/genschema

// MethodSpec describes one method for the schema.
type MethodSpec struct {
	// Name is the method's wire name, one of the Method* constants.
	Name string
	// Params is a zero value of the params type; nil for a method that
	// takes none (its params are {} or absent).
	Params any
	// Result is a zero value of the result type.
	Result any
	// Bulk: the params take select (a TaskSelect) in place of task_id,
	// and the result is then a TaskBulkResult.
	Bulk bool
}

// EventSpec describes one event for the schema.
type EventSpec struct {
	// Name is the event's wire name, one of the Event* constants.
	Name string
	// Data is a zero value of the event's data type.
	Data any
}

// Methods lists every method, in the order docs/API.md presents them.
var Methods = []MethodSpec{
	{Name: MethodTaskAdd, Params: TaskAddParams{}, Result: TaskAddResult{}},
	{Name: MethodTaskList, Params: TaskListParams{}, Result: TaskListResult{}},
	{Name: MethodTaskGet, Params: TaskGetParams{}, Result: Task{}},
	{Name: MethodTaskPause, Params: TaskIDParams{}, Result: Empty{}, Bulk: true},
	{Name: MethodTaskResume, Params: TaskIDParams{}, Result: Empty{}, Bulk: true},
	{Name: MethodTaskRemove, Params: TaskRemoveParams{}, Result: Empty{}, Bulk: true},
	{Name: MethodTaskRecheck, Params: TaskIDParams{}, Result: Empty{}, Bulk: true},
	{Name: MethodTaskSet, Params: TaskSetParams{}, Result: Task{}, Bulk: true},
	{Name: MethodTaskFiles, Params: TaskIDParams{}, Result: TaskFilesResult{}},
	{Name: MethodTaskPeers, Params: TaskIDParams{}, Result: TaskPeersResult{}},
	{Name: MethodTaskMove, Params: TaskMoveParams{}, Result: Task{}},
	{Name: MethodTaskPieces, Params: TaskIDParams{}, Result: TaskPiecesResult{}},
	{Name: MethodTaskQueueMove, Params: TaskQueueMoveParams{}, Result: Task{}},
	{Name: MethodTaskReannounce, Params: TaskIDParams{}, Result: Empty{}},
	{Name: MethodTaskTrackers, Params: TaskIDParams{}, Result: TaskTrackersResult{}},
	{Name: MethodTaskAddTrackers, Params: TaskTrackersParams{}, Result: TaskTrackersResult{}},
	{Name: MethodTaskRemoveTrackers, Params: TaskTrackersParams{}, Result: TaskTrackersResult{}},
	{Name: MethodTaskExport, Params: TaskIDParams{}, Result: TaskExportResult{}},
	{Name: MethodSessionStats, Result: SessionStats{}},
	{Name: MethodSessionGet, Result: Settings{}},
	{Name: MethodSessionSet, Params: SessionSetParams{}, Result: Settings{}},
	{Name: MethodEventsSubscribe, Params: EventsSubscribeParams{}, Result: EventsSubscribeResult{}},
	{Name: MethodEventsReplay, Params: EventsReplayParams{}, Result: EventsReplayResult{}},
	{Name: MethodServerInfo, Result: ServerInfo{}},
	{Name: MethodServerDoctor, Result: DoctorResult{}},
	{Name: MethodCategoryList, Result: CategoryListResult{}},
	{Name: MethodCategorySet, Params: Category{}, Result: Category{}},
	{Name: MethodCategoryRemove, Params: CategoryRemoveParams{}, Result: Empty{}},

	{Name: MethodWatchAdd, Params: WatchAddParams{}, Result: Watch{}},
	{Name: MethodWatchList, Result: WatchListResult{}},
	{Name: MethodWatchRemove, Params: WatchRemoveParams{}, Result: Empty{}},

	{Name: MethodRSSAdd, Params: RSSAddParams{}, Result: RSSFeed{}},
	{Name: MethodRSSList, Result: RSSListResult{}},
	{Name: MethodRSSRemove, Params: RSSFeedIDParams{}, Result: Empty{}},
	{Name: MethodRSSRefresh, Params: RSSFeedIDParams{}, Result: RSSFeed{}},
	{Name: MethodRSSItems, Params: RSSFeedIDParams{}, Result: RSSItemsResult{}},
	{Name: MethodRSSRuleSet, Params: RSSRuleSetParams{}, Result: RSSRule{}},
	{Name: MethodRSSRuleList, Result: RSSRuleListResult{}},
	{Name: MethodRSSRuleRemove, Params: RSSRuleNameParams{}, Result: Empty{}},
	{Name: MethodRSSPreview, Params: RSSPreviewParams{}, Result: RSSPreviewResult{}},

	{Name: MethodWebhookAdd, Params: WebhookAddParams{}, Result: WebhookAddResult{}},
	{Name: MethodWebhookList, Result: WebhookListResult{}},
	{Name: MethodWebhookRemove, Params: WebhookIDParams{}, Result: Empty{}},
	{Name: MethodWebhookDeliveries, Params: WebhookIDParams{}, Result: WebhookDeliveriesResult{}},

	{Name: MethodKeyCreate, Params: KeyCreateParams{}, Result: KeyCreateResult{}},
	{Name: MethodKeyList, Result: KeyListResult{}},
	{Name: MethodKeyRevoke, Params: KeyRevokeParams{}, Result: Empty{}},

	{Name: MethodClusterStatus, Result: ClusterStatusResult{}},
	{Name: MethodClusterDrain, Params: ClusterDrainParams{}, Result: ClusterDrainResult{}},
}

// Events lists every event.
var Events = []EventSpec{
	{Name: EventTaskAdded, Data: TaskAddedData{}},
	{Name: EventTaskMetadata, Data: TaskMetadataData{}},
	{Name: EventTaskState, Data: TaskStateData{}},
	{Name: EventTaskProgress, Data: TaskProgressData{}},
	{Name: EventTaskFinished, Data: TaskFinishedData{}},
	{Name: EventTaskError, Data: TaskErrorData{}},
	{Name: EventTaskRemoved, Data: TaskRemovedData{}},
	{Name: EventTaskChanged, Data: TaskChangedData{}},
	{Name: EventTaskQueue, Data: TaskQueueData{}},
	{Name: EventCategoryChanged, Data: CategoryChangedData{}},
	{Name: EventEngineAlert, Data: EngineAlertData{}},
	{Name: EventSessionStats, Data: SessionStats{}},
	{Name: EventWatchChanged, Data: WatchChangedData{}},
	{Name: EventRSSItemAdded, Data: RSSItemAddedData{}},
	{Name: EventTaskMoved, Data: TaskMovedData{}},
	{Name: EventClusterNode, Data: ClusterNodeData{}},
}

// Codes lists every error code, CodeOK first.
var Codes = []Code{
	CodeOK, CodeParseError, CodeInvalidRequest, CodeUnknownMethod, CodeInvalidParams,
	CodeBadTorrent, CodeBadMagnet, CodeTaskNotFound, CodeTaskState, CodeFetchFailed,
	CodeNoSpace, CodeUnsupported, CodePathConflict, CodeNoSuchCategory, CodeNoSuchWatch,
	CodeNoSuchFeed, CodeNoSuchRule, CodeNoSuchWebhook, CodeNoSuchKey,
	CodeNoNode, CodeNodeUnavailable, CodeClusterUnavailable, CodeNotClustered,
	CodeUnauthorized, CodeForbidden, CodeRateLimited, CodeInternal, CodeUnavailable,
}
