package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
)

// selectFlags are the flags that choose tasks by what they are rather than
// by id: the select of a bulk call. Set names them, since its own --label
// and --category are the values it sets.
type selectFlags struct {
	all                     bool
	label, state, category  string
	labelName, categoryName string // the flags' names, for messages
}

// register adds --all, --state and the label and category flags under
// the names given.
func (s *selectFlags) register(fs *flag.FlagSet, labelName, categoryName string) {
	s.labelName, s.categoryName = labelName, categoryName
	fs.BoolVar(&s.all, "all", false, "act on every task (instead of ids)")
	fs.StringVar(&s.label, labelName, "", "act on the tasks with this `label` (instead of ids)")
	fs.StringVar(&s.state, "state", "", "act on the tasks in this `state` (instead of ids)")
	fs.StringVar(&s.category, categoryName, "", "act on the tasks in this `category` (instead of ids)")
}

// selection returns the select the flags make, nil when none is set;
// criteria given together must all hold. It refuses ids beside them.
func (s *selectFlags) selection(ids []string) (*api.TaskSelect, error) {
	if !s.all && s.label == "" && s.state == "" && s.category == "" {
		return nil, nil
	}
	if len(ids) > 0 {
		return nil, usagef("give task ids or --all, --%s, --state, --%s, not both", s.labelName, s.categoryName)
	}
	return &api.TaskSelect{All: s.all, Label: s.label, State: api.TaskState(s.state), Category: s.category}, nil
}

// runBulk calls method with params (which carry a select) and prints one
// line per task: "<done> <task_id> <name><suffix>", or "<verb> <task_id>: <error>"
// for a task it failed on; with asJSON the result as it came. It fails
// when the call did, or for any task.
func runBulk(ctx context.Context, e *env, c *client.Client, asJSON bool, method string, params any, verb, done, suffix string) error {
	// The names are read first: a removed task has none afterwards.
	tasks, err := c.ListTasksWith(ctx, api.TaskListParams{Fields: []string{"name"}})
	if err != nil {
		return err
	}
	names := make(map[string]string, len(tasks))
	for _, t := range tasks {
		names[t.TaskID] = t.Name
	}
	var raw json.RawMessage
	if err := c.Call(ctx, method, params, &raw); err != nil {
		return fmt.Errorf("%s: %w", verb, err)
	}
	if asJSON {
		if err := printJSON(e.stdout, raw); err != nil {
			return err
		}
	}
	var res api.TaskBulkResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("%s: decode result: %w", verb, err)
	}
	failed := 0
	for _, r := range res.Results {
		if r.Error != 0 {
			failed++
			if !asJSON {
				fmt.Fprintf(e.stdout, "%s %s: %s\n", verb, r.TaskID, sanitize((&api.Error{Code: r.Error, Message: r.Message}).Error()))
			}
			continue
		}
		if !asJSON {
			fmt.Fprintf(e.stdout, "%s %s %s%s\n", done, r.TaskID, sanitize(names[r.TaskID]), suffix)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%s: failed for %d of %d tasks", verb, failed, len(res.Results))
	}
	return nil
}
