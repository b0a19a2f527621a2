package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/lodestone-bt/lodestone/api"
)

const lsUsage = `usage: lodestone ls [flags]

Lists tasks, oldest first, as a table: ID (the first 8 characters of the
task id), NAME, SIZE, DONE, STATE, DOWN and UP rates, PEERS, LABELS and
ALERT. SIZE is "?" while a magnet's metadata is unknown. ALERT is "-", or
the start of what needs a look: the task's error, "network down" (the
interface of serve --bind-interface is down), or "tracker: " and why its
trackers fail when none works; "lodestone info" shows it in full. In a
cluster (docs/CLUSTER.md), a NODE column after STATE names the node each
task runs on. With --json, prints the task.list result with every field of
every task.
`

// lsFields are the task fields the table needs (task_id is always sent).
func lsFields() []string {
	return []string{"name", "size", "completed", "state", "error", "network", "download_rate", "upload_rate", "peers", "labels", "node"}
}

func runLs(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("ls")
	var common commonFlags
	common.register(fs)
	state := fs.String("state", "", "only tasks in this `state`: "+stateList())
	label := fs.String("label", "", "only tasks with this `label`")
	pos, err := e.parse(fs, args, lsUsage)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	p := api.TaskListParams{State: api.TaskState(*state), Label: *label}
	if !common.json {
		p.Fields = lsFields()
	}

	c, err := common.dial(ctx, e)
	if err != nil {
		return err
	}
	defer c.Close()
	var raw json.RawMessage
	if err := c.Call(ctx, api.MethodTaskList, p, &raw); err != nil {
		return fmt.Errorf("list tasks: %w", err)
	}
	if common.json {
		return printJSON(e.stdout, raw)
	}
	var res api.TaskListResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("list tasks: decode result: %w", err)
	}
	return writeTable(e.stdout, res.Tasks, allTrackers(ctx, c, res.Tasks))
}

// writeTable writes tasks as ls's aligned table, header first; trackers
// are each task's, by id, for the ALERT column. The NODE column is there
// when a task has a node (cluster mode).
func writeTable(w io.Writer, tasks []api.Task, trackers map[string][]api.TaskTracker) error {
	nodes := slices.ContainsFunc(tasks, func(t api.Task) bool { return t.Node != "" })
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	if nodes {
		fmt.Fprintln(tw, "ID\tNAME\tSIZE\tDONE\tSTATE\tNODE\tDOWN\tUP\tPEERS\tLABELS\tALERT")
	} else {
		fmt.Fprintln(tw, "ID\tNAME\tSIZE\tDONE\tSTATE\tDOWN\tUP\tPEERS\tLABELS\tALERT")
	}
	for _, t := range tasks {
		size := formatBytes(t.Size)
		if t.Size == 0 && t.State == api.StateMetadata {
			size = "?"
		}
		labels := "-"
		if len(t.Labels) > 0 {
			labels = sanitize(strings.Join(t.Labels, ","))
		}
		state := string(t.State)
		if nodes {
			state += "\t" + orDash(t.Node)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n",
			shortID(t.TaskID), truncate(sanitize(t.Name), 48), size, formatPercent(t.Completed, t.Size),
			state, formatRate(t.DownloadRate), formatRate(t.UploadRate), t.Peers, labels, shortAlert(t, trackers[t.TaskID]))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}
