package cli

import (
	"context"
	"encoding/json"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
)

const reannounceUsage = `usage: lodestone reannounce [flags] <task-id>...

Makes each task announce to all its trackers now (task.reannounce), and
prints "reannounced <task_id> <name>". The announces run in the daemon's
background: "lodestone info" does not show them, the task.trackers method
does. A paused or finished task is refused. Every id is resolved before
any task is told. With --json, prints each task.reannounce result ({}),
one per line.
`

func runReannounce(ctx context.Context, e *env, args []string) error {
	return runTaskAction(ctx, e, args, taskAction{
		name: "reannounce", usage: reannounceUsage, verb: "reannounce", done: "reannounced",
		act: func(ctx context.Context, c *client.Client, id string, raw *json.RawMessage) error {
			return c.Call(ctx, api.MethodTaskReannounce, api.TaskIDParams{TaskID: id}, raw)
		},
	})
}
