package cli

import (
	"context"
	"encoding/json"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
)

const resumeUsage = `usage: lodestone resume [flags] <task-id>...
       lodestone resume [flags] --all | --label L | --state S | --category C

Resumes each paused task (and retries a task stopped by a storage error) and
prints "resumed <task_id> <name>". Resuming a running task is not an error.
Every id is resolved before any task is resumed. With --json, prints each
task.resume result ({}), one per line.
` + selectUsage

func runResume(ctx context.Context, e *env, args []string) error {
	return runTaskAction(ctx, e, args, taskAction{
		name: "resume", usage: resumeUsage, verb: "resume", done: "resumed",
		act: func(ctx context.Context, c *client.Client, id string, raw *json.RawMessage) error {
			return c.Call(ctx, api.MethodTaskResume, api.TaskIDParams{TaskID: id}, raw)
		},
		method: api.MethodTaskResume,
		params: func(sel *api.TaskSelect) any { return api.TaskIDParams{Select: sel} },
	})
}
