package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
)

const pauseUsage = `usage: lodestone pause [flags] <task-id>...

Pauses each task (stops its download and upload; kept across restarts) and
prints "paused <task_id> <name>". Pausing a paused task is not an error.
Every id is resolved before any task is paused. With --json, prints each
task.pause result ({}), one per line.
`

func runPause(ctx context.Context, e *env, args []string) error {
	return runTaskAction(ctx, e, args, "pause", pauseUsage, "paused", func(ctx context.Context, c *client.Client, id string, raw *json.RawMessage) error {
		return c.Call(ctx, api.MethodTaskPause, api.TaskIDParams{TaskID: id}, raw)
	})
}

// runTaskAction is the body of pause and resume: resolve every id, then
// call act on each task in order, stopping at the first failure.
func runTaskAction(ctx context.Context, e *env, args []string, name, usage, done string,
	act func(ctx context.Context, c *client.Client, id string, raw *json.RawMessage) error) error {
	fs := newFlagSet(name)
	var common commonFlags
	common.register(fs)
	pos, err := e.parse(fs, args, usage)
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
		if err := act(ctx, c, t.TaskID, &raw); err != nil {
			return fmt.Errorf("%s %s: %w", name, t.TaskID, err)
		}
		if common.json {
			if err := printJSON(e.stdout, raw); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(e.stdout, "%s %s %s\n", done, t.TaskID, sanitize(t.Name))
	}
	return nil
}
