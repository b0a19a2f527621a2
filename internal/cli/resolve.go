package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
)

// resolveTasks finds the task each argument names, by full id or unique
// prefix, before anything is acted on. It fails on the first argument that
// matches no task or several.
func resolveTasks(ctx context.Context, c *client.Client, args []string) ([]api.Task, error) {
	tasks, err := c.ListTasksWith(ctx, api.TaskListParams{
		// Besides task_id (always sent): enough to name the task in output.
		Fields: []string{"name", "state"},
	})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	out := make([]api.Task, 0, len(args))
	for _, a := range args {
		t, err := matchTask(tasks, a)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// matchTask returns the one task in tasks whose id starts with prefix
// (case-insensitive). No match is reported as task_not_found, like the
// daemon would; several matches list them.
func matchTask(tasks []api.Task, prefix string) (api.Task, error) {
	p := strings.ToLower(strings.TrimSpace(prefix))
	if p == "" {
		return api.Task{}, usagef("empty task id")
	}
	var found []api.Task
	for _, t := range tasks {
		if t.TaskID == p {
			return t, nil
		}
		if strings.HasPrefix(t.TaskID, p) {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return api.Task{}, &api.Error{Code: api.CodeTaskNotFound, Message: fmt.Sprintf("no task id starts with %q", prefix)}
	case 1:
		return found[0], nil
	}
	ids := make([]string, len(found))
	for i, t := range found {
		ids[i] = t.TaskID
	}
	return api.Task{}, fmt.Errorf("task id prefix %q is ambiguous: it matches %s; give more characters", prefix, strings.Join(ids, ", "))
}

// needIDs checks that at least one task id was given.
func needIDs(args []string) error {
	if len(args) == 0 {
		return usagef("no task id given")
	}
	return nil
}

// oneID checks that exactly one task id was given to cmd.
func oneID(cmd string, args []string) error {
	if err := needIDs(args); err != nil {
		return err
	}
	if len(args) > 1 {
		return usagef("%s takes one task id, got %d", cmd, len(args))
	}
	return nil
}

// callOnTask runs a command that takes its flags and one task id, and
// calls method on that task: it returns the raw result and the common
// flags (for --json). The error names the command's purpose, what.
func callOnTask(ctx context.Context, e *env, name, usage, method, what string, args []string) (json.RawMessage, commonFlags, error) {
	fs := newFlagSet(name)
	var common commonFlags
	common.register(fs)
	pos, err := e.parse(fs, args, usage)
	if err != nil {
		return nil, common, err
	}
	if err := oneID(name, pos); err != nil {
		return nil, common, err
	}
	c, err := common.dial(ctx, e)
	if err != nil {
		return nil, common, err
	}
	defer c.Close()
	tasks, err := resolveTasks(ctx, c, pos)
	if err != nil {
		return nil, common, err
	}
	id := tasks[0].TaskID
	var raw json.RawMessage
	if err := c.Call(ctx, method, api.TaskIDParams{TaskID: id}, &raw); err != nil {
		return nil, common, fmt.Errorf("%s %s: %w", what, id, err)
	}
	return raw, common, nil
}
