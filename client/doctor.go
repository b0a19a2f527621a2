package client

import (
	"context"

	"github.com/lodestone-bt/lodestone/api"
)

// Doctor calls server.doctor: the daemon's checks of its own setup, each
// with how to fix what is wrong.
func (c *Client) Doctor(ctx context.Context) (api.DoctorResult, error) {
	var r api.DoctorResult
	err := c.Call(ctx, api.MethodServerDoctor, struct{}{}, &r)
	return r, err
}
