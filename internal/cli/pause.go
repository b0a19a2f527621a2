package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
)

const pauseUsage = `usage: lodestone pause [flags] <task-id>...
       lodestone pause [flags] --all | --label L | --state S | --category C

Pauses each task (stops its download and upload; kept across restarts) and
prints "paused <task_id> <name>". Pausing a paused task is not an error.
Every id is resolved before any task is paused. With --json, prints each
task.pause result ({}), one per line.
` + selectUsage

// selectUsage ends the usage of the subcommands that take a select.
const selectUsage = `
Instead of ids, --all, --label, --state and --category select the tasks
(given together, a task must match all of them) in one bulk call; it
prints one line per task, "<verb> <task_id>: <error>" for one it failed
on, and fails if any did. With --json, prints the bulk result.
`

func runPause(ctx context.Context, e *env, args []string) error {
	return runTaskAction(ctx, e, args, taskAction{
		name: "pause", usage: pauseUsage, verb: "pause", done: "paused",
		act: func(ctx context.Context, c *client.Client, id string, raw *json.RawMessage) error {
			return c.Call(ctx, api.MethodTaskPause, api.TaskIDParams{TaskID: id}, raw)
		},
		method: api.MethodTaskPause,
		params: func(sel *api.TaskSelect) any { return api.TaskIDParams{Select: sel} },
	})
}

// taskAction describes a subcommand that acts on each of the tasks named.
type taskAction struct {
	name, usage string // the subcommand and its usage text
	verb        string // in errors: "<verb> <task_id>: …"
	done        string // printed: "<done> <task_id> <name><suffix()>"
	// flags registers the subcommand's own flags (nil: none); suffix is
	// read after parsing (nil: none).
	flags  func(fs *flag.FlagSet)
	suffix func() string
	act    func(ctx context.Context, c *client.Client, id string, raw *json.RawMessage) error
	// method and params make the bulk call for a select (--all, --label,
	// --state, --category).
	method string
	params func(sel *api.TaskSelect) any
}

// runTaskAction is the body of pause, resume and rm: resolve every id,
// then call act on each task in order, stopping at the first failure.
func runTaskAction(ctx context.Context, e *env, args []string, a taskAction) error {
	fs := newFlagSet(a.name)
	var common commonFlags
	common.register(fs)
	var sf selectFlags
	sf.register(fs, "label", "category")
	if a.flags != nil {
		a.flags(fs)
	}
	pos, err := e.parse(fs, args, a.usage)
	if err != nil {
		return err
	}
	sel, err := sf.selection(pos)
	if err != nil {
		return err
	}
	if sel == nil {
		if err := needIDs(pos); err != nil {
			return err
		}
	}
	c, err := common.dial(ctx, e)
	if err != nil {
		return err
	}
	defer c.Close()
	if sel != nil {
		suffix := ""
		if a.suffix != nil {
			suffix = a.suffix()
		}
		return runBulk(ctx, e, c, common.json, a.method, a.params(sel), a.verb, a.done, suffix)
	}
	tasks, err := resolveTasks(ctx, c, pos)
	if err != nil {
		return err
	}
	suffix := ""
	if a.suffix != nil {
		suffix = a.suffix()
	}
	for _, t := range tasks {
		var raw json.RawMessage
		if err := a.act(ctx, c, t.TaskID, &raw); err != nil {
			return fmt.Errorf("%s %s: %w", a.verb, t.TaskID, err)
		}
		if common.json {
			if err := printJSON(e.stdout, raw); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(e.stdout, "%s %s %s%s\n", a.done, t.TaskID, sanitize(t.Name), suffix)
	}
	return nil
}
