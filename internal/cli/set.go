package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/lodestone-bt/lodestone/api"
)

const setUsage = `usage: lodestone set [flags] <task-id> --label <label>...

Replaces the task's labels with the --label values, in the order given
(duplicates are dropped), and prints "set <task_id> labels: <labels>".
--label '' given alone clears the labels; an empty label together with
others is an error. With --json, prints the task.set result (the updated
task).
`

func runSet(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("set")
	var common commonFlags
	common.register(fs)
	var labels stringList
	fs.Var(&labels, "label", "the task's new `label` (repeatable; '' alone clears)")
	pos, err := e.parse(fs, args, setUsage)
	if err != nil {
		return err
	}
	if err := needIDs(pos); err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("set takes one task id, got %d", len(pos))
	}
	if !labels.set {
		return usagef("nothing to set: give --label (--label '' clears the labels)")
	}
	newLabels, err := parseSetLabels(labels.values)
	if err != nil {
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
	id := tasks[0].TaskID
	var raw json.RawMessage
	if err := c.Call(ctx, api.MethodTaskSet, api.TaskSetParams{TaskID: id, Labels: &newLabels}, &raw); err != nil {
		return fmt.Errorf("set %s: %w", id, err)
	}
	if common.json {
		return printJSON(e.stdout, raw)
	}
	var t api.Task
	if err := json.Unmarshal(raw, &t); err != nil {
		return fmt.Errorf("set %s: decode result: %w", id, err)
	}
	shown := "(none)"
	if len(t.Labels) > 0 {
		shown = sanitize(strings.Join(t.Labels, ","))
	}
	fmt.Fprintf(e.stdout, "set %s labels: %s\n", t.TaskID, shown)
	return nil
}

// parseSetLabels turns the --label values into the new label list: a
// single empty value means none.
func parseSetLabels(values []string) ([]string, error) {
	if len(values) == 1 && strings.TrimSpace(values[0]) == "" {
		return []string{}, nil
	}
	for _, v := range values {
		if strings.TrimSpace(v) == "" {
			return nil, usagef("--label '' clears the labels and cannot be combined with other labels")
		}
	}
	return values, nil
}
