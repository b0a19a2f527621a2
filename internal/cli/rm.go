package cli

import (
	"context"
	"encoding/json"
	"flag"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
)

const rmUsage = `usage: lodestone rm [flags] <task-id>...
       lodestone rm [flags] --all | --label L | --state S | --category C

Removes each task and prints "removed <task_id> <name>". The downloaded
files stay unless --delete-data is given; then the task's own files (and
the folders they leave empty) are deleted, nothing else. Every id is
resolved before any task is removed. With --json, prints each task.remove
result ({}), one per line.
` + selectUsage

func runRm(ctx context.Context, e *env, args []string) error {
	var deleteData bool
	return runTaskAction(ctx, e, args, taskAction{
		name: "rm", usage: rmUsage, verb: "remove", done: "removed",
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&deleteData, "delete-data", false, "also delete the task's downloaded files")
		},
		suffix: func() string {
			if deleteData {
				return " (data deleted)"
			}
			return ""
		},
		act: func(ctx context.Context, c *client.Client, id string, raw *json.RawMessage) error {
			return c.Call(ctx, api.MethodTaskRemove, api.TaskRemoveParams{TaskID: id, DeleteData: deleteData}, raw)
		},
		method: api.MethodTaskRemove,
		params: func(sel *api.TaskSelect) any { return api.TaskRemoveParams{Select: sel, DeleteData: deleteData} },
	})
}
