package client

import (
	"context"

	"github.com/lodestone-bt/lodestone/api"
)

// AddWatch watches a folder (watch.add), or changes a watched folder's
// category, and returns it.
func (c *Client) AddWatch(ctx context.Context, p api.WatchAddParams) (api.Watch, error) {
	var r api.Watch
	err := c.Call(ctx, api.MethodWatchAdd, p, &r)
	return r, err
}

// Watches returns the watched folders (watch.list), sorted by path.
func (c *Client) Watches(ctx context.Context) ([]api.Watch, error) {
	var r api.WatchListResult
	err := c.Call(ctx, api.MethodWatchList, struct{}{}, &r)
	return r.Watches, err
}

// RemoveWatch stops watching a folder (watch.remove).
func (c *Client) RemoveWatch(ctx context.Context, path string) error {
	return c.Call(ctx, api.MethodWatchRemove, api.WatchRemoveParams{Path: path}, nil)
}
