package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/lodestone-bt/lodestone/api"
)

const queueUsage = `usage: lodestone queue [flags] <task-id> top|up|down|bottom

Moves the task in the queue order (task.queue_move): to the top, up one
place, down one place, or to the bottom. Downloads get their slots
(max_active_downloads) in this order. Prints "queued <task_id> <name> at
<position>" (0 is the top). With --json, prints the task.queue_move result
(the task).
`

func runQueue(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("queue")
	var common commonFlags
	common.register(fs)
	pos, err := e.parse(fs, args, queueUsage)
	if err != nil {
		return err
	}
	moves := []string{api.QueueTop, api.QueueUp, api.QueueDown, api.QueueBottom}
	switch {
	case len(pos) == 0:
		return usagef("no task id given")
	case len(pos) == 1:
		return usagef("no move given: queue takes a task id and top, up, down or bottom")
	case len(pos) > 2:
		return usagef("queue takes a task id and a move, got %d arguments", len(pos))
	case !slices.Contains(moves, pos[1]):
		return usagef("move %q: want top, up, down or bottom", pos[1])
	}

	c, err := common.dial(ctx, e)
	if err != nil {
		return err
	}
	defer c.Close()
	tasks, err := resolveTasks(ctx, c, pos[:1])
	if err != nil {
		return err
	}
	id := tasks[0].TaskID
	var raw json.RawMessage
	if err := c.Call(ctx, api.MethodTaskQueueMove, api.TaskQueueMoveParams{TaskID: id, To: pos[1]}, &raw); err != nil {
		return fmt.Errorf("queue %s: %w", id, err)
	}
	if common.json {
		return printJSON(e.stdout, raw)
	}
	var t api.Task
	if err := json.Unmarshal(raw, &t); err != nil {
		return fmt.Errorf("queue %s: decode result: %w", id, err)
	}
	fmt.Fprintf(e.stdout, "queued %s %s at %d\n", t.TaskID, sanitize(t.Name), t.QueuePosition)
	return nil
}
