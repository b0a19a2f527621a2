package cli

import (
	"context"
	"encoding/json"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
)

const recheckUsage = `usage: lodestone recheck [flags] <task-id>...
       lodestone recheck [flags] --all | --label L | --state S | --category C

Makes each task verify the data it has on disk against its piece hashes
(task.recheck) and prints "rechecking <task_id> <name>". The check runs in
the daemon's background: the task is in state "checking" until it is done,
then downloads again whatever failed; it also clears a storage error. A
magnet without its metadata yet has nothing to check. Every id is resolved
before any task is told. With --json, prints each task.recheck result
({}), one per line.
` + selectUsage

func runRecheck(ctx context.Context, e *env, args []string) error {
	return runTaskAction(ctx, e, args, taskAction{
		name: "recheck", usage: recheckUsage, verb: "recheck", done: "rechecking",
		act: func(ctx context.Context, c *client.Client, id string, raw *json.RawMessage) error {
			return c.Call(ctx, api.MethodTaskRecheck, api.TaskIDParams{TaskID: id}, raw)
		},
		method: api.MethodTaskRecheck,
		params: func(sel *api.TaskSelect) any { return api.TaskIDParams{Select: sel} },
	})
}
