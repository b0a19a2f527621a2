package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/lodestone-bt/lodestone/api"
)

const rmUsage = `usage: lodestone rm [flags] <task-id>...

Removes each task and prints "removed <task_id> <name>". The downloaded
files stay unless --delete-data is given; then the task's own files (and
the folders they leave empty) are deleted, nothing else. Every id is
resolved before any task is removed. With --json, prints each task.remove
result ({}), one per line.
`

func runRm(ctx context.Context, e *env, args []string) error {
	var deleteData bool
	fs := newFlagSet("rm")
	var common commonFlags
	common.register(fs)
	fs.BoolVar(&deleteData, "delete-data", false, "also delete the task's downloaded files")
	pos, err := e.parse(fs, args, rmUsage)
	if err != nil {
		return err
	}
	if err := needIDs(pos); err != nil {
		return err
	}
	c, err := common.dial(ctx, e)
	if err != nil {
		return err
	}
	defer c.Close()
	tasks, err := resolveTasks(ctx, c, pos)
	if err != nil {
		return err
	}
	for _, t := range tasks {
		var raw json.RawMessage
		p := api.TaskRemoveParams{TaskID: t.TaskID, DeleteData: deleteData}
		if err := c.Call(ctx, api.MethodTaskRemove, p, &raw); err != nil {
			return fmt.Errorf("remove %s: %w", t.TaskID, err)
		}
		if common.json {
			if err := printJSON(e.stdout, raw); err != nil {
				return err
			}
			continue
		}
		suffix := ""
		if deleteData {
			suffix = " (data deleted)"
		}
		fmt.Fprintf(e.stdout, "removed %s %s%s\n", t.TaskID, sanitize(t.Name), suffix)
	}
	return nil
}
