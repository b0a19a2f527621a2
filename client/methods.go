package client

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/lodestone-bt/lodestone/api"
)

// AddTask calls task.add.
func (c *Client) AddTask(ctx context.Context, p api.TaskAddParams) (api.TaskAddResult, error) {
	var r api.TaskAddResult
	err := c.Call(ctx, api.MethodTaskAdd, p, &r)
	return r, err
}

// GetTask calls task.get.
func (c *Client) GetTask(ctx context.Context, taskID string) (api.Task, error) {
	var r api.Task
	err := c.Call(ctx, api.MethodTaskGet, api.TaskGetParams{TaskID: taskID}, &r)
	return r, err
}

// ListTasks calls task.list.
func (c *Client) ListTasks(ctx context.Context) ([]api.Task, error) {
	var r api.TaskListResult
	err := c.Call(ctx, api.MethodTaskList, api.TaskListParams{}, &r)
	return r.Tasks, err
}

// PauseTask calls task.pause.
func (c *Client) PauseTask(ctx context.Context, taskID string) error {
	return c.Call(ctx, api.MethodTaskPause, api.TaskIDParams{TaskID: taskID}, nil)
}

// ResumeTask calls task.resume.
func (c *Client) ResumeTask(ctx context.Context, taskID string) error {
	return c.Call(ctx, api.MethodTaskResume, api.TaskIDParams{TaskID: taskID}, nil)
}

// RecheckTask calls task.recheck.
func (c *Client) RecheckTask(ctx context.Context, taskID string) error {
	return c.Call(ctx, api.MethodTaskRecheck, api.TaskIDParams{TaskID: taskID}, nil)
}

// RemoveTask calls task.remove.
func (c *Client) RemoveTask(ctx context.Context, taskID string, deleteData bool) error {
	return c.Call(ctx, api.MethodTaskRemove, api.TaskRemoveParams{TaskID: taskID, DeleteData: deleteData}, nil)
}

// Subscribe calls events.subscribe: from now on only the named events are
// delivered.
func (c *Client) Subscribe(ctx context.Context, names ...string) error {
	return c.Call(ctx, api.MethodEventsSubscribe, api.EventsSubscribeParams{Names: names}, nil)
}

// Replay calls events.replay: the logged events after the event id after
// are delivered on Events, in order, before any live event.
func (c *Client) Replay(ctx context.Context, after string) (api.EventsReplayResult, error) {
	var r api.EventsReplayResult
	err := c.Call(ctx, api.MethodEventsReplay, api.EventsReplayParams{After: after}, &r)
	return r, err
}

// ServerInfo calls server.info.
func (c *Client) ServerInfo(ctx context.Context) (api.ServerInfo, error) {
	var r api.ServerInfo
	err := c.Call(ctx, api.MethodServerInfo, struct{}{}, &r)
	return r, err
}

// ListTasksWith calls task.list with filters and a field selection (fields
// not selected are left zero).
func (c *Client) ListTasksWith(ctx context.Context, p api.TaskListParams) ([]api.Task, error) {
	var r api.TaskListResult
	err := c.Call(ctx, api.MethodTaskList, p, &r)
	return r.Tasks, err
}

// SetTask calls task.set and returns the updated task.
func (c *Client) SetTask(ctx context.Context, p api.TaskSetParams) (api.Task, error) {
	var r api.Task
	err := c.Call(ctx, api.MethodTaskSet, p, &r)
	return r, err
}

// SessionStats calls session.stats.
func (c *Client) SessionStats(ctx context.Context) (api.SessionStats, error) {
	var r api.SessionStats
	err := c.Call(ctx, api.MethodSessionStats, struct{}{}, &r)
	return r, err
}

// TaskFiles calls task.files.
func (c *Client) TaskFiles(ctx context.Context, taskID string) ([]api.TaskFile, error) {
	var r api.TaskFilesResult
	err := c.Call(ctx, api.MethodTaskFiles, api.TaskIDParams{TaskID: taskID}, &r)
	return r.Files, err
}

// Settings calls session.get.
func (c *Client) Settings(ctx context.Context) (api.Settings, error) {
	var r api.Settings
	err := c.Call(ctx, api.MethodSessionGet, struct{}{}, &r)
	return r, err
}

// SetSettings calls session.set and returns the new settings.
func (c *Client) SetSettings(ctx context.Context, p api.SessionSetParams) (api.Settings, error) {
	var r api.Settings
	err := c.Call(ctx, api.MethodSessionSet, p, &r)
	return r, err
}

// TaskPeers calls task.peers.
func (c *Client) TaskPeers(ctx context.Context, taskID string) ([]api.TaskPeer, error) {
	var r api.TaskPeersResult
	err := c.Call(ctx, api.MethodTaskPeers, api.TaskIDParams{TaskID: taskID}, &r)
	return r.Peers, err
}

// TaskTrackers calls task.trackers.
func (c *Client) TaskTrackers(ctx context.Context, taskID string) ([]api.TaskTracker, error) {
	var r api.TaskTrackersResult
	err := c.Call(ctx, api.MethodTaskTrackers, api.TaskIDParams{TaskID: taskID}, &r)
	return r.Trackers, err
}

// AddTrackers calls task.add_trackers and returns the task's trackers.
func (c *Client) AddTrackers(ctx context.Context, taskID string, urls ...string) ([]api.TaskTracker, error) {
	var r api.TaskTrackersResult
	err := c.Call(ctx, api.MethodTaskAddTrackers, api.TaskTrackersParams{TaskID: taskID, URLs: urls}, &r)
	return r.Trackers, err
}

// RemoveTrackers calls task.remove_trackers and returns the task's
// trackers.
func (c *Client) RemoveTrackers(ctx context.Context, taskID string, urls ...string) ([]api.TaskTracker, error) {
	var r api.TaskTrackersResult
	err := c.Call(ctx, api.MethodTaskRemoveTrackers, api.TaskTrackersParams{TaskID: taskID, URLs: urls}, &r)
	return r.Trackers, err
}

// Export calls task.export and returns the task's .torrent file, decoded.
func (c *Client) Export(ctx context.Context, taskID string) ([]byte, error) {
	var r api.TaskExportResult
	if err := c.Call(ctx, api.MethodTaskExport, api.TaskIDParams{TaskID: taskID}, &r); err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(r.Torrent)
	if err != nil {
		return nil, fmt.Errorf("task.export: torrent is not base64: %w", err)
	}
	return b, nil
}

// MoveTask calls task.move and returns the moved task.
func (c *Client) MoveTask(ctx context.Context, taskID, downloadDir string) (api.Task, error) {
	var r api.Task
	err := c.Call(ctx, api.MethodTaskMove, api.TaskMoveParams{TaskID: taskID, DownloadDir: downloadDir}, &r)
	return r, err
}

// TaskPieces calls task.pieces: the task's number of pieces and its
// bitfield of verified ones (decoded from base64).
func (c *Client) TaskPieces(ctx context.Context, taskID string) (int, []byte, error) {
	var r api.TaskPiecesResult
	if err := c.Call(ctx, api.MethodTaskPieces, api.TaskIDParams{TaskID: taskID}, &r); err != nil {
		return 0, nil, err
	}
	have, err := base64.StdEncoding.DecodeString(r.Have)
	if err != nil {
		return 0, nil, fmt.Errorf("task.pieces: have is not base64: %w", err)
	}
	return r.Pieces, have, nil
}

// QueueMoveTask calls task.queue_move: to is api.QueueTop, QueueUp,
// QueueDown or QueueBottom. It returns the task.
func (c *Client) QueueMoveTask(ctx context.Context, taskID, to string) (api.Task, error) {
	var r api.Task
	err := c.Call(ctx, api.MethodTaskQueueMove, api.TaskQueueMoveParams{TaskID: taskID, To: to}, &r)
	return r, err
}

// ReannounceTask calls task.reannounce.
func (c *Client) ReannounceTask(ctx context.Context, taskID string) error {
	return c.Call(ctx, api.MethodTaskReannounce, api.TaskIDParams{TaskID: taskID}, nil)
}

// Categories calls category.list: every category, sorted by name.
func (c *Client) Categories(ctx context.Context) ([]api.Category, error) {
	var r api.CategoryListResult
	err := c.Call(ctx, api.MethodCategoryList, struct{}{}, &r)
	return r.Categories, err
}

// SetCategory calls category.set: it creates or replaces the category
// and returns it with its paths absolute.
func (c *Client) SetCategory(ctx context.Context, cat api.Category) (api.Category, error) {
	var r api.Category
	err := c.Call(ctx, api.MethodCategorySet, cat, &r)
	return r, err
}

// RemoveCategory calls category.remove.
func (c *Client) RemoveCategory(ctx context.Context, name string) error {
	return c.Call(ctx, api.MethodCategoryRemove, api.CategoryRemoveParams{Name: name}, nil)
}
