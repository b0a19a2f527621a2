package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/lodestone-bt/lodestone/api"
)

const moveUsage = `usage: lodestone move [flags] <task-id> <dir>

Moves the task's data into dir (task.move) and goes on from there, keeping
its verified pieces; prints "moved <task_id> <name> to <download_dir>".
dir is absolute, or relative to the daemon's download dir (so "." is that
dir), and must lie inside one of the daemon's download roots; it is
created if needed. The move fails, leaving the data where it was, if a
file of the task exists already in dir. With --json, prints the task.move
result (the moved task).
`

func runMove(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("move")
	var common commonFlags
	common.register(fs)
	pos, err := e.parse(fs, args, moveUsage)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return usagef("no task id given")
	case len(pos) == 1:
		return usagef("no directory given: move takes a task id and a directory")
	case len(pos) > 2:
		return usagef("move takes a task id and a directory, got %d arguments", len(pos))
	}
	dir := pos[1]
	if strings.TrimSpace(dir) == "" {
		return usagef("empty directory (\".\" is the daemon's download dir)")
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
	if err := c.Call(ctx, api.MethodTaskMove, api.TaskMoveParams{TaskID: id, DownloadDir: dir}, &raw); err != nil {
		return fmt.Errorf("move %s: %w", id, err)
	}
	if common.json {
		return printJSON(e.stdout, raw)
	}
	var t api.Task
	if err := json.Unmarshal(raw, &t); err != nil {
		return fmt.Errorf("move %s: decode result: %w", id, err)
	}
	fmt.Fprintf(e.stdout, "moved %s %s to %s\n", t.TaskID, sanitize(t.Name), sanitize(t.DownloadDir))
	return nil
}
