package client

import (
	"context"

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
